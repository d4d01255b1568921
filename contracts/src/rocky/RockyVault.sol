// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice What the vault reads of Arbitrum's Bridge on L1 (nitro-contracts ABI).
interface IRockyBridge {
    function activeOutbox() external view returns (address);
}

/// @notice What the vault reads of Arbitrum's Outbox on L1 (nitro-contracts ABI).
interface IRockyOutbox {
    function l2ToL1Sender() external view returns (address);
}

/// @notice The Uniswap v3 pool functions the vault uses (v3-core ABI).
interface IRockyPool {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function slot0()
        external
        view
        returns (
            uint160 sqrtPriceX96,
            int24 tick,
            uint16 observationIndex,
            uint16 observationCardinality,
            uint16 observationCardinalityNext,
            uint8 feeProtocol,
            bool unlocked
        );
    function swap(
        address recipient,
        bool zeroForOne,
        int256 amountSpecified,
        uint160 sqrtPriceLimitX96,
        bytes calldata data
    ) external returns (int256 amount0, int256 amount1);
}

/// @notice The ERC-20 functions the vault uses.
interface IRockyToken {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
}

/// @title RockyVault
/// @notice An L1 vault that trades one Uniswap v3 pool on a price-direction score
/// computed and verified on the L2 (docs/rocky.md). The score arrives only through
/// Arbitrum's L2->L1 path: the L2ResultSender reads it from the L2 RiskOracle (which
/// stored it after verifying the zkVM receipt) and sends it with ArbSys.sendTxToL1;
/// once the send root is posted, anyone executes it in the Outbox, and the Bridge calls
/// `receiveResult` here. The vault acts only on a result that (1) the Bridge delivers
/// for the trusted L2ResultSender, (2) is about its pool and its model, (3) is newer
/// than the last one it acted on and (4) is at most `maxAgeBlocks` L1 blocks old.
/// Then it swaps in the predicted direction: a score of at least 5,000 bps predicts the
/// pool's tick (the price of token0 in token1) going up, so it buys token0 with at most
/// `maxSell1` of token1; a lower score sells at most `maxSell0` of token0. The swap stops
/// at a price limit `maxSlippageBps` (in sqrt price: half of it) from the pool's current
/// price.
contract RockyVault {
    /// @notice Scores are basis points of a probability.
    uint32 public constant MAX_SCORE = 10_000;
    /// @notice At or above this score the vault buys token0 (predicted tick up).
    uint32 public constant UP_SCORE = 5_000;
    /// @notice The bounds of a sqrt price in Uniswap v3 (TickMath).
    uint160 internal constant MIN_SQRT_RATIO = 4295128739;
    uint160 internal constant MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342;

    /// @notice Arbitrum's Bridge on L1.
    IRockyBridge public immutable bridge;
    /// @notice The L2ResultSender on the L2 (the only accepted L2 caller).
    address public immutable l2Sender;
    /// @notice The pool traded, also the subject of the score.
    IRockyPool public immutable pool;
    /// @notice The direction model (its hash, as registered on the L2 oracle).
    bytes32 public immutable modelHash;
    /// @notice The oldest result acted on: at most this many L1 blocks behind the head.
    uint64 public immutable maxAgeBlocks;
    /// @notice The price limit of a swap, in basis points of the price.
    uint16 public immutable maxSlippageBps;
    /// @notice The most token0 one swap sells.
    uint256 public immutable maxSell0;
    /// @notice The most token1 one swap sells.
    uint256 public immutable maxSell1;
    /// @notice May withdraw the vault's tokens.
    address public immutable owner;

    /// @notice The L1 block of the last result acted on (0: none yet).
    uint64 public lastBlock;
    /// @notice The score of the last result acted on.
    uint32 public lastScore;

    /// @notice A result was acted on: the swap's direction and the pool's amounts
    /// (positive: paid by the vault, negative: received).
    event Traded(uint64 indexed blockNumber, uint32 score, bool zeroForOne, int256 amount0, int256 amount1);

    /// @notice Not the Bridge calling for the trusted L2 sender.
    /// @dev Selector `0x995e53d9` = bytes4(keccak256("VaultUnauthorized(address,address)")).
    error VaultUnauthorized(address caller, address l2Caller);
    /// @notice The result is about another subject than the pool.
    /// @dev Selector `0xb38aba1a` = bytes4(keccak256("VaultWrongSubject(address)")).
    error VaultWrongSubject(address subject);
    /// @notice The result is of another model.
    /// @dev Selector `0x40b3a95d` = bytes4(keccak256("VaultWrongModel(bytes32)")).
    error VaultWrongModel(bytes32 modelHash);
    /// @notice A score above 10,000 bps.
    /// @dev Selector `0x294cbaf1` = bytes4(keccak256("VaultScoreOutOfRange(uint32)")).
    error VaultScoreOutOfRange(uint32 score);
    /// @notice A result for a block after the L1 head.
    /// @dev Selector `0x2f7ddabe` = bytes4(keccak256("VaultResultFromFuture(uint64,uint256)")).
    error VaultResultFromFuture(uint64 blockNumber, uint256 head);
    /// @notice A result more than `maxAge` blocks behind the L1 head.
    /// @dev Selector `0x65bf606b` = bytes4(keccak256("VaultStale(uint64,uint256,uint64)")).
    error VaultStale(uint64 blockNumber, uint256 head, uint64 maxAge);
    /// @notice A result not newer than the last one acted on.
    /// @dev Selector `0x553af089` = bytes4(keccak256("VaultNotNewer(uint64,uint64)")).
    error VaultNotNewer(uint64 lastBlock, uint64 blockNumber);
    /// @notice The vault holds none of the token it would sell.
    /// @dev Selector `0xab5800b8` = bytes4(keccak256("VaultNoFunds(address)")).
    error VaultNoFunds(address token);
    /// @notice A swap callback not from the pool.
    /// @dev Selector `0x83cd691a` = bytes4(keccak256("VaultNotPool(address)")).
    error VaultNotPool(address caller);
    /// @notice A token transfer failed.
    /// @dev Selector `0xd457fb9f` = bytes4(keccak256("VaultTransferFailed(address)")).
    error VaultTransferFailed(address token);
    /// @notice Only the owner may do this.
    /// @dev Selector `0x6fbf737c` = bytes4(keccak256("VaultNotOwner(address)")).
    error VaultNotOwner(address caller);
    /// @notice A constructor argument out of range (its position).
    /// @dev Selector `0xdec7ecea` = bytes4(keccak256("VaultBadConfig(uint256)")).
    error VaultBadConfig(uint256 argument);

    /// @param bridge_ Arbitrum's Bridge on L1.
    /// @param l2Sender_ The L2ResultSender on the L2.
    /// @param pool_ The Uniswap v3 pool (the score's subject).
    /// @param modelHash_ The direction model's hash.
    /// @param maxAgeBlocks_ The oldest result acted on, in L1 blocks (> 0).
    /// @param maxSlippageBps_ The price limit of a swap (1..5,000 bps).
    /// @param maxSell0_ The most token0 one swap sells.
    /// @param maxSell1_ The most token1 one swap sells.
    constructor(
        IRockyBridge bridge_,
        address l2Sender_,
        IRockyPool pool_,
        bytes32 modelHash_,
        uint64 maxAgeBlocks_,
        uint16 maxSlippageBps_,
        uint256 maxSell0_,
        uint256 maxSell1_
    ) {
        if (address(bridge_) == address(0)) revert VaultBadConfig(0);
        if (l2Sender_ == address(0)) revert VaultBadConfig(1);
        if (address(pool_) == address(0)) revert VaultBadConfig(2);
        if (maxAgeBlocks_ == 0) revert VaultBadConfig(4);
        if (maxSlippageBps_ == 0 || maxSlippageBps_ > 5_000) revert VaultBadConfig(5);
        bridge = bridge_;
        l2Sender = l2Sender_;
        pool = pool_;
        modelHash = modelHash_;
        maxAgeBlocks = maxAgeBlocks_;
        maxSlippageBps = maxSlippageBps_;
        maxSell0 = maxSell0_;
        maxSell1 = maxSell1_;
        owner = msg.sender;
    }

    /// @notice A result from the L2 (the L2ResultSender's call, executed by the Outbox):
    /// checked, then traded on.
    /// @param subject The scored address (must be the pool).
    /// @param modelHash_ The model (must be this vault's).
    /// @param score The probability of the tick going up, in bps.
    /// @param blockNumber The L1 block the score was computed at.
    function receiveResult(address subject, bytes32 modelHash_, uint32 score, uint64 blockNumber) external {
        _checkCaller();
        _checkResult(subject, modelHash_, score);
        _checkFresh(blockNumber);
        lastBlock = blockNumber;
        lastScore = score;
        bool zeroForOne = score < UP_SCORE;
        (int256 amount0, int256 amount1) = _swap(zeroForOne);
        emit Traded(blockNumber, score, zeroForOne, amount0, amount1);
    }

    /// @notice Pays the pool what a swap of this vault owes (Uniswap v3 callback).
    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata) external {
        if (msg.sender != address(pool)) revert VaultNotPool(msg.sender);
        if (amount0Delta > 0) _pay(pool.token0(), msg.sender, uint256(amount0Delta));
        if (amount1Delta > 0) _pay(pool.token1(), msg.sender, uint256(amount1Delta));
    }

    /// @notice The owner takes tokens out.
    function withdraw(address token, address to, uint256 amount) external {
        if (msg.sender != owner) revert VaultNotOwner(msg.sender);
        _pay(token, to, amount);
    }

    /// @notice The sqrt price limit of a swap now in direction `zeroForOne`.
    function priceLimit(bool zeroForOne) public view returns (uint160) {
        (uint160 sqrtPrice,,,,,,) = pool.slot0();
        uint256 limit = zeroForOne
            ? uint256(sqrtPrice) * (20_000 - maxSlippageBps) / 20_000
            : uint256(sqrtPrice) * (20_000 + maxSlippageBps) / 20_000;
        if (limit <= MIN_SQRT_RATIO) return MIN_SQRT_RATIO + 1;
        if (limit >= MAX_SQRT_RATIO) return MAX_SQRT_RATIO - 1;
        return uint160(limit);
    }

    /// @dev Rule: only the Bridge, executing an Outbox message of the trusted L2 sender.
    function _checkCaller() private view {
        address l2Caller = msg.sender == address(bridge)
            ? IRockyOutbox(bridge.activeOutbox()).l2ToL1Sender()
            : address(0);
        if (msg.sender != address(bridge) || l2Caller != l2Sender) {
            revert VaultUnauthorized(msg.sender, l2Caller);
        }
    }

    /// @dev Rule: the pool's score of this vault's model, in range.
    function _checkResult(address subject, bytes32 modelHash_, uint32 score) private view {
        if (subject != address(pool)) revert VaultWrongSubject(subject);
        if (modelHash_ != modelHash) revert VaultWrongModel(modelHash_);
        if (score > MAX_SCORE) revert VaultScoreOutOfRange(score);
    }

    /// @dev Rule: newer than the last result, not from the future, at most maxAgeBlocks old.
    function _checkFresh(uint64 blockNumber) private view {
        if (blockNumber <= lastBlock) revert VaultNotNewer(lastBlock, blockNumber);
        if (blockNumber > block.number) revert VaultResultFromFuture(blockNumber, block.number);
        if (block.number - blockNumber > maxAgeBlocks) {
            revert VaultStale(blockNumber, block.number, maxAgeBlocks);
        }
    }

    /// @dev Sell up to the bounded size of the token given away, to the price limit.
    function _swap(bool zeroForOne) private returns (int256, int256) {
        address sold = zeroForOne ? pool.token0() : pool.token1();
        uint256 cap = zeroForOne ? maxSell0 : maxSell1;
        uint256 balance = IRockyToken(sold).balanceOf(address(this));
        uint256 amount = balance < cap ? balance : cap;
        if (amount == 0) revert VaultNoFunds(sold);
        return pool.swap(address(this), zeroForOne, int256(amount), priceLimit(zeroForOne), "");
    }

    function _pay(address token, address to, uint256 amount) private {
        (bool ok, bytes memory ret) = token.call(abi.encodeCall(IRockyToken.transfer, (to, amount)));
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) revert VaultTransferFailed(token);
    }
}
