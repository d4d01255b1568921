// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {Console} from "../utils/Console.sol";
import {OracleFixture} from "../utils/Fixtures.sol";
import {HandClaim} from "./Verifier.t.sol";
import {RiskOracle} from "../../src/oracle/RiskOracle.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";
import {IL2BlockHashStore} from "../../src/bridge/IL2BlockHashStore.sol";
import {IRiscZeroVerifier, Receipt, VerificationFailed} from "risc0/IRiscZeroVerifier.sol";
import {RiscZeroVerifierRouter} from "risc0/RiscZeroVerifierRouter.sol";
import {RiscZeroGroth16Verifier, SelectorMismatch} from "risc0/groth16/RiscZeroGroth16Verifier.sol";
import {ControlID} from "risc0/groth16/ControlID.sol";
import {RiscZeroSetVerifier} from "risc0/RiscZeroSetVerifier.sol";
import {Seal as SetSeal} from "risc0/IRiscZeroSetVerifier.sol";
import {TestReceipt} from "risc0-test/TestReceiptV3_0.sol";

/// RISC Zero's Groth16 verifier 3.0 (their source, their control root) on the real test
/// receipt shipped with risc0-ethereum-contracts: a real Groth16 seal over a real claim.
/// A seal whose points are off the curve makes the pairing precompile fail, which burns all
/// gas given to it: the calls below are capped at VERIFY_GAS (a real verification needs
/// about 230k) so that each rejection stays cheap.
contract Groth16VerifierTest is Test {
    /// The Groth16 verifier 3.0.0 selector, as deployment.toml publishes it (independent of
    /// the constructor, which derives it from the control root and the verifying key).
    bytes4 internal constant PUBLISHED_SELECTOR = 0x73c457ba;
    uint256 internal constant VERIFY_GAS = 1_000_000;

    RiscZeroGroth16Verifier internal groth16;

    function setUp() public {
        groth16 = new RiscZeroGroth16Verifier(ControlID.CONTROL_ROOT, ControlID.BN254_CONTROL_ID);
    }

    function test_selectorIsThePublishedOne() public view {
        assertEq(groth16.SELECTOR(), PUBLISHED_SELECTOR, "selector");
        assertEq(bytes4(TestReceipt.SEAL), PUBLISHED_SELECTOR, "test receipt's seal prefix");
    }

    function test_acceptsTheRealReceipt() public view {
        groth16.verify{gas: VERIFY_GAS}(TestReceipt.SEAL, TestReceipt.IMAGE_ID, sha256(TestReceipt.JOURNAL));
        // the claim digest written out by hand is the one the real proof attests
        bytes32 claim = HandClaim.okDigest(TestReceipt.IMAGE_ID, sha256(TestReceipt.JOURNAL));
        groth16.verifyIntegrity{gas: VERIFY_GAS}(Receipt(TestReceipt.SEAL, claim));
    }

    function test_rejectsEverySealByteChange() public {
        bytes memory seal = TestReceipt.SEAL;
        bytes32 digest = sha256(TestReceipt.JOURNAL);
        for (uint256 i = 0; i < seal.length; ++i) {
            seal[i] ^= 0x01;
            (bool ok,) = address(groth16).staticcall{gas: VERIFY_GAS}(
                abi.encodeCall(IRiscZeroVerifier.verify, (seal, TestReceipt.IMAGE_ID, digest))
            );
            assertFalse(ok, string.concat("seal byte ", str(i), " changed, still accepted"));
            seal[i] ^= 0x01;
        }
    }

    function test_rejectsEveryJournalByteChange() public {
        bytes memory journal = TestReceipt.JOURNAL;
        for (uint256 i = 0; i < journal.length; ++i) {
            journal[i] ^= 0x01;
            (bool ok,) = address(groth16).staticcall{gas: VERIFY_GAS}(
                abi.encodeCall(IRiscZeroVerifier.verify, (TestReceipt.SEAL, TestReceipt.IMAGE_ID, sha256(journal)))
            );
            assertFalse(ok, string.concat("journal byte ", str(i), " changed, still accepted"));
            journal[i] ^= 0x01;
        }
    }

    function test_rejectsEveryImageIdByteChange() public {
        bytes32 digest = sha256(TestReceipt.JOURNAL);
        for (uint256 i = 0; i < 32; ++i) {
            bytes32 image = TestReceipt.IMAGE_ID ^ bytes32(uint256(1) << (8 * i));
            (bool ok,) = address(groth16).staticcall{gas: VERIFY_GAS}(
                abi.encodeCall(IRiscZeroVerifier.verify, (TestReceipt.SEAL, image, digest))
            );
            assertFalse(ok, string.concat("image id byte ", str(31 - i), " changed, still accepted"));
        }
    }

    function testFuzz_anySealByteChangeRejected(uint16 pos, uint8 mask) public {
        vm.assume(mask != 0);
        bytes memory seal = TestReceipt.SEAL;
        uint256 i = pos % seal.length;
        seal[i] ^= bytes1(mask);
        bytes32 digest = sha256(TestReceipt.JOURNAL);
        vm.expectRevert();
        groth16.verify{gas: VERIFY_GAS}(seal, TestReceipt.IMAGE_ID, digest);
    }

    function test_revertReasons() public {
        bytes memory seal = TestReceipt.SEAL;
        bytes32 digest = sha256(TestReceipt.JOURNAL);
        vm.expectRevert(VerificationFailed.selector);
        groth16.verify(seal, bytes32(uint256(TestReceipt.IMAGE_ID) ^ 1), digest);
        seal[0] ^= 0x01;
        vm.expectRevert(abi.encodeWithSelector(SelectorMismatch.selector, bytes4(0x72c457ba), PUBLISHED_SELECTOR));
        groth16.verify(seal, TestReceipt.IMAGE_ID, digest);
    }
}

