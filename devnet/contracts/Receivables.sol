// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.26;

/// Accounts receivable (应收账款) financing: a supplier's claim on a
/// buyer is recorded, financed by a bank at a discount, and repaid.
contract Receivables {
    struct Receivable {
        address debtor;
        address creditor;
        uint256 amount;
        uint64 due;
        address financier;
        uint256 repaid;
    }

    event ReceivableIssued(
        bytes32 indexed id,
        address indexed debtor,
        address indexed creditor,
        uint256 amount,
        uint64 due,
        string memo
    );
    event ReceivableFinanced(bytes32 indexed id, address indexed financier, uint256 advance, uint16 rateBps);
    event ReceivableRepaid(bytes32 indexed id, uint256 amount, uint256 outstanding);

    mapping(bytes32 => Receivable) private receivables;

    function issue(
        bytes32 id,
        address debtor,
        uint256 amount,
        uint64 due,
        string calldata memo
    ) external {
        require(receivables[id].creditor == address(0), "id already used");
        require(amount > 0, "amount is zero");
        receivables[id] = Receivable(debtor, msg.sender, amount, due, address(0), 0);
        emit ReceivableIssued(id, debtor, msg.sender, amount, due, memo);
    }

    function finance(bytes32 id, uint256 advance, uint16 rateBps) external {
        Receivable storage r = receivables[id];
        require(r.creditor != address(0), "unknown receivable");
        require(r.financier == address(0), "already financed");
        require(advance <= r.amount, "advance above the amount");
        r.financier = msg.sender;
        emit ReceivableFinanced(id, msg.sender, advance, rateBps);
    }

    function recordRepayment(bytes32 id, uint256 amount) external {
        Receivable storage r = receivables[id];
        require(r.creditor != address(0), "unknown receivable");
        require(r.repaid + amount <= r.amount, "repays more than owed");
        r.repaid += amount;
        emit ReceivableRepaid(id, amount, r.amount - r.repaid);
    }
}
