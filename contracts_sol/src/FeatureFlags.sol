// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title FeatureFlags
/// @notice Named switches and parameters for the engine, set by governance and read by the
/// engine. A flag is a bytes32 name (e.g. "auction.pricing_v2") holding either a bool or a
/// uint256; its kind is fixed by the first write until the flag is removed. Every change emits
/// an event carrying the old and the new value.
contract FeatureFlags is AccessControl {
    /// @notice Role allowed to set and remove flags.
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    /// @notice Cap on the number of distinct flags, so `names()` stays cheap to read.
    uint256 public constant MAX_FLAGS = 256;

    enum Kind {
        Unset,
        Bool,
        Uint
    }

    struct Flag {
        Kind kind;
        uint256 value;
    }

    mapping(bytes32 name => Flag) private _flags;
    bytes32[] private _names;
    mapping(bytes32 name => uint256 indexPlusOne) private _index;

    /// @dev A flag name must not be zero.
    error ZeroFlagName();
    /// @dev Flag `name` holds a value of kind `actual`, not the requested `expected`.
    error FlagKindMismatch(bytes32 name, Kind expected, Kind actual);
    /// @dev Flag `name` has never been set (or was removed).
    error UnknownFlag(bytes32 name);
    /// @dev Already `limit` flags exist; remove one first.
    error TooManyFlags(uint256 limit);

    event BoolFlagSet(bytes32 indexed name, bool oldValue, bool newValue);
    event UintFlagSet(bytes32 indexed name, uint256 oldValue, uint256 newValue);
    event FlagRemoved(bytes32 indexed name, Kind kind, uint256 lastValue);

    constructor(address admin, address governance) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNANCE_ROLE, governance);
    }

    /// @notice Set boolean flag `name`.
    function setBool(bytes32 name, bool value) external onlyRole(GOVERNANCE_ROLE) {
        uint256 old = _write(name, Kind.Bool, value ? 1 : 0);
        emit BoolFlagSet(name, old != 0, value);
    }

    /// @notice Set uint flag `name`.
    function setUint(bytes32 name, uint256 value) external onlyRole(GOVERNANCE_ROLE) {
        uint256 old = _write(name, Kind.Uint, value);
        emit UintFlagSet(name, old, value);
    }

    /// @notice Remove flag `name` (its kind may then change on the next write).
    function remove(bytes32 name) external onlyRole(GOVERNANCE_ROLE) {
        Flag memory f = _flags[name];
        if (f.kind == Kind.Unset) revert UnknownFlag(name);
        uint256 i = _index[name] - 1;
        uint256 last = _names.length - 1;
        if (i != last) {
            bytes32 moved = _names[last];
            _names[i] = moved;
            _index[moved] = i + 1;
        }
        _names.pop();
        delete _index[name];
        delete _flags[name];
        emit FlagRemoved(name, f.kind, f.value);
    }

    /// @notice Value of boolean flag `name`; reverts if unset or not a bool.
    function getBool(bytes32 name) external view returns (bool) {
        return _read(name, Kind.Bool) != 0;
    }

    /// @notice Value of uint flag `name`; reverts if unset or not a uint.
    function getUint(bytes32 name) external view returns (uint256) {
        return _read(name, Kind.Uint);
    }

    /// @notice Kind and raw value of flag `name` (`Kind.Unset`, 0 when never set).
    function flag(bytes32 name) external view returns (Kind kind, uint256 value) {
        Flag memory f = _flags[name];
        return (f.kind, f.value);
    }

    /// @notice Names of all flags currently set (order changes on removal).
    function names() external view returns (bytes32[] memory) {
        return _names;
    }

    function _write(bytes32 name, Kind kind, uint256 value) private returns (uint256 old) {
        if (name == bytes32(0)) revert ZeroFlagName();
        Flag storage f = _flags[name];
        if (f.kind == Kind.Unset) {
            if (_names.length >= MAX_FLAGS) revert TooManyFlags(MAX_FLAGS);
            _names.push(name);
            _index[name] = _names.length;
            f.kind = kind;
        } else if (f.kind != kind) {
            revert FlagKindMismatch(name, kind, f.kind);
        }
        old = f.value;
        f.value = value;
    }

    function _read(bytes32 name, Kind kind) private view returns (uint256) {
        Flag memory f = _flags[name];
        if (f.kind == Kind.Unset) revert UnknownFlag(name);
        if (f.kind != kind) revert FlagKindMismatch(name, kind, f.kind);
        return f.value;
    }
}