/// The RiskOracle behind RISC Zero's router: Groth16 3.0 and the dev verifier side by side
/// on a devnet; Groth16 alone in production, where a dev seal must be refused.
contract Groth16OracleWiringTest is OracleFixture {
    RiscZeroGroth16Verifier internal groth16;
    RiscZeroVerifierRouter internal prodRouter;
    RiskOracle internal prodOracle;

    function setUp() public override {
        super.setUp(); // router: dev verifier under 0xFFFFFFFF
        groth16 = new RiscZeroGroth16Verifier(ControlID.CONTROL_ROOT, ControlID.BN254_CONTROL_ID);
        bytes4 selector = groth16.SELECTOR();
        prodRouter = new RiscZeroVerifierRouter(OWNER);
        vm.startPrank(OWNER);
        router.addVerifier(selector, groth16);
        prodRouter.addVerifier(selector, groth16);
        vm.stopPrank();
        prodOracle = new RiskOracle(OWNER, prodRouter, IL2BlockHashStore(address(0)), 0, MAX_LAG);
        vm.startPrank(OWNER);
        prodOracle.allowImageId(IMAGE_ID, true);
        prodOracle.registerModel(MODEL, SPEC);
        vm.stopPrank();
    }

    function test_sideBySideRoutesBySelector() public {
        // the real receipt verifies through the oracle's own router...
        oracle.verifier().verify(TestReceipt.SEAL, TestReceipt.IMAGE_ID, sha256(TestReceipt.JOURNAL));
        // ...a dev seal goes to the dev verifier and is stored...
        bytes memory journal = JournalV1.encode(validJournal());
        oracle.submit(journal, sealFor(journal));
        (uint32 score,,) = oracle.scoreOf(SUBJECT, MODEL);
        assertEq(score, 4321, "dev seal stored");
        // ...and a Groth16 seal for another claim goes to the Groth16 verifier, which refuses it.
        JournalV1.Journal memory j = validJournal();
        j.blockNumber += 1;
        j.requestId = keccak256("groth16");
        bytes memory other = JournalV1.encode(j);
        vm.expectRevert(VerificationFailed.selector);
        oracle.submit(other, TestReceipt.SEAL);
    }

    function test_productionWiringRefusesDevSeals() public {
        bytes memory journal = JournalV1.encode(validJournal());
        bytes memory seal = sealFor(journal);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.SelectorUnknown.selector, bytes4(0xFFFFFFFF)));
        prodOracle.submit(journal, seal);
        prodOracle.verifier().verify(TestReceipt.SEAL, TestReceipt.IMAGE_ID, sha256(TestReceipt.JOURNAL));
    }

    /// Gas of one real Groth16 verification through the router, printed for
    /// bench/contracts_gas.py (execution gas, router and verifier accounts cold).
    function test_gasGroth16ThroughRouter() public {
        bytes memory seal = TestReceipt.SEAL;
        bytes32 digest = sha256(TestReceipt.JOURNAL);
        bytes32 image = TestReceipt.IMAGE_ID;
        uint256 g = gasleft();
        prodRouter.verify(seal, image, digest);
        uint256 used = g - gasleft();
        Console.log("gas: router_groth16_verify", used);
        assertLt(used, 400_000, "a Groth16 verification through the router under 400k");
    }
}

