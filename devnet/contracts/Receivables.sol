// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.26;

/// Supply-chain finance on accounts receivable (供应链金融·应收账款): a
/// supplier's claim on a buyer is issued, financed by a bank at a discount,
/// and settled between the firms. Settlements carry their full record in
/// `record`; private business is a supervised envelope.
contract Receivables {
    event ReceivableIssued(
        bytes32 indexed id,
        address indexed debtor,
        address indexed creditor,
        uint256 amount,
        uint64 due,
        string memo
    );
    event ReceivableFinanced(bytes32 indexed id, address indexed financier, uint256 advance, uint16 rateBps);
    event ReceivableSettled(
        bytes32 indexed id,
        address indexed debtor,
        address indexed creditor,
        uint256 amount,
        string currency
    );
    event PrivateRecord(bytes32 indexed ref, address indexed sender, bytes32 digest);

    function issue(
        bytes32 id,
        address debtor,
        uint256 amount,
        uint64 due,
        string calldata memo
    ) external {
        require(amount > 0, "amount is zero");
        emit ReceivableIssued(id, debtor, msg.sender, amount, due, memo);
    }

    function finance(bytes32 id, uint256 advance, uint16 rateBps) external {
        require(rateBps < 10000, "rate above 100%");
        emit ReceivableFinanced(id, msg.sender, advance, rateBps);
    }

    function settle(
        bytes32 id,
        address creditor,
        uint256 amount,
        string calldata currency,
        bytes calldata record
    ) external {
        require(amount > 0, "amount is zero");
        require(record.length > 0, "no record");
        emit ReceivableSettled(id, msg.sender, creditor, amount, currency);
    }

    function submitPrivate(bytes32 ref, bytes calldata envelope) external {
        require(envelope.length > 0, "no envelope");
        emit PrivateRecord(ref, msg.sender, keccak256(envelope));
    }
}
