// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title DemoPriceOracle
/// @notice The collateral price in debt-token units with 8 decimals, set by the owner.
///         Storage: price at slot 0, updatedAt (block number) at slot 1.
contract DemoPriceOracle {
    uint256 public price;
    uint256 public updatedAt;
    address public immutable owner;

    event PriceUpdated(uint256 price);

    error DemoOracleNotOwner();
    error DemoOracleZeroPrice();

    constructor(uint256 initialPrice) {
        owner = msg.sender;
        _set(initialPrice);
    }

    /// @notice Set the price (owner only; zero is rejected).
    function setPrice(uint256 newPrice) external {
        if (msg.sender != owner) revert DemoOracleNotOwner();
        _set(newPrice);
    }

    function _set(uint256 newPrice) internal {
        if (newPrice == 0) revert DemoOracleZeroPrice();
        price = newPrice;
        updatedAt = block.number;
        emit PriceUpdated(newPrice);
    }
}
