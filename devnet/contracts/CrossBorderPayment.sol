// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.26;

/// Cross-border payments between banks of the consortium. The business
/// terms travel in the clear (ref, parties, amount, currency); what
/// the parties keep private (invoice, purpose, beneficiary details) is a
/// supervised envelope in `envelope`, opened only by the parties and the
/// regulator.
contract CrossBorderPayment {
    event PaymentSent(
        bytes32 indexed ref,
        address indexed payer,
        address indexed payee,
        uint256 amount,
        string currency
    );
    event PaymentSettled(bytes32 indexed ref, address indexed settledBy);

    mapping(bytes32 => address) public payerOf;

    function pay(
        bytes32 ref,
        address payee,
        uint256 amount,
        string calldata currency,
        bytes calldata envelope
    ) external {
        require(payerOf[ref] == address(0), "ref already used");
        require(amount > 0, "amount is zero");
        require(envelope.length > 0, "no envelope");
        payerOf[ref] = msg.sender;
        emit PaymentSent(ref, msg.sender, payee, amount, currency);
    }

    function settle(bytes32 ref) external {
        require(payerOf[ref] != address(0), "unknown ref");
        emit PaymentSettled(ref, msg.sender);
    }
}
