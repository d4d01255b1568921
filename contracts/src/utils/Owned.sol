// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Owned
/// @notice Single-owner governance with a two-step transfer (the new owner accepts),
/// so a typo cannot hand the contract to an address nobody controls.
abstract contract Owned {
    /// @notice The account allowed to call governance functions.
    address public owner;
    /// @notice The account that may accept ownership (zero when none is pending).
    address public pendingOwner;

    /// @notice Ownership moved from `previousOwner` to `newOwner`.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    /// @notice `newOwner` was nominated and may now accept ownership.
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);

    /// @notice The caller is not the owner (or, for acceptOwnership, not the pending owner).
    /// @dev Selector `0x50074545` = bytes4(keccak256("OwnedUnauthorized(address)")).
    error OwnedUnauthorized(address caller);
    /// @notice The zero address cannot own the contract.
    /// @dev Selector `0x44059de5` = bytes4(keccak256("OwnedZeroOwner()")).
    error OwnedZeroOwner();

    constructor(address initialOwner) {
        if (initialOwner == address(0)) revert OwnedZeroOwner();
        owner = initialOwner;
        emit OwnershipTransferred(address(0), initialOwner);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert OwnedUnauthorized(msg.sender);
        _;
    }

    /// @notice Nominate `newOwner`; it takes effect once `newOwner` calls acceptOwnership.
    /// @param newOwner The nominated owner (zero cancels a pending nomination).
    function transferOwnership(address newOwner) external onlyOwner {
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(owner, newOwner);
    }

    /// @notice Accept a pending nomination; the caller becomes the owner.
    function acceptOwnership() external {
        if (msg.sender != pendingOwner || msg.sender == address(0)) revert OwnedUnauthorized(msg.sender);
        address previous = owner;
        owner = msg.sender;
        pendingOwner = address(0);
        emit OwnershipTransferred(previous, msg.sender);
    }
}
