// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {ArbSysEmulator} from "../../src/arbos/ArbSysEmulator.sol";
import {NodeInterfaceEmulator} from "../../src/arbos/NodeInterfaceEmulator.sol";

/// @notice NodeInterface.constructOutboxProof (emulated at 0xc8) against a send tree rebuilt
/// here from the item hashes by plain recursion, the Outbox's fold of a proof, and the root
/// the ArbSys emulator reported when the tree had that size.
contract NodeInterfaceEmulatorTest is Test {
    ArbSysEmulator internal arbSys;
    NodeInterfaceEmulator internal nodeInterface;
    address internal constant DEST = address(0x99);
    uint256 internal constant SENDS = 13;

    bytes32[] internal _items;
    /// @dev _roots[k] = sendMerkleTreeState().root once k sends were made
    bytes32[] internal _roots;

    event SendMerkleUpdate(uint256 indexed reserved, bytes32 indexed hash, uint256 indexed position);

    function setUp() public {
        vm.etch(address(0x64), address(new ArbSysEmulator()).code);
        vm.etch(address(0xc8), address(new NodeInterfaceEmulator()).code);
        arbSys = ArbSysEmulator(address(0x64));
        nodeInterface = NodeInterfaceEmulator(address(0xc8));
        arbSys.devnetInit(address(this));
        _roots.push(bytes32(0));
        for (uint256 i = 0; i < SENDS; i++) {
            _sendOne(i);
        }
    }

    function _sendOne(uint256 i) internal {
        bytes memory data = abi.encode(i);
        arbSys.sendTxToL1(DEST, data);
        _items.push(
            keccak256(abi.encodePacked(address(this), DEST, block.number, uint256(0), block.timestamp, uint256(0), data))
        );
        (, bytes32 root,) = arbSys.sendMerkleTreeState();
        _roots.push(root);
    }

    /// @dev Node `index` at `level` of the tree over `items[0..n)`, by recursion from the leaves.
    function _subtree(bytes32[] memory items, uint256 level, uint256 index, uint256 n) internal pure returns (bytes32) {
        if (index << level >= n) return bytes32(0);
        if (level == 0) return keccak256(abi.encodePacked(items[index]));
        return keccak256(
            abi.encodePacked(_subtree(items, level - 1, 2 * index, n), _subtree(items, level - 1, 2 * index + 1, n))
        );
    }

    function _depth(uint256 n) internal pure returns (uint256 d) {
        while ((uint256(1) << d) < n) d++;
    }

    /// @dev Outbox.calculateMerkleRoot: MerkleLib.calculateRoot(proof, path, keccak256(item)).
    function _fold(bytes32[] memory proof, uint256 path, bytes32 item) internal pure returns (bytes32 h) {
        h = keccak256(abi.encodePacked(item));
        for (uint256 i = 0; i < proof.length; i++) {
            h = (path & 1) == 0 ? keccak256(abi.encodePacked(h, proof[i])) : keccak256(abi.encodePacked(proof[i], h));
            path >>= 1;
        }
    }

    function _bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint64) {
        return uint64(lo + (x % (hi - lo + 1)));
    }

    function testEveryProofOfEveryPostedSize() public view {
        bytes32[] memory items = _items;
        for (uint64 size = 1; size <= SENDS; size++) {
            uint256 d = _depth(size);
            bytes32 expectedRoot = _subtree(items, d, 0, size);
            assertEq(expectedRoot, _roots[size], "recursion == accumulator");
            for (uint64 leaf = 0; leaf < size; leaf++) {
                (bytes32 send, bytes32 root, bytes32[] memory proof) = nodeInterface.constructOutboxProof(size, leaf);
                assertEq(send, items[leaf], "send");
                assertEq(root, expectedRoot, "root");
                assertEq(proof.length, d, "depth");
                for (uint256 level = 0; level < d; level++) {
                    assertEq(proof[level], _subtree(items, level, (leaf >> level) ^ 1, size), "sibling");
                }
                assertEq(_fold(proof, leaf, send), root, "Outbox fold");
                assertLt(leaf, uint256(1) << proof.length, "path minimal");
            }
        }
    }

    function testLeafBeyondTheSendsReverts() public {
        vm.expectRevert(bytes("leaf does not exist"));
        nodeInterface.constructOutboxProof(5, uint64(SENDS + 1));
        vm.expectRevert(bytes("leaf does not exist"));
        nodeInterface.constructOutboxProof(0, type(uint64).max);
    }

    function testSizeBeyondTheSendsReverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(NodeInterfaceEmulator.NodeInterfaceEmulatorSizeBeyondSends.selector, SENDS + 1, SENDS)
        );
        nodeInterface.constructOutboxProof(uint64(SENDS + 1), 0);
    }

    function testLeafAtOrAfterSizeRevertsAsNitro() public {
        vm.expectRevert(bytes("internal error constructing proof: proof is wrong"));
        nodeInterface.constructOutboxProof(1, 1);
        vm.expectRevert(bytes("internal error constructing proof: proof is wrong"));
        nodeInterface.constructOutboxProof(0, 3);
        vm.expectRevert(bytes("internal error constructing proof: incomplete information"));
        nodeInterface.constructOutboxProof(4, 4);
        vm.expectRevert(bytes("internal error constructing proof: incomplete information"));
        nodeInterface.constructOutboxProof(5, 6);
        vm.expectRevert(bytes("internal error constructing proof: incomplete information"));
        nodeInterface.constructOutboxProof(2, 2);
    }

    function testNitroQuirksWhereItsWalkDoesNotNotice() public view {
        bytes32[] memory items = _items;
        // size 0, leaf 0: the leaf alone, as if it were the root
        (bytes32 send, bytes32 root, bytes32[] memory proof) = nodeInterface.constructOutboxProof(0, 0);
        assertEq(send, items[0], "send 0");
        assertEq(root, keccak256(abi.encodePacked(items[0])), "leaf as root");
        assertEq(proof.length, 0, "no siblings");
        // odd size, leaf == size: the proof in the tree of size + 1, not a root of `size`
        (send, root, proof) = nodeInterface.constructOutboxProof(5, 5);
        assertEq(send, items[5], "send 5");
        assertEq(root, _roots[6], "root of 6 sends");
        assertTrue(root != _roots[5], "not the root of 5");
        assertEq(_fold(proof, 5, send), root, "fold");
    }

    function testQuirkAtTheNewestSendCountsTheMissingSendAsZero() public {
        _sendOne(SENDS); // 14 sends
        _sendOne(SENDS + 1); // 15 sends: odd
        (bytes32 send, bytes32 root, bytes32[] memory proof) = nodeInterface.constructOutboxProof(15, 15);
        assertEq(send, bytes32(0), "no send 15");
        bytes32[] memory items = new bytes32[](16);
        for (uint256 i = 0; i < 15; i++) {
            items[i] = _items[i];
        }
        assertEq(root, _subtree(items, 4, 0, 16), "tree of 16 with a zero item");
        assertEq(proof.length, 4, "depth");
    }

    function testFuzzAnswersOrRevertsLikeNitro(uint256 s, uint256 l) public {
        uint64 size = _bound(s, 0, SENDS);
        uint64 leaf = _bound(l, 0, SENDS + 2);
        bool quirk = (size == 0 && leaf == 0) || (size >= 3 && size % 2 == 1 && leaf == size);
        if (leaf > SENDS) {
            vm.expectRevert(bytes("leaf does not exist"));
        } else if (leaf >= size && !quirk) {
            vm.expectRevert(
                size <= 1
                    ? bytes("internal error constructing proof: proof is wrong")
                    : bytes("internal error constructing proof: incomplete information")
            );
        }
        (bytes32 send, bytes32 root, bytes32[] memory proof) = nodeInterface.constructOutboxProof(size, leaf);
        if (leaf < size) {
            assertEq(root, _roots[size], "posted root");
            assertEq(send, _items[leaf], "send");
            assertEq(_fold(proof, leaf, send), root, "fold");
        }
    }

    function testSendMerkleUpdateIsNitros() public {
        // the 16th send (leaf 15) completes subtrees at levels 1..4, each announced with leaf 15
        _sendOne(13);
        _sendOne(14);
        bytes memory data = abi.encode(uint256(15));
        bytes32 item = keccak256(
            abi.encodePacked(address(this), DEST, block.number, uint256(0), block.timestamp, uint256(0), data)
        );
        bytes32[] memory items = new bytes32[](16);
        for (uint256 i = 0; i < 15; i++) {
            items[i] = _items[i];
        }
        items[15] = item;
        for (uint256 level = 1; level <= 4; level++) {
            vm.expectEmit(true, true, true, true);
            emit SendMerkleUpdate(0, _subtree(items, level, 15 >> level, 16), (level << 192) + 15);
        }
        arbSys.sendTxToL1(DEST, data);
        assertEq(arbSys.devnetSendNode(4, 0), _subtree(items, 4, 0, 16), "stored root of 16");
        assertEq(arbSys.devnetSendNode(0, 15), item, "stored item");
        assertEq(arbSys.devnetSendCount(), 16, "count");
    }
}
