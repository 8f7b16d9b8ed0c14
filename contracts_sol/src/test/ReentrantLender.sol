// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ITokenReceiver} from "./HookedToken.sol";

interface IWithdrawable {
    function withdraw(uint256 id) external returns (uint256);
}

/// @title ReentrantLender (TEST ONLY)
/// @notice A lender contract that, when paid, immediately calls `withdraw` again on the payer.
/// With `swallow` it catches the failure of the nested call (and records its revert data) so the
/// outer withdrawal can complete; without it the nested failure bubbles up.
contract ReentrantLender is ITokenReceiver {
    address public immutable owner;
    address public target;
    uint256 public targetId;
    bool public swallow;
    uint256 public attempts;
    uint256 public nestedSucceeded;
    bytes public lastRevert;

    error NotOwner(address caller);
    error CallFailed(bytes data);

    constructor() {
        owner = msg.sender;
    }

    /// @notice Arm the attack: on the next payment, re-enter `withdraw(id)` on `target_`.
    function arm(address target_, uint256 id, bool swallow_) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        target = target_;
        targetId = id;
        swallow = swallow_;
    }

    /// @notice Make an arbitrary call as this lender (approve, commit, reveal, withdraw...).
    function exec(address to, bytes calldata data) external returns (bytes memory) {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        (bool ok, bytes memory ret) = to.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    function onTokenReceived(address, uint256) external override {
        if (target == address(0) || msg.sender == address(0)) return;
        ++attempts;
        if (swallow) {
            try IWithdrawable(target).withdraw(targetId) returns (uint256) {
                ++nestedSucceeded;
            } catch (bytes memory reason) {
                lastRevert = reason;
            }
        } else {
            IWithdrawable(target).withdraw(targetId);
            ++nestedSucceeded;
        }
    }
}
