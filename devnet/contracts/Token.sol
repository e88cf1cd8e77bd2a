// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.26;

/// A settlement token (digital deposit) of the consortium, minted by its
/// issuer bank and moved between members.
contract Token {
    event Transfer(address indexed from, address indexed to, uint256 value);

    address public immutable issuer;
    mapping(address => uint256) public balanceOf;

    constructor() {
        issuer = msg.sender;
    }

    function mint(address to, uint256 value) external {
        require(msg.sender == issuer, "only the issuer mints");
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(balanceOf[msg.sender] >= value, "balance too low");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }
}
