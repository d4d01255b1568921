// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ArbSysEmulator
/// @notice The devnet stand-in for Arbitrum's ArbSys precompile (0x64): the same functions
/// and events as nitro-contracts' `ArbSys` interface, installed with `anvil_setCode` on the
/// L2 anvil. `sendTxToL1` appends to a send Merkle accumulator that hashes exactly as
/// Nitro's (leaf = keccak256(item), missing siblings = zero), so roots it reports are
/// accepted by the real Outbox on L1. Every send hash and every completed subtree is also
/// kept in storage (what Nitro's `L2ToL1Tx`/`SendMerkleUpdate` logs carry), for the
/// NodeInterface emulator at 0xc8 to build outbox proofs from. Devnet only: never deploy
/// on a real chain.
/// @dev Installed without a constructor run, so all state is in storage; the devnet relay
/// claims the `relay` slot once (`devnetInit`) and reports the L1 block number.
contract ArbSysEmulator {
    /// @notice ArbOS 32 (this function alone carries the +55 offset, as in Nitro).
    uint256 internal constant ARBOS_VERSION = 55 + 32;
    uint160 internal constant ALIAS_OFFSET = uint160(0x1111000000000000000000000000000000001111);

    /// @notice The devnet relay allowed to call the `devnet*` functions.
    address public relay;
    /// @notice The L1 block number last reported by the relay (Nitro's `ethBlockNum`).
    uint256 public l1BlockNumber;
    /// @notice Number of sends so far.
    uint256 internal _size;
    /// @notice Merkle accumulator partials: `_partials[level]` is a full subtree of 2^level leaves.
    mapping(uint256 level => bytes32) internal _partials;
    /// @notice Completed nodes of the send tree: level 0 holds each send's item hash (the
    /// leaf is its keccak256), level `l` >= 1 the hash of the full subtree `index` of 2^l leaves.
    mapping(uint256 level => mapping(uint256 index => bytes32)) internal _nodes;

    /// @notice Same event as ArbSys: one L2→L1 send (`position` = leaf index at level 0).
    event L2ToL1Tx(
        address caller,
        address indexed destination,
        uint256 indexed hash,
        uint256 indexed position,
        uint256 arbBlockNum,
        uint256 ethBlockNum,
        uint256 timestamp,
        uint256 callvalue,
        bytes data
    );
    /// @notice Declared for ABI parity with ArbSys (classic-era event); never emitted here.
    event L2ToL1Transaction(
        address caller,
        address indexed destination,
        uint256 indexed uniqueId,
        uint256 indexed batchNumber,
        uint256 indexInBatch,
        uint256 arbBlockNum,
        uint256 ethBlockNum,
        uint256 timestamp,
        uint256 callvalue,
        bytes data
    );
    /// @notice Same event as ArbSys: a subtree completed at `level` >= 1 by the send of leaf
    /// `n` (`position` = (level << 192) + n, as Nitro's LevelAndLeaf; no event at level 0).
    event SendMerkleUpdate(uint256 indexed reserved, bytes32 indexed hash, uint256 indexed position);

    /// @notice The requested block is not among the last 256 (same error as ArbSys).
    /// @dev Selector `0xd5dc642d` = bytes4(keccak256("InvalidBlockNumber(uint256,uint256)")).
    error InvalidBlockNumber(uint256 requested, uint256 current);
    /// @notice A `devnet*` function was called by someone else than the relay.
    /// @dev Selector `0x75071cd7` = bytes4(keccak256("ArbSysEmulatorNotRelay(address)")).
    error ArbSysEmulatorNotRelay(address caller);

    modifier onlyRelay() {
        if (msg.sender != relay) revert ArbSysEmulatorNotRelay(msg.sender);
        _;
    }

    /// @notice Claim the relay role (first caller only; the devnet does it right after install).
    /// @param relay_ The devnet relay's address.
    function devnetInit(address relay_) external {
        if (relay != address(0)) revert ArbSysEmulatorNotRelay(msg.sender);
        relay = relay_;
    }

    /// @notice The relay reports the L1 head (stamped into later sends as `ethBlockNum`).
    /// @param number L1 block number.
    function devnetSetL1BlockNumber(uint256 number) external onlyRelay {
        l1BlockNumber = number;
    }

    /// @notice L2 block number (on Nitro the NUMBER opcode gives an L1 number; here both are L2).
    function arbBlockNumber() external view returns (uint256) {
        return block.number;
    }

    /// @notice Hash of one of the last 256 L2 blocks.
    /// @param arbBlockNum The L2 block number.
    function arbBlockHash(uint256 arbBlockNum) external view returns (bytes32) {
        if (arbBlockNum >= block.number || arbBlockNum + 256 < block.number) {
            revert InvalidBlockNumber(arbBlockNum, block.number);
        }
        return blockhash(arbBlockNum);
    }

    /// @notice The L2 chain id.
    function arbChainID() external view returns (uint256) {
        return block.chainid;
    }

    /// @notice 55 + the emulated ArbOS version.
    function arbOSVersion() external pure returns (uint256) {
        return ARBOS_VERSION;
    }

    /// @notice Always 0 (Nitro has no storage gas).
    function getStorageGasAvailable() external pure returns (uint256) {
        return 0;
    }

    /// @notice Whether the caller was called directly by the transaction's signer.
    function isTopLevelCall() external view returns (bool) {
        return msg.sender == tx.origin;
    }

    /// @notice Arbitrum's L1→L2 alias of `sender`.
    /// @param sender An L1 address.
    function mapL1SenderContractAddressToL2Alias(address sender, address) external pure returns (address) {
        unchecked {
            return address(uint160(sender) + ALIAS_OFFSET);
        }
    }

    /// @notice Always false here: the emulation does not track which transactions came from L1.
    function wasMyCallersAddressAliased() external pure returns (bool) {
        return false;
    }

    /// @notice The caller's caller as seen here (no un-aliasing in the emulation).
    function myCallersAddressWithoutAliasing() external view returns (address) {
        return tx.origin;
    }

    /// @notice Send ETH to `destination` on L1 (a send with empty data).
    /// @param destination L1 recipient.
    function withdrawEth(address destination) external payable returns (uint256) {
        return _send(destination, "");
    }

    /// @notice Send a message to `destination` on L1, executable through the Outbox once a
    /// root that includes it is posted.
    /// @param destination L1 contract to call.
    /// @param data Its calldata.
    /// @return The leaf index of the send.
    function sendTxToL1(address destination, bytes calldata data) external payable returns (uint256) {
        return _send(destination, data);
    }

    /// @notice Number of sends so far (the NodeInterface emulator's view of the tree size).
    function devnetSendCount() external view returns (uint256) {
        return _size;
    }

    /// @notice A completed node of the send tree (zero if not completed yet).
    /// @param level 0 for a send's item hash, `l` >= 1 for a full subtree of 2^l leaves.
    /// @param index The node's index at that level.
    function devnetSendNode(uint256 level, uint256 index) external view returns (bytes32) {
        return _nodes[level][index];
    }

    /// @notice Size, root and partials of the send Merkle accumulator.
    function sendMerkleTreeState() external view returns (uint256 size, bytes32 root, bytes32[] memory partials) {
        size = _size;
        uint256 levels = 0;
        while ((size >> levels) > 0) levels++;
        partials = new bytes32[](levels);
        for (uint256 i = 0; i < levels; i++) {
            partials[i] = _partials[i];
        }
        root = _root(size, partials);
    }

    function _send(address destination, bytes memory data) internal returns (uint256 position) {
        bytes32 item = keccak256(
            abi.encodePacked(msg.sender, destination, block.number, l1BlockNumber, block.timestamp, msg.value, data)
        );
        position = _size;
        _nodes[0][position] = item;
        _append(item);
        emit L2ToL1Tx(
            msg.sender,
            destination,
            uint256(item),
            position,
            block.number,
            l1BlockNumber,
            block.timestamp,
            msg.value,
            data
        );
    }

    /// @dev Nitro's MerkleAccumulator.Append: carry full subtrees upward like a binary counter;
    /// each carry completes a subtree, which is stored and announced as Nitro does.
    function _append(bytes32 item) internal {
        uint256 size = ++_size;
        bytes32 soFar = keccak256(abi.encodePacked(item));
        uint256 level = 0;
        while (true) {
            if (level == 256) break;
            bytes32 partial_ = _partials[level];
            if (partial_ == bytes32(0)) {
                _partials[level] = soFar;
                return;
            }
            soFar = keccak256(abi.encodePacked(partial_, soFar));
            _partials[level] = bytes32(0);
            level++;
            _nodes[level][(size - 1) >> level] = soFar;
            emit SendMerkleUpdate(0, soFar, (level << 192) + (size - 1));
        }
    }

    /// @dev Nitro's MerkleAccumulator.Root: fold partials, padding with zero siblings.
    function _root(uint256 size, bytes32[] memory partials) internal pure returns (bytes32) {
        if (size == 0) return bytes32(0);
        bytes32 soFar;
        bool started = false;
        uint256 capacityInHash = 0;
        uint256 capacity = 1;
        for (uint256 level = 0; level < partials.length; level++) {
            bytes32 partial_ = partials[level];
            if (partial_ != bytes32(0)) {
                if (!started) {
                    soFar = partial_;
                    capacityInHash = capacity;
                    started = true;
                } else {
                    while (capacityInHash < capacity) {
                        soFar = keccak256(abi.encodePacked(soFar, bytes32(0)));
                        capacityInHash *= 2;
                    }
                    soFar = keccak256(abi.encodePacked(partial_, soFar));
                    capacityInHash = 2 * capacity;
                }
            }
            capacity *= 2;
        }
        return soFar;
    }
}
