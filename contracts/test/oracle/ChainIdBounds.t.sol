// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {OracleFixture} from "../utils/Fixtures.sol";
import {MockStore} from "./RiskOracle.t.sol";
import {RiskOracle} from "../../src/oracle/RiskOracle.sol";
import {SignedScores} from "../../src/signed/SignedScores.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";
import {IL2BlockHashStore} from "../../src/bridge/IL2BlockHashStore.sol";

/// @notice Chain ids are uint64 end to end (issue 20): an oracle whose source chain id is
/// 2^63 or 2^64 - 1 (an L2 oracle of that chain, or the L1 oracle on it) takes a journal
/// of that chain and refuses its neighbours; a chainId word of 2^64 is out of range; a
/// signed score of source chain 2^64 - 1 verifies on a chain of that id. The same on a
/// real anvil of chain id 2^64 - 1: tests/hostile/test_chain_id_end_to_end.py.
contract ChainIdBoundsTest is OracleFixture {
    uint64 internal constant TOP = type(uint64).max;
    uint64 internal constant HIGH = uint64(1) << 63;
    uint256 internal constant OP_KEY = 0xA11CE5;

    function l2Oracle(uint64 source, MockStore store) internal returns (RiskOracle l2) {
        l2 = new RiskOracle(OWNER, router, IL2BlockHashStore(address(store)), source, MAX_LAG);
        vm.startPrank(OWNER);
        l2.allowImageId(IMAGE_ID, true);
        l2.registerModel(MODEL, SPEC);
        vm.stopPrank();
    }

    function journalOf(uint64 chainId, MockStore store) internal returns (JournalV1.Journal memory j) {
        j = validJournal();
        j.chainId = chainId;
        j.anchorNumber = 19_000_010;
        j.blockNumber = 19_000_000;
        j.anchorHash = keccak256("l1 block");
        j.requestId = keccak256(abi.encode("request", chainId));
        store.set(j.anchorNumber, j.anchorHash);
    }

    function checkBound(uint64 source) internal {
        MockStore store = new MockStore();
        RiskOracle l2 = l2Oracle(source, store);
        assertEq(l2.sourceChainId(), source, "source chain id kept whole");
        JournalV1.Journal memory j = journalOf(source, store);
        bytes memory journal = JournalV1.encode(j);
        assertEq(uint256(bytes32(_slice32(journal, 32))), uint256(source), "chainId word");
        // a neighbour (one below; one above where it fits) is another chain
        for (uint256 d = 0; d < 2; ++d) {
            if (d == 1 && source == TOP) break;
            JournalV1.Journal memory other = journalOf(d == 0 ? source - 1 : source + 1, store);
            bytes memory raw = JournalV1.encode(other);
            bytes memory seal = sealFor(raw);
            vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleChainMismatch.selector, source, other.chainId));
            l2.submit(raw, seal);
        }
        l2.submit(journal, sealFor(journal));
        (uint32 score, uint64 blockNumber,) = l2.scoreOf(SUBJECT, MODEL);
        assertEq(score, j.score, "stored");
        assertEq(blockNumber, j.blockNumber, "block");
    }

    function test_oracleOfSourceChain2pow63() public {
        checkBound(HIGH);
    }

    function test_oracleOfSourceChain2pow64minus1() public {
        checkBound(TOP);
    }

    /// A chain id word of 2^64 is not a uint64: the journal is refused before any check.
    function test_journalChainIdWordOf2pow64Refused() public {
        MockStore store = new MockStore();
        RiskOracle l2 = l2Oracle(TOP, store);
        bytes memory journal = JournalV1.encode(journalOf(TOP, store));
        assembly {
            mstore(add(journal, 64), shl(64, 1)) // word 1 (chainId) = 2^64
        }
        bytes memory seal = sealFor(journal);
        vm.expectRevert(abi.encodeWithSelector(JournalV1.JournalV1FieldRange.selector, 1));
        l2.submit(journal, seal);
    }

    function test_signedScoreOfSourceChain2pow64minus1Verifies() public {
        vm.chainId(TOP); // the EIP-712 domain's chain id too
        SignedScores signed = new SignedScores(oracle, 1 ether, 2 days);
        address opSigner = vm.addr(OP_KEY);
        vm.deal(address(this), 1 ether);
        signed.register{value: 1 ether}(opSigner);
        JournalV1.Journal memory j = validJournal();
        SignedScores.SignedScore memory s =
            SignedScores.SignedScore(TOP, j.blockNumber, j.subject, j.modelHash, j.featureSpecHash, j.score);
        (uint8 v, bytes32 r, bytes32 sv) = vm.sign(OP_KEY, signed.digestOf(s));
        assertEq(signed.verifySignedScore(s, abi.encodePacked(r, sv, v)), opSigner, "signer");
        s.sourceChainId = TOP - 1; // another statement: recovers another, unbonded address
        vm.expectRevert();
        signed.verifySignedScore(s, abi.encodePacked(r, sv, v));
    }

    /// On L1 the oracle's source chain is its own (block.chainid, cast to uint64).
    function checkL1(uint64 chainId) internal {
        vm.chainId(chainId);
        RiskOracle l1 = new RiskOracle(OWNER, router, IL2BlockHashStore(address(0)), 0, MAX_LAG);
        vm.startPrank(OWNER);
        l1.allowImageId(IMAGE_ID, true);
        l1.registerModel(MODEL, SPEC);
        vm.stopPrank();
        assertEq(l1.sourceChainId(), chainId, "own chain id kept whole");
        JournalV1.Journal memory j = validJournal();
        assertEq(j.chainId, chainId, "journal of this chain");
        bytes memory journal = JournalV1.encode(j);
        l1.submit(journal, sealFor(journal));
        (uint32 score,,) = l1.scoreOf(SUBJECT, MODEL);
        assertEq(score, j.score, "stored");
    }

    function test_l1OracleOnChain2pow63() public {
        checkL1(HIGH);
    }

    function test_l1OracleOnChain2pow64minus1() public {
        checkL1(TOP);
    }

    function _slice32(bytes memory b, uint256 offset) private pure returns (bytes32 out) {
        assembly {
            out := mload(add(add(b, 32), offset))
        }
    }
}
