// SPDX-License-Identifier: GPL-2.0-or-later
pragma solidity 0.8.19;

import {IMorpho, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MorphoBalancesLib} from "@morpho-org/morpho-blue/src/libraries/periphery/MorphoBalancesLib.sol";

/// @notice Morpho Blue's periphery library MorphoBalancesLib behind external views
/// (the library's functions are internal): the judge of the Python reads.
contract MorphoLens {
    function expectedMarketBalances(IMorpho morpho, MarketParams memory marketParams)
        external
        view
        returns (uint256, uint256, uint256, uint256)
    {
        return MorphoBalancesLib.expectedMarketBalances(morpho, marketParams);
    }

    function expectedBorrowAssets(IMorpho morpho, MarketParams memory marketParams, address user)
        external
        view
        returns (uint256)
    {
        return MorphoBalancesLib.expectedBorrowAssets(morpho, marketParams, user);
    }

    function expectedSupplyAssets(IMorpho morpho, MarketParams memory marketParams, address user)
        external
        view
        returns (uint256)
    {
        return MorphoBalancesLib.expectedSupplyAssets(morpho, marketParams, user);
    }
}
