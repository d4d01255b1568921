// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {RockyVault, IRockyBridge, IRockyPool} from "../src/rocky/RockyVault.sol";
// the Bridge + Outbox stand-in: the active outbox is itself, the L2 sender set per delivery
import {BridgeOutboxStub} from "./arbos/ArbosEmulator.t.sol";

contract RockyTokenStub {
    mapping(address => uint256) public balanceOf;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        if (balanceOf[msg.sender] < amount) return false;
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        return true;
    }
}

/// @notice A pool that fills every swap 1:1 and records what it was asked; it is paid
/// through the caller's callback like a Uniswap v3 pool.
contract RockyPoolStub {
    RockyTokenStub public immutable token0;
    RockyTokenStub public immutable token1;
    uint160 public sqrtPrice = uint160(1 << 96);
    bool public lastZeroForOne;
    int256 public lastAmount;
    uint160 public lastLimit;
    uint256 public swaps;

    constructor() {
        token0 = new RockyTokenStub();
        token1 = new RockyTokenStub();
    }

    function slot0() external view returns (uint160, int24, uint16, uint16, uint16, uint8, bool) {
        return (sqrtPrice, 0, 0, 1, 1, 0, true);
    }

    function swap(address recipient, bool zeroForOne, int256 amount, uint160 limit, bytes calldata)
        external
        returns (int256 amount0, int256 amount1)
    {
        (lastZeroForOne, lastAmount, lastLimit) = (zeroForOne, amount, limit);
        swaps += 1;
        (amount0, amount1) = zeroForOne ? (amount, -amount) : (-amount, amount);
        RockyTokenStub paid = zeroForOne ? token0 : token1;
        RockyTokenStub out = zeroForOne ? token1 : token0;
        out.mint(recipient, uint256(amount));
        uint256 before = paid.balanceOf(address(this));
        RockyVault(msg.sender).uniswapV3SwapCallback(amount0, amount1, "");
        require(paid.balanceOf(address(this)) == before + uint256(amount), "pool not paid");
    }
}

