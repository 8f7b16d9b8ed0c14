// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Receiver of a HookedToken transfer (ERC-777/1363-style callback).
interface ITokenReceiver {
    function onTokenReceived(address from, uint256 value) external;
}

/// @title HookedToken (TEST ONLY)
/// @notice An ERC-20 that calls `onTokenReceived` on recipients that registered for it, so a
/// malicious receiver gets control in the middle of a payer's transfer: the setting in which a
/// pull-payment function must be reentrancy-safe. Anyone may mint. Never deploy outside tests.
contract HookedToken is ERC20 {
    mapping(address => bool) public hooked;

    event HookRegistered(address indexed receiver);

    constructor() ERC20("Hooked test BRL", "tBRL") {}

    function mint(address to, uint256 value) external {
        _mint(to, value);
    }

    /// @notice Opt the caller in to receive callbacks.
    function registerHook() external {
        hooked[msg.sender] = true;
        emit HookRegistered(msg.sender);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (hooked[to]) ITokenReceiver(to).onTokenReceived(from, value);
    }
}
