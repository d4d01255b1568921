// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {DemoToken} from "./DemoToken.sol";
import {DemoPriceOracle} from "./DemoPriceOracle.sol";

/// @title DemoLendingPool
/// @notice A one-market lending pool for the simulated market the sample risk model is
///         trained on: deposit collateral, borrow the debt token up to 75% loan-to-value,
///         anyone may liquidate a position above 80% (repaying its debt, taking all of
///         its collateral).
/// @dev Storage layout (read by models/lending-risk-v1.features.json, keep it stable):
///      slot 0 totalCollateral, slot 1 totalDebt, slot 2 `positions` mapping; a Position
///      takes two slots: [collateral uint128 | debt uint128] and
///      [openedBlock uint64 | liquidations uint32] (low-order bytes first).
contract DemoLendingPool {
    struct Position {
        uint128 collateral;
        uint128 debt;
        uint64 openedBlock;
        uint32 liquidations;
    }

    uint256 public totalCollateral;
    uint256 public totalDebt;
    mapping(address => Position) public positions;

    DemoToken public immutable collateralToken;
    DemoToken public immutable debtToken;
    DemoPriceOracle public immutable oracle;

    uint256 public constant MAX_LTV_BPS = 7500;
    uint256 public constant LIQUIDATION_LTV_BPS = 8000;
    uint256 private constant PRICE_UNIT = 1e8;

    event Deposited(address indexed user, uint256 amount);
    event Withdrawn(address indexed user, uint256 amount);
    event Borrowed(address indexed user, uint256 amount);
    event Repaid(address indexed user, uint256 amount);
    event Liquidated(address indexed user, address indexed liquidator, uint256 debt, uint256 collateral);

    error DemoPoolAboveMaxLtv();
    error DemoPoolHealthy();
    error DemoPoolAmountTooLarge();

    constructor(DemoToken collateral_, DemoToken debt_, DemoPriceOracle oracle_) {
        collateralToken = collateral_;
        debtToken = debt_;
        oracle = oracle_;
    }

    /// @notice Add `amount` collateral (pulled with transferFrom).
    function deposit(uint256 amount) external {
        Position storage p = positions[msg.sender];
        if (amount > type(uint128).max - p.collateral) revert DemoPoolAmountTooLarge();
        if (p.collateral == 0 && p.debt == 0) p.openedBlock = uint64(block.number);
        collateralToken.transferFrom(msg.sender, address(this), amount);
        p.collateral += uint128(amount);
        totalCollateral += amount;
        emit Deposited(msg.sender, amount);
    }

    /// @notice Take back `amount` collateral; the position must stay within the max LTV.
    function withdraw(uint256 amount) external {
        Position storage p = positions[msg.sender];
        if (amount > p.collateral) revert DemoPoolAmountTooLarge();
        p.collateral -= uint128(amount);
        if (_ltvBps(p.collateral, p.debt) > MAX_LTV_BPS) revert DemoPoolAboveMaxLtv();
        totalCollateral -= amount;
        collateralToken.transfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @notice Borrow `amount` of the debt token; the position must stay within the max LTV.
    function borrow(uint256 amount) external {
        Position storage p = positions[msg.sender];
        if (amount > type(uint128).max - p.debt) revert DemoPoolAmountTooLarge();
        p.debt += uint128(amount);
        if (_ltvBps(p.collateral, p.debt) > MAX_LTV_BPS) revert DemoPoolAboveMaxLtv();
        totalDebt += amount;
        debtToken.transfer(msg.sender, amount);
        emit Borrowed(msg.sender, amount);
    }

    /// @notice Repay up to the whole debt.
    function repay(uint256 amount) external {
        Position storage p = positions[msg.sender];
        if (amount > p.debt) amount = p.debt;
        debtToken.transferFrom(msg.sender, address(this), amount);
        p.debt -= uint128(amount);
        totalDebt -= amount;
        emit Repaid(msg.sender, amount);
    }

    /// @notice Liquidate `user` if its LTV is above the liquidation threshold: the caller
    ///         repays the whole debt and receives all the collateral.
    function liquidate(address user) external {
        Position storage p = positions[user];
        if (p.debt == 0 || _ltvBps(p.collateral, p.debt) <= LIQUIDATION_LTV_BPS) {
            revert DemoPoolHealthy();
        }
        uint256 debt = p.debt;
        uint256 collateral = p.collateral;
        debtToken.transferFrom(msg.sender, address(this), debt);
        p.debt = 0;
        p.collateral = 0;
        p.liquidations += 1;
        totalDebt -= debt;
        totalCollateral -= collateral;
        collateralToken.transfer(msg.sender, collateral);
        emit Liquidated(user, msg.sender, debt, collateral);
    }

    /// @notice Loan-to-value of `user` in basis points at the current oracle price.
    function ltvBps(address user) external view returns (uint256) {
        Position storage p = positions[user];
        return _ltvBps(p.collateral, p.debt);
    }

    function _ltvBps(uint256 collateral, uint256 debt) internal view returns (uint256) {
        if (debt == 0) return 0;
        uint256 value = collateral * oracle.price() / PRICE_UNIT;
        if (value == 0) return type(uint256).max;
        return debt * 10_000 / value;
    }
}