contract RockyVaultTest is Test {
    bytes32 internal constant MODEL = keccak256("rocky-direction-v1");
    address internal constant L2_SENDER = address(0x5e9d);
    uint64 internal constant MAX_AGE = 300;
    uint16 internal constant SLIPPAGE = 100;

    BridgeOutboxStub internal bridge;
    RockyPoolStub internal pool;
    RockyVault internal vault;

    function setUp() public {
        vm.roll(10_000);
        bridge = new BridgeOutboxStub();
        pool = new RockyPoolStub();
        vault = new RockyVault(
            IRockyBridge(address(bridge)), L2_SENDER, IRockyPool(address(pool)), MODEL, MAX_AGE, SLIPPAGE, 5e18, 7e9
        );
        pool.token0().mint(address(vault), 100e18);
        pool.token1().mint(address(vault), 100e9);
    }

    function _result(uint32 score, uint64 blockNumber) internal view returns (bytes memory) {
        return abi.encodeCall(RockyVault.receiveResult, (address(pool), MODEL, score, blockNumber));
    }

    function _deliver(uint32 score, uint64 blockNumber) internal {
        bridge.deliver(L2_SENDER, address(vault), _result(score, blockNumber));
    }

    function test_only_the_bridge_for_the_trusted_l2_sender() public {
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultUnauthorized.selector, address(this), address(0)));
        vault.receiveResult(address(pool), MODEL, 9000, 9990);
        vm.expectRevert(
            abi.encodeWithSelector(RockyVault.VaultUnauthorized.selector, address(bridge), address(0xbad))
        );
        bridge.deliver(address(0xbad), address(vault), _result(9000, 9990));
        BridgeOutboxStub other = new BridgeOutboxStub();
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultUnauthorized.selector, address(other), address(0)));
        other.deliver(L2_SENDER, address(vault), _result(9000, 9990));
        assertEq(pool.swaps(), 0, "no swap");
        _deliver(9000, 9990);
        assertEq(pool.swaps(), 1, "the trusted path swaps");
    }

    function test_other_subject_model_or_score_range_is_refused() public {
        bytes memory data = abi.encodeCall(RockyVault.receiveResult, (address(7), MODEL, 9000, 9990));
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultWrongSubject.selector, address(7)));
        bridge.deliver(L2_SENDER, address(vault), data);
        data = abi.encodeCall(RockyVault.receiveResult, (address(pool), bytes32(uint256(1)), 9000, 9990));
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultWrongModel.selector, bytes32(uint256(1))));
        bridge.deliver(L2_SENDER, address(vault), data);
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultScoreOutOfRange.selector, uint32(10_001)));
        _deliver(10_001, 9990);
        _deliver(10_000, 9990);
        assertEq(vault.lastScore(), 10_000, "10,000 is in range");
    }

    function test_stale_and_future_results_are_refused_at_their_boundaries() public {
        uint64 oldest = uint64(block.number) - MAX_AGE;
        vm.expectRevert(
            abi.encodeWithSelector(RockyVault.VaultStale.selector, oldest - 1, block.number, MAX_AGE)
        );
        _deliver(9000, oldest - 1);
        vm.expectRevert(
            abi.encodeWithSelector(RockyVault.VaultResultFromFuture.selector, uint64(block.number + 1), block.number)
        );
        _deliver(9000, uint64(block.number + 1));
        assertEq(pool.swaps(), 0, "nothing traded");
        _deliver(9000, oldest);
        assertEq(vault.lastBlock(), oldest, "exactly maxAge old is fresh");
        _deliver(9000, uint64(block.number));
        assertEq(pool.swaps(), 2, "a result of the head block is fresh");
    }

    function test_a_result_not_newer_than_the_last_is_refused() public {
        _deliver(9000, 9990);
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultNotNewer.selector, uint64(9990), uint64(9990)));
        _deliver(1000, 9990);
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultNotNewer.selector, uint64(9990), uint64(9989)));
        _deliver(1000, 9989);
        _deliver(1000, 9991);
        assertEq(vault.lastScore(), 1000, "the newer result");
    }

    function test_direction_follows_the_score_with_5000_the_boundary() public {
        _deliver(5000, 9990);
        assertFalse(pool.lastZeroForOne(), "5000: buy token0 (pay token1)");
        assertEq(uint256(pool.lastAmount()), 7e9, "bounded by maxSell1");
        _deliver(4999, 9991);
        assertTrue(pool.lastZeroForOne(), "4999: sell token0");
        assertEq(uint256(pool.lastAmount()), 5e18, "bounded by maxSell0");
        assertEq(pool.token0().balanceOf(address(vault)), 100e18 + 7e9 - 5e18, "token0 after both swaps");
    }

    function test_size_is_the_balance_below_the_cap_and_no_funds_refused() public {
        vault.withdraw(address(pool.token0()), address(1), 100e18 - 2e18);
        _deliver(100, 9990);
        assertEq(uint256(pool.lastAmount()), 2e18, "the whole balance below the cap");
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultNoFunds.selector, address(pool.token0())));
        _deliver(100, 9991);
    }

    function test_price_limit_is_the_slippage_bound() public {
        uint256 p = 1 << 96;
        _deliver(100, 9990);
        assertEq(pool.lastLimit(), p * (20_000 - SLIPPAGE) / 20_000, "down limit");
        _deliver(9000, 9991);
        assertEq(pool.lastLimit(), p * (20_000 + SLIPPAGE) / 20_000, "up limit");
    }

    function test_callback_only_from_the_pool_and_withdraw_only_by_the_owner() public {
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultNotPool.selector, address(this)));
        vault.uniswapV3SwapCallback(1, 0, "");
        address token0 = address(pool.token0());
        vm.prank(address(0xbeef));
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultNotOwner.selector, address(0xbeef)));
        vault.withdraw(token0, address(0xbeef), 1);
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultTransferFailed.selector, token0));
        vault.withdraw(token0, address(0xbeef), 101e18);
        vault.withdraw(token0, address(0xbeef), 100e18);
        assertEq(pool.token0().balanceOf(address(0xbeef)), 100e18, "the owner withdrew");
    }

    function test_bad_config_is_refused() public {
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultBadConfig.selector, 4));
        new RockyVault(IRockyBridge(address(bridge)), L2_SENDER, IRockyPool(address(pool)), MODEL, 0, SLIPPAGE, 1, 1);
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultBadConfig.selector, 5));
        new RockyVault(IRockyBridge(address(bridge)), L2_SENDER, IRockyPool(address(pool)), MODEL, 1, 5001, 1, 1);
        vm.expectRevert(abi.encodeWithSelector(RockyVault.VaultBadConfig.selector, 1));
        new RockyVault(IRockyBridge(address(bridge)), address(0), IRockyPool(address(pool)), MODEL, 1, 1, 1, 1);
    }
}
