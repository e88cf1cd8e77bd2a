// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.26;

/// The consortium's settlement token for trade (贸易结算): members pay each
/// other in it and settle net positions off chain, so a position may go
/// negative down to the credit line every member has. Transfers are
/// ERC-20's; a transfer may carry the invoice's record, and private
/// business is a supervised envelope.
contract Token {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event PrivateRecord(bytes32 indexed ref, address indexed sender, bytes32 digest);

    int256 private constant CREDIT_LINE = 1e30;
    mapping(address => int256) public positionOf;

    function transfer(address to, uint256 value) public returns (bool) {
        require(value <= uint256(CREDIT_LINE), "above the credit line");
        int256 v = int256(value);
        require(positionOf[msg.sender] - v >= -CREDIT_LINE, "credit line exceeded");
        positionOf[msg.sender] -= v;
        positionOf[to] += v;
        emit Transfer(msg.sender, to, value);
        return true;
    }

    function transferWithRecord(address to, uint256 value, bytes calldata record) external returns (bool) {
        require(record.length > 0, "no record");
        return transfer(to, value);
    }

    function submitPrivate(bytes32 ref, bytes calldata envelope) external {
        require(envelope.length > 0, "no envelope");
        emit PrivateRecord(ref, msg.sender, keccak256(envelope));
    }
}
