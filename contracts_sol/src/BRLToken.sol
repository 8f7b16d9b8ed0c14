// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title BRLToken
/// @notice Tokenised Brazilian real: 18 decimals, 1 centavo = 10^16 base units. Only the gateway
/// (the fiat on/off ramp) mints and burns. Every amount that moves is a whole number of centavos,
/// so every balance is one too and off-chain centavo accounts reconcile exactly.
contract BRLToken is ERC20, AccessControl {
    /// @notice Role allowed to mint and burn (the fiat gateway).
    bytes32 public constant GATEWAY_ROLE = keccak256("GATEWAY_ROLE");
    /// @notice Base units per centavo (18 decimals, 2 of them for centavos).
    uint256 public constant CENTAVO = 1e16;

    /// @dev `value` base units is not a whole number of centavos.
    error NotWholeCentavos(uint256 value);

    constructor(address admin, address gateway) ERC20("CreditEngine BRL", "BRLce") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GATEWAY_ROLE, gateway);
    }

    /// @notice Mint `value` base units to `to` (a fiat deposit). Emits `Transfer(0, to, value)`.
    function mint(address to, uint256 value) external onlyRole(GATEWAY_ROLE) {
        _mint(to, value);
    }

    /// @notice Burn `value` base units of the gateway's own balance (a fiat withdrawal that was
    /// first transferred to the gateway). Emits `Transfer(gateway, 0, value)`.
    function burn(uint256 value) external onlyRole(GATEWAY_ROLE) {
        _burn(msg.sender, value);
    }

    /// @notice Burn `value` base units from `account`, spending the allowance `account` gave the
    /// gateway. Emits `Transfer(account, 0, value)`.
    function burnFrom(address account, uint256 value) external onlyRole(GATEWAY_ROLE) {
        _spendAllowance(account, msg.sender, value);
        _burn(account, value);
    }

    /// @dev Every transfer, mint and burn must be a whole number of centavos.
    function _update(address from, address to, uint256 value) internal override {
        if (value % CENTAVO != 0) revert NotWholeCentavos(value);
        super._update(from, to, value);
    }
}
