// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

interface IUniswapV3PoolLike {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function mint(address recipient, int24 tickLower, int24 tickUpper, uint128 amount, bytes calldata data)
        external
        returns (uint256, uint256);
    function swap(address recipient, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96, bytes calldata data)
        external
        returns (int256, int256);
}

interface IERC20Like {
    function transfer(address to, uint256 amount) external returns (bool);
}

/// @notice Adds liquidity to and swaps in one Uniswap v3 pool, paying the pool's
/// callbacks from its own token balance (fund it first).
contract UniswapV3Helper {
    IUniswapV3PoolLike public immutable pool;

    constructor(IUniswapV3PoolLike pool_) {
        pool = pool_;
    }

    function mint(int24 tickLower, int24 tickUpper, uint128 amount) external {
        pool.mint(address(this), tickLower, tickUpper, amount, "");
    }

    function swap(bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96) external {
        pool.swap(address(this), zeroForOne, amountSpecified, sqrtPriceLimitX96, "");
    }

    function uniswapV3MintCallback(uint256 owed0, uint256 owed1, bytes calldata) external {
        _pay(owed0, owed1);
    }

    function uniswapV3SwapCallback(int256 delta0, int256 delta1, bytes calldata) external {
        _pay(delta0 > 0 ? uint256(delta0) : 0, delta1 > 0 ? uint256(delta1) : 0);
    }

    function _pay(uint256 owed0, uint256 owed1) internal {
        require(msg.sender == address(pool), "UniswapV3Helper: not the pool");
        if (owed0 > 0) require(IERC20Like(pool.token0()).transfer(msg.sender, owed0), "pay0");
        if (owed1 > 0) require(IERC20Like(pool.token1()).transfer(msg.sender, owed1), "pay1");
    }
}
