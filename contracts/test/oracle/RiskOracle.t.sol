// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {OracleFixture} from "../utils/Fixtures.sol";
import {RiskOracle} from "../../src/oracle/RiskOracle.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";
import {DevVerifier} from "../../src/verifier/DevVerifier.sol";
import {Owned} from "../../src/utils/Owned.sol";
import {IL2BlockHashStore} from "../../src/bridge/IL2BlockHashStore.sol";

contract RiskOracleTest is OracleFixture {
    event ScoreSubmitted(
        address indexed subject, bytes32 indexed modelHash, bytes32 indexed requestId, uint32 score, uint64 blockNumber
    );
    event ImageIdAllowed(bytes32 indexed imageId, bool isDefault);
    event ImageIdRetired(bytes32 indexed imageId);
    event ModelRegistered(bytes32 indexed modelHash, bytes32 indexed featureSpecHash);
    event ModelRetired(bytes32 indexed modelHash);

    function submitJ(JournalV1.Journal memory j) internal {
        bytes memory journal = JournalV1.encode(j);
        oracle.submit(journal, sealFor(journal));
    }

    function expectSubmitRevert(JournalV1.Journal memory j, bytes memory err) internal {
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        vm.expectRevert(err);
        oracle.submit(journal, seal);
    }

    // ---------------------------------------------------------------- happy path

    function test_submitStoresAndEmits() public {
        JournalV1.Journal memory j = validJournal();
        vm.expectEmit();
        emit ScoreSubmitted(SUBJECT, MODEL, j.requestId, 4321, j.blockNumber);
        submitJ(j);
        (uint32 score, uint64 blockNumber, uint64 updatedAt) = oracle.scoreOf(SUBJECT, MODEL);
        assertEq(score, 4321, "score");
        assertEq(blockNumber, j.blockNumber, "block");
        assertEq(updatedAt, block.timestamp, "updatedAt");
        assertTrue(oracle.requestUsed(j.requestId), "request marked");
        (uint32 fresh,) = oracle.freshScoreOf(SUBJECT, MODEL, 0);
        assertEq(fresh, 4321, "fresh read");
    }

    function test_newerResultReplacesOlder() public {
        JournalV1.Journal memory j = validJournal();
        submitJ(j);
        j.blockNumber += 1;
        j.score = 10_000;
        j.requestId = keccak256("second");
        submitJ(j);
        (uint32 score, uint64 blockNumber,) = oracle.scoreOf(SUBJECT, MODEL);
        assertEq(score, 10_000, "score replaced");
        assertEq(blockNumber, j.blockNumber, "block replaced");
    }

    function test_submitWithExplicitImageId() public {
        bytes32 other = keccak256("other image");
        vm.prank(OWNER);
        oracle.allowImageId(other, false);
        bytes memory journal = JournalV1.encode(validJournal());
        bytes memory seal = dev.sealFor(other, sha256(journal));
        vm.expectRevert(); // default image does not match this seal
        oracle.submit(journal, seal);
        oracle.submitWithImageId(other, journal, seal);
    }

    function test_anchorViaHistoryContract() public {
        installHistoryContract();
        vm.roll(20_000);
        JournalV1.Journal memory j = validJournal();
        j.anchorNumber = 20_000 - 300;
        j.anchorHash = keccak256("history");
        j.blockNumber = j.anchorNumber;
        setHistoryHash(j.anchorNumber, j.anchorHash);
        submitJ(j);
        (uint32 score,,) = oracle.scoreOf(SUBJECT, MODEL);
        assertEq(score, j.score, "stored through EIP-2935 anchor");
    }

    function test_anchorBeyondHistoryWindowUnavailable() public {
        installHistoryContract();
        vm.roll(20_000);
        JournalV1.Journal memory j = validJournal();
        j.anchorNumber = 20_000 - 8192;
        j.blockNumber = j.anchorNumber;
        expectSubmitRevert(j, abi.encodeWithSelector(RiskOracle.RiskOracleAnchorUnavailable.selector, j.anchorNumber));
        j.anchorNumber = 20_000 - 8191;
        j.blockNumber = j.anchorNumber;
        j.anchorHash = keccak256("edge");
        setHistoryHash(j.anchorNumber, j.anchorHash);
        submitJ(j);
    }

    function test_anchorOlderThan256WithoutHistoryContractUnavailable() public {
        JournalV1.Journal memory j = validJournal();
        j.anchorNumber = uint64(block.number - 257);
        j.blockNumber = j.anchorNumber;
        expectSubmitRevert(j, abi.encodeWithSelector(RiskOracle.RiskOracleAnchorUnavailable.selector, j.anchorNumber));
    }

    function test_l2OracleUsesBridgedHashes() public {
        MockStore store = new MockStore();
        RiskOracle l2 = new RiskOracle(OWNER, router, IL2BlockHashStore(address(store)), 1, MAX_LAG);
        vm.startPrank(OWNER);
        l2.allowImageId(IMAGE_ID, true);
        l2.registerModel(MODEL, SPEC);
        vm.stopPrank();
        assertEq(l2.sourceChainId(), 1, "source chain");
        JournalV1.Journal memory j = validJournal();
        j.chainId = 1;
        j.anchorNumber = 19_000_010;
        j.blockNumber = 19_000_000;
        j.anchorHash = keccak256("l1 block");
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleAnchorUnavailable.selector, j.anchorNumber));
        l2.submit(journal, seal);
        store.set(j.anchorNumber, keccak256("other"));
        vm.expectRevert(
            abi.encodeWithSelector(
                RiskOracle.RiskOracleAnchorMismatch.selector, j.anchorNumber, keccak256("other"), j.anchorHash
            )
        );
        l2.submit(journal, seal);
        store.set(j.anchorNumber, j.anchorHash);
        l2.submit(journal, seal);
        (uint32 score,,) = l2.scoreOf(SUBJECT, MODEL);
        assertEq(score, j.score, "stored on L2");
    }

    // ---------------------------------------------------------------- revert paths

    function test_revert_journalLengthVersionRange() public {
        bytes memory journal = JournalV1.encode(validJournal());
        bytes memory shortJ = new bytes(319);
        bytes memory seal = sealFor(shortJ);
        vm.expectRevert(abi.encodeWithSelector(JournalV1.JournalV1Length.selector, 319));
        oracle.submit(shortJ, seal);
        bytes memory longJ = bytes.concat(journal, hex"00");
        seal = sealFor(longJ);
        vm.expectRevert(abi.encodeWithSelector(JournalV1.JournalV1Length.selector, 321));
        oracle.submit(longJ, seal);

        JournalV1.Journal memory j = validJournal();
        j.version = 2;
        expectSubmitRevert(j, abi.encodeWithSelector(JournalV1.JournalV1Version.selector, 2));

        bytes memory dirty = JournalV1.encode(validJournal());
        dirty[4 * 32 + 23] = 0x01; // a bit above uint64 in word 4 (blockNumber)
        seal = sealFor(dirty);
        vm.expectRevert(abi.encodeWithSelector(JournalV1.JournalV1FieldRange.selector, 4));
        oracle.submit(dirty, seal);
    }

    function test_revert_chainMismatch() public {
        JournalV1.Journal memory j = validJournal();
        j.chainId = j.chainId + 1;
        expectSubmitRevert(
            j, abi.encodeWithSelector(RiskOracle.RiskOracleChainMismatch.selector, uint64(block.chainid), j.chainId)
        );
    }

    function test_revert_anchorMismatchAndFuture() public {
        JournalV1.Journal memory j = validJournal();
        bytes32 good = j.anchorHash;
        j.anchorHash = keccak256("forged");
        expectSubmitRevert(
            j, abi.encodeWithSelector(RiskOracle.RiskOracleAnchorMismatch.selector, j.anchorNumber, good, j.anchorHash)
        );
        j = validJournal();
        j.anchorNumber = uint64(block.number);
        expectSubmitRevert(j, abi.encodeWithSelector(RiskOracle.RiskOracleAnchorUnavailable.selector, j.anchorNumber));
    }

    function test_revert_blockVsAnchor() public {
        JournalV1.Journal memory j = validJournal();
        j.blockNumber = j.anchorNumber + 1;
        expectSubmitRevert(
            j, abi.encodeWithSelector(RiskOracle.RiskOracleBlockAfterAnchor.selector, j.blockNumber, j.anchorNumber)
        );
        j.blockNumber = j.anchorNumber - MAX_LAG - 1;
        expectSubmitRevert(
            j, abi.encodeWithSelector(RiskOracle.RiskOracleAnchorTooFar.selector, j.blockNumber, j.anchorNumber)
        );
    }

    function test_revert_resultFields() public {
        JournalV1.Journal memory j = validJournal();
        j.subject = address(0);
        expectSubmitRevert(j, abi.encodeWithSelector(RiskOracle.RiskOracleZeroSubject.selector));
        j = validJournal();
        j.score = 10_001;
        expectSubmitRevert(j, abi.encodeWithSelector(RiskOracle.RiskOracleScoreOutOfRange.selector, 10_001));
        j = validJournal();
        j.modelHash = keccak256("unknown model");
        expectSubmitRevert(j, abi.encodeWithSelector(RiskOracle.RiskOracleModelUnknown.selector, j.modelHash));
        j = validJournal();
        j.featureSpecHash = keccak256("other spec");
        expectSubmitRevert(
            j, abi.encodeWithSelector(RiskOracle.RiskOracleFeatureSpecMismatch.selector, SPEC, j.featureSpecHash)
        );
        j = validJournal();
        j.requestId = bytes32(0);
        expectSubmitRevert(j, abi.encodeWithSelector(RiskOracle.RiskOracleZeroValue.selector));
    }

    function test_revert_staleDuplicateReplay() public {
        JournalV1.Journal memory j = validJournal();
        submitJ(j);
        // the very same receipt again: replay
        expectSubmitRevert(j, abi.encodeWithSelector(RiskOracle.RiskOracleRequestReplayed.selector, j.requestId));
        // same block, fresh request id: duplicate
        j.requestId = keccak256("fresh");
        expectSubmitRevert(j, abi.encodeWithSelector(RiskOracle.RiskOracleStale.selector, j.blockNumber, j.blockNumber));
        // older block
        uint64 stored = j.blockNumber;
        j.blockNumber -= 1;
        expectSubmitRevert(j, abi.encodeWithSelector(RiskOracle.RiskOracleStale.selector, stored, j.blockNumber));
        // newer block, used request id: replayed
        j = validJournal();
        j.blockNumber += 1;
        expectSubmitRevert(j, abi.encodeWithSelector(RiskOracle.RiskOracleRequestReplayed.selector, j.requestId));
    }

    /// Replays and stale results are turned away before the (expensive) verifier runs:
    /// even a worthless seal gets the replay/stale error, not a verifier error.
    function test_replayRejectedBeforeVerifier() public {
        JournalV1.Journal memory j = validJournal();
        submitJ(j);
        bytes memory journal = JournalV1.encode(j);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleRequestReplayed.selector, j.requestId));
        oracle.submit(journal, hex"deadbeef");
        j.requestId = keccak256("new");
        journal = JournalV1.encode(j);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleStale.selector, j.blockNumber, j.blockNumber));
        oracle.submit(journal, hex"deadbeef");
    }

    function test_revert_badSeal() public {
        bytes memory journal = JournalV1.encode(validJournal());
        bytes memory seal = sealFor(journal);
        seal[35] = bytes1(uint8(seal[35]) ^ 1);
        vm.expectRevert();
        oracle.submit(journal, seal);
    }

    function test_revert_imageIds() public {
        bytes memory journal = JournalV1.encode(validJournal());
        bytes memory seal = sealFor(journal);
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleImageIdNotAllowed.selector, unknown));
        oracle.submitWithImageId(unknown, journal, seal);
        vm.expectEmit();
        emit ImageIdRetired(IMAGE_ID);
        vm.prank(OWNER);
        oracle.retireImageId(IMAGE_ID);
        vm.expectRevert(RiskOracle.RiskOracleNoImageId.selector);
        oracle.submit(journal, seal);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleImageIdNotAllowed.selector, IMAGE_ID));
        oracle.submitWithImageId(IMAGE_ID, journal, seal);
        vm.expectRevert(RiskOracle.RiskOracleNoImageId.selector);
        oracle.validateReceipt(journal, seal);
    }

    function test_revert_governance() public {
        vm.startPrank(OWNER);
        vm.expectRevert(RiskOracle.RiskOracleZeroValue.selector);
        oracle.allowImageId(bytes32(0), true);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleImageIdNotAllowed.selector, keccak256("x")));
        oracle.retireImageId(keccak256("x"));
        vm.expectRevert(RiskOracle.RiskOracleZeroValue.selector);
        oracle.registerModel(bytes32(0), SPEC);
        vm.expectRevert(RiskOracle.RiskOracleZeroValue.selector);
        oracle.registerModel(keccak256("m2"), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleModelRegistered.selector, MODEL));
        oracle.registerModel(MODEL, SPEC);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleModelUnknown.selector, keccak256("m2")));
        oracle.retireModel(keccak256("m2"));
        vm.expectEmit();
        emit ModelRetired(MODEL);
        oracle.retireModel(MODEL);
        vm.expectEmit();
        emit ModelRegistered(keccak256("m2"), SPEC);
        oracle.registerModel(keccak256("m2"), SPEC);
        vm.expectEmit();
        emit ImageIdAllowed(keccak256("i2"), false);
        oracle.allowImageId(keccak256("i2"), false);
        vm.stopPrank();

        vm.expectRevert(abi.encodeWithSelector(Owned.OwnedUnauthorized.selector, address(this)));
        oracle.allowImageId(keccak256("i3"), true);
        vm.expectRevert(abi.encodeWithSelector(Owned.OwnedUnauthorized.selector, address(this)));
        oracle.retireImageId(IMAGE_ID);
        vm.expectRevert(abi.encodeWithSelector(Owned.OwnedUnauthorized.selector, address(this)));
        oracle.registerModel(keccak256("m3"), SPEC);
        vm.expectRevert(abi.encodeWithSelector(Owned.OwnedUnauthorized.selector, address(this)));
        oracle.retireModel(keccak256("m2"));
    }

    function test_revert_zeroOwner() public {
        vm.expectRevert(Owned.OwnedZeroOwner.selector);
        new RiskOracle(address(0), router, IL2BlockHashStore(address(0)), 0, MAX_LAG);
    }

    function test_revert_freshReads() public {
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleNoScore.selector, SUBJECT, MODEL));
        oracle.freshScoreOf(SUBJECT, MODEL, 1 days);
        submitJ(validJournal());
        uint64 t = uint64(block.timestamp);
        vm.warp(block.timestamp + 1 days + 1);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleScoreTooOld.selector, t, 1 days));
        oracle.freshScoreOf(SUBJECT, MODEL, 1 days);
        oracle.freshScoreOf(SUBJECT, MODEL, 1 days + 1);
        vm.prank(OWNER);
        oracle.retireModel(MODEL);
        vm.expectRevert(abi.encodeWithSelector(RiskOracle.RiskOracleModelUnknown.selector, MODEL));
        oracle.freshScoreOf(SUBJECT, MODEL, 2 days);
        expectSubmitRevert(validJournal(), abi.encodeWithSelector(RiskOracle.RiskOracleModelUnknown.selector, MODEL));
    }

    // ---------------------------------------------------------------- fuzz

    /// A journal of random words never gets in (with a seal valid for those very bytes).
    function testFuzz_randomJournalRejected(bytes32[10] memory words) public {
        bytes memory journal = abi.encodePacked(words);
        bytes memory seal = sealFor(journal);
        vm.expectRevert();
        oracle.submit(journal, seal);
    }

    /// Random field values, properly encoded and sealed: accepted exactly when every rule holds.
    function testFuzz_randomFieldsMatchRules(
        uint64 chainId,
        uint64 anchorDelta,
        uint64 lag,
        uint32 score,
        bool knownModel,
        bool zeroRequest
    ) public {
        JournalV1.Journal memory j = validJournal();
        j.chainId = chainId % 3 == 0 ? j.chainId : chainId;
        j.anchorNumber = uint64(block.number - 1 - (anchorDelta % 3));
        j.anchorHash = blockhash(j.anchorNumber);
        lag = lag % (2 * MAX_LAG);
        j.blockNumber = j.anchorNumber - lag;
        j.score = score % 20_000;
        j.modelHash = knownModel ? MODEL : keccak256(abi.encode(score));
        j.requestId = zeroRequest ? bytes32(0) : j.requestId;
        bool ok = j.chainId == block.chainid && j.anchorHash != bytes32(0) && lag <= MAX_LAG && j.score <= 10_000
            && knownModel && !zeroRequest;
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        if (!ok) vm.expectRevert();
        oracle.submit(journal, seal);
        (uint32 stored,,) = oracle.scoreOf(SUBJECT, MODEL);
        assertEq(stored, ok ? j.score : 0, "stored iff valid");
    }

    /// Changing any word of a valid journal (keeping its seal) is rejected.
    function testFuzz_eachJournalWordChangedRejected(uint8 index, bytes32 value) public {
        bytes memory journal = JournalV1.encode(validJournal());
        bytes memory seal = sealFor(journal);
        uint256 w = index % 10;
        bytes32 old;
        assembly {
            old := mload(add(add(journal, 32), mul(w, 32)))
        }
        vm.assume(old != value);
        assembly {
            mstore(add(add(journal, 32), mul(w, 32)), value)
        }
        vm.expectRevert();
        oracle.submit(journal, seal);
    }

    /// Changing any byte of a valid seal is rejected.
    function testFuzz_eachSealByteChangedRejected(uint8 pos, uint8 mask) public {
        vm.assume(mask != 0);
        bytes memory journal = JournalV1.encode(validJournal());
        bytes memory seal = sealFor(journal);
        seal[pos % seal.length] = bytes1(uint8(seal[pos % seal.length]) ^ mask);
        vm.expectRevert();
        oracle.submit(journal, seal);
    }

    /// bytes32(0) in any hash/id field is rejected even with a seal that matches it.
    function testFuzz_zeroHashFieldsRejected(uint8 which) public {
        JournalV1.Journal memory j = validJournal();
        uint8 k = which % 4;
        if (k == 0) j.anchorHash = bytes32(0);
        if (k == 1) j.modelHash = bytes32(0);
        if (k == 2) j.featureSpecHash = bytes32(0);
        if (k == 3) j.requestId = bytes32(0);
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        vm.expectRevert();
        oracle.submit(journal, seal);
    }
}

contract MockStore is IL2BlockHashStore {
    mapping(uint256 => bytes32) internal _h;

    function set(uint256 n, bytes32 h) external {
        _h[n] = h;
    }

    function blockHashOf(uint256 n) external view returns (bytes32) {
        return _h[n];
    }
}
