// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice What the NodeInterface emulator reads from the ArbSys emulator at 0x64.
interface IArbSysSendTree {
    /// @notice Number of sends so far.
    function devnetSendCount() external view returns (uint256);

    /// @notice Item hash (level 0) or full-subtree hash (level >= 1); zero if not completed.
    /// @param level Tree level.
    /// @param index Node index at that level.
    function devnetSendNode(uint256 level, uint256 index) external view returns (bytes32);
}

/// @title NodeInterfaceEmulator
/// @notice The devnet stand-in for Nitro's NodeInterface (0xc8), installed with
/// `anvil_setCode`. Only `constructOutboxProof` is provided, with nitro-contracts' exact
/// signature, so the bridge asks the devnet for an outbox proof with the same `eth_call`
/// it sends to a Nitro node. Devnet only: never deploy on a real chain.
/// @dev Nitro answers from the logs of ArbSys (`L2ToL1Tx`, `SendMerkleUpdate`) up to the
/// node's head; the emulator reads the same nodes from the ArbSys emulator's storage at the
/// state the call runs against (call it at `latest` to match Nitro). For every size up to
/// the send count its answers are Nitro's:
/// - `leaf < size`: (item hash of the send, root of the first `size` sends, the siblings
///   from the leaf up; ceil(log2(size)) of them, zero where the tree is empty);
/// - `leaf > sendCount`: reverts "leaf does not exist";
/// - otherwise `leaf >= size`: reverts with Nitro's internal error ("proof is wrong" when
///   size <= 1, else "incomplete information"), except where Nitro's walk does not notice:
///   `size == leaf == 0` gives (send 0, keccak256(send 0), []), and an odd `size >= 3` with
///   `leaf == size` gives the proof of leaf `size` in a tree of `size + 1` sends (a missing
///   send counts as the zero hash). Neither root is the root of the first `size` sends.
/// A `size` above the send count is refused (`NodeInterfaceEmulatorSizeBeyondSends`); Nitro
/// there fails or returns a root no Outbox knows, depending on the size and leaf.
contract NodeInterfaceEmulator {
    IArbSysSendTree internal constant ARB_SYS = IArbSysSendTree(address(0x64));

    /// @notice `size` is more than the number of sends made so far.
    /// @dev Selector `0xc7655228` = bytes4(keccak256("NodeInterfaceEmulatorSizeBeyondSends(uint64,uint256)")).
    error NodeInterfaceEmulatorSizeBeyondSends(uint64 size, uint256 sendCount);

    /// @notice Constructs an outbox proof of an L2->L1 send's existence in the outbox
    /// accumulator (nitro-contracts' NodeInterface signature; use eth_call).
    /// @param size The number of elements in the accumulator (the posted root's send count).
    /// @param leaf The position of the send in the accumulator.
    /// @return send The L2->L1 send's item hash (`Outbox.calculateItemHash` of its fields).
    /// @return root The root of the accumulator of `size` sends.
    /// @return proof Level-by-level sibling hashes proving the send under `root`.
    function constructOutboxProof(uint64 size, uint64 leaf)
        external
        view
        returns (bytes32 send, bytes32 root, bytes32[] memory proof)
    {
        uint256 count = ARB_SYS.devnetSendCount();
        if (leaf > count) revert("leaf does not exist");
        if (size > count) revert NodeInterfaceEmulatorSizeBeyondSends(size, count);
        uint256 treeSize = _treeSize(size, leaf);
        if (leaf < count) send = ARB_SYS.devnetSendNode(0, leaf);
        uint256 depth = treeSize <= 1 ? 0 : _bitLength(treeSize - 1);
        proof = new bytes32[](depth);
        root = keccak256(abi.encodePacked(send));
        for (uint256 level = 0; level < depth; level++) {
            bytes32 sibling = _node(level, (uint256(leaf) >> level) ^ 1, treeSize);
            proof[level] = sibling;
            root = (leaf >> level) & 1 == 0
                ? keccak256(abi.encodePacked(root, sibling))
                : keccak256(abi.encodePacked(sibling, root));
        }
    }

    /// @dev The tree Nitro's construction ends up proving against, or its revert.
    function _treeSize(uint64 size, uint64 leaf) internal pure returns (uint256) {
        if (leaf < size) return size;
        if (size == 0 && leaf == 0) return 0;
        if (size >= 3 && size % 2 == 1 && leaf == size) return uint256(size) + 1;
        if (size <= 1) revert("internal error constructing proof: proof is wrong");
        revert("internal error constructing proof: incomplete information");
    }

    /// @dev Node `index` at `level` of the send tree of `n` leaves: zero past the end, the
    /// stored hash of a full subtree, else the hash of its two children.
    function _node(uint256 level, uint256 index, uint256 n) internal view returns (bytes32) {
        uint256 first = index << level;
        if (first >= n) return bytes32(0);
        if (first + (uint256(1) << level) <= n) {
            bytes32 stored = ARB_SYS.devnetSendNode(level, index);
            return level == 0 ? keccak256(abi.encodePacked(stored)) : stored;
        }
        return keccak256(abi.encodePacked(_node(level - 1, 2 * index, n), _node(level - 1, 2 * index + 1, n)));
    }

    /// @dev Number of bits of `x` (0 for 0).
    function _bitLength(uint256 x) internal pure returns (uint256 bits) {
        while (x != 0) {
            bits++;
            x >>= 1;
        }
    }
}
