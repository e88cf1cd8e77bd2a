// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.26;

/// Cross-border payments between banks of the consortium (跨境汇款).
/// A public payment carries its terms as arguments (reference, payee,
/// amount in minor units, currency) and the full record in `record`. A
/// private one carries only an opaque reference and a supervised envelope,
/// opened by the parties and the regulator; the chain keeps its digest.
contract CrossBorderPayment {
    event PaymentSent(
        bytes32 indexed ref,
        address indexed payer,
        address indexed payee,
        uint256 amount,
        string currency
    );
    event PaymentSettled(bytes32 indexed ref, address indexed settledBy);
    event PrivateRecord(bytes32 indexed ref, address indexed sender, bytes32 digest);

    function pay(
        bytes32 ref,
        address payee,
        uint256 amount,
        string calldata currency,
        bytes calldata record
    ) external {
        require(amount > 0, "amount is zero");
        require(record.length > 0, "no record");
        emit PaymentSent(ref, msg.sender, payee, amount, currency);
    }

    function settle(bytes32 ref) external {
        emit PaymentSettled(ref, msg.sender);
    }

    function submitPrivate(bytes32 ref, bytes calldata envelope) external {
        require(envelope.length > 0, "no envelope");
        emit PrivateRecord(ref, msg.sender, keccak256(envelope));
    }
}