/// RISC Zero's set verifier (the aggregation its proof market uses) behind the same
/// router: one root proven (here by a dev seal for the set-builder image), then each
/// oracle journal verified by Merkle inclusion of its claim digest.
contract SetVerifierOracleTest is OracleFixture {
    /// set-builder image ID, from risc0-ethereum's deployment.toml (any 32 bytes would do here)
    bytes32 internal constant SET_BUILDER = 0x2fcedaa205bbfab6b804dec81e99cc9a22b20dea7a9701a1a7c55c7d26ef32f6;
    RiscZeroSetVerifier internal setVerifier;

    function setUp() public override {
        super.setUp();
        setVerifier = new RiscZeroSetVerifier(router, SET_BUILDER, "");
        bytes4 selector = setVerifier.SELECTOR();
        vm.prank(OWNER);
        router.addVerifier(selector, setVerifier);
    }

    function leafOf(bytes memory journal) internal view returns (bytes32) {
        return keccak256(abi.encodePacked(bytes8("LEAF_TAG"), dev.claimDigest(IMAGE_ID, sha256(journal))));
    }

    function test_oracleAcceptsAResultProvenBySetInclusion() public {
        JournalV1.Journal memory j = validJournal();
        bytes memory journal = JournalV1.encode(j);
        j.subject = address(0xCAFE);
        j.requestId = keccak256("sibling");
        bytes memory sibling = JournalV1.encode(j);
        bytes32 a = leafOf(journal);
        bytes32 b = leafOf(sibling);
        bytes32 root = a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
        bytes32[] memory path = new bytes32[](1);
        path[0] = b;
        bytes memory rootSeal = dev.sealFor(SET_BUILDER, sha256(abi.encodePacked(SET_BUILDER, uint256(1 << 255), root)));
        bytes memory seal = abi.encodePacked(setVerifier.SELECTOR(), abi.encode(SetSeal(path, rootSeal)));
        oracle.submit(journal, seal);
        (uint32 score,,) = oracle.scoreOf(SUBJECT, MODEL);
        assertEq(score, 4321, "stored from a set root");

        // once the root is recorded, a bare inclusion path suffices
        setVerifier.submitMerkleRoot(root, rootSeal);
        path[0] = a;
        bytes memory bare = abi.encodePacked(setVerifier.SELECTOR(), abi.encode(SetSeal(path, "")));
        oracle.submit(sibling, bare);
        (score,,) = oracle.scoreOf(address(0xCAFE), MODEL);
        assertEq(score, 4321, "sibling stored from the recorded root");

        // a journal outside the set is refused
        j.subject = address(0xD00D);
        j.requestId = keccak256("outsider");
        bytes memory outsider = JournalV1.encode(j);
        vm.expectRevert(VerificationFailed.selector);
        oracle.submit(outsider, bare);
    }
}
