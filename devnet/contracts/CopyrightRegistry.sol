// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.26;

/// Digital copyright registration (数字版权登记): a registrant pays the
/// registration fee to the registry's operator; the work's record travels
/// in `record`, or privately as a supervised envelope.
contract CopyrightRegistry {
    event WorkRegistered(
        bytes32 indexed workId,
        address indexed registrant,
        address indexed operator,
        uint256 fee,
        string currency
    );
    event PrivateRecord(bytes32 indexed ref, address indexed sender, bytes32 digest);

    function register(
        bytes32 workId,
        address operator,
        uint256 fee,
        string calldata currency,
        bytes calldata record
    ) external {
        require(record.length > 0, "no record");
        emit WorkRegistered(workId, msg.sender, operator, fee, currency);
    }

    function submitPrivate(bytes32 ref, bytes calldata envelope) external {
        require(envelope.length > 0, "no envelope");
        emit PrivateRecord(ref, msg.sender, keccak256(envelope));
    }
}
