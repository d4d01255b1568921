// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {DevVerifier} from "../../src/verifier/DevVerifier.sol";
import {IRiscZeroVerifier, Receipt, ReceiptClaim, ReceiptClaimLib} from "risc0/IRiscZeroVerifier.sol";
import {RiscZeroVerifierRouter} from "risc0/RiscZeroVerifierRouter.sol";
import {RiscZeroVerifierEmergencyStop} from "risc0/RiscZeroVerifierEmergencyStop.sol";
import {Ownable} from "openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "openzeppelin/contracts/utils/Pausable.sol";

/// @dev RISC Zero's claim digest written out from its definition (tagged structs:
/// sha256(sha256(tag) ‖ child digests ‖ u32 LE data ‖ u16 LE child count)), independently
/// of ReceiptClaimLib, which DevVerifier and the real verifiers use.
library HandClaim {
    function okDigest(bytes32 imageId, bytes32 journalDigest) internal pure returns (bytes32) {
        bytes32 post = sha256(abi.encodePacked(sha256("risc0.SystemState"), bytes32(0), uint32(0), uint16(1) << 8));
        bytes32 output = sha256(abi.encodePacked(sha256("risc0.Output"), journalDigest, bytes32(0), uint16(2) << 8));
        return sha256(
            abi.encodePacked(
                sha256("risc0.ReceiptClaim"), bytes32(0), imageId, post, output, uint32(0), uint32(0), uint16(4) << 8
            )
        );
    }
}

contract DevVerifierTest is Test {
    using ReceiptClaimLib for ReceiptClaim;

    DevVerifier internal dev;
    bytes32 internal constant IMAGE = bytes32(uint256(0x1234));
    bytes32 internal constant JD = bytes32(uint256(0x5678));

    function setUp() public {
        dev = new DevVerifier();
    }

    /// Independent known answer: RISC Zero publishes the digest of the zero SystemState.
    function test_handClaimMatchesPublishedConstantAndRiscZeroLib() public pure {
        bytes32 post = sha256(abi.encodePacked(sha256("risc0.SystemState"), bytes32(0), uint32(0), uint16(1) << 8));
        assertEq(post, 0xa3acc27117418996340b84e5a90f3ef4c49d22c79e44aad822ec9c313e1eb8e2, "zero system state");
        assertEq(HandClaim.okDigest(IMAGE, JD), ReceiptClaimLib.ok(IMAGE, JD).digest(), "claim digest");
    }

    function testFuzz_claimDigestAgreesWithRiscZero(bytes32 image, bytes32 jd) public view {
        assertEq(dev.claimDigest(image, jd), HandClaim.okDigest(image, jd), "dev");
        assertEq(dev.claimDigest(image, jd), ReceiptClaimLib.ok(image, jd).digest(), "lib");
    }

    function test_acceptsDevSeal() public view {
        dev.verify(dev.sealFor(IMAGE, JD), IMAGE, JD);
        bytes memory seal = abi.encodePacked(bytes4(0xFFFFFFFF), HandClaim.okDigest(IMAGE, JD));
        dev.verify(seal, IMAGE, JD);
        dev.verifyIntegrity(Receipt(seal, HandClaim.okDigest(IMAGE, JD)));
    }

    function test_rejectsShortAndLongSeal() public {
        bytes memory seal = dev.sealFor(IMAGE, JD);
        vm.expectRevert(abi.encodeWithSelector(DevVerifier.DevVerifierSealLength.selector, 37));
        dev.verify(bytes.concat(seal, hex"00"), IMAGE, JD);
        vm.expectRevert(abi.encodeWithSelector(DevVerifier.DevVerifierSealLength.selector, 0));
        dev.verify("", IMAGE, JD);
        Receipt memory longReceipt = Receipt(bytes.concat(seal, hex"00"), HandClaim.okDigest(IMAGE, JD));
        vm.expectRevert(abi.encodeWithSelector(DevVerifier.DevVerifierSealLength.selector, 37));
        dev.verifyIntegrity(longReceipt);
    }

    function test_rejectsWrongSelector() public {
        bytes memory seal = abi.encodePacked(bytes4(0xFFFFFFFE), HandClaim.okDigest(IMAGE, JD));
        vm.expectRevert(abi.encodeWithSelector(DevVerifier.DevVerifierSelectorMismatch.selector, bytes4(0xFFFFFFFE)));
        dev.verify(seal, IMAGE, JD);
    }

    function test_rejectsZeroImageOrDigest() public {
        bytes memory seal = dev.sealFor(bytes32(0), JD);
        vm.expectRevert(DevVerifier.DevVerifierZeroInput.selector);
        dev.verify(seal, bytes32(0), JD);
        seal = dev.sealFor(IMAGE, bytes32(0));
        vm.expectRevert(DevVerifier.DevVerifierZeroInput.selector);
        dev.verify(seal, IMAGE, bytes32(0));
    }

    function test_rejectsWrongClaimDigest() public {
        bytes32 good = HandClaim.okDigest(IMAGE, JD);
        bytes memory seal = abi.encodePacked(bytes4(0xFFFFFFFF), bytes32(uint256(good) ^ 1));
        vm.expectRevert(
            abi.encodeWithSelector(DevVerifier.DevVerifierClaimMismatch.selector, good, bytes32(uint256(good) ^ 1))
        );
        dev.verify(seal, IMAGE, JD);
        Receipt memory wrong = Receipt(dev.sealFor(IMAGE, JD), bytes32(uint256(good) ^ 1));
        vm.expectRevert(
            abi.encodeWithSelector(DevVerifier.DevVerifierClaimMismatch.selector, bytes32(uint256(good) ^ 1), good)
        );
        dev.verifyIntegrity(wrong);
    }

    function test_rejectsOtherImageOrJournal() public {
        bytes memory seal = dev.sealFor(IMAGE, JD);
        vm.expectRevert();
        dev.verify(seal, bytes32(uint256(IMAGE) + 1), JD);
        vm.expectRevert();
        dev.verify(seal, IMAGE, bytes32(uint256(JD) + 1));
    }

    function testFuzz_anyByteFlipRejected(bytes32 image, bytes32 jd, uint8 pos, uint8 mask) public {
        vm.assume(mask != 0);
        bytes memory seal = dev.sealFor(image, jd);
        seal[pos % 36] = bytes1(uint8(seal[pos % 36]) ^ mask);
        vm.expectRevert();
        dev.verify(seal, image, jd);
    }

    function testFuzz_otherImageRejected(bytes32 image, bytes32 other, bytes32 jd) public {
        vm.assume(image != other);
        bytes memory seal = dev.sealFor(image, jd);
        vm.expectRevert();
        dev.verify(seal, other, jd);
    }
}

/// @dev A second verifier with its own selector, to check routing by selector.
contract TaggedVerifier is IRiscZeroVerifier {
    error TaggedVerifierCalled(bytes4 selector);

    function verify(bytes calldata seal, bytes32, bytes32) external pure {
        revert TaggedVerifierCalled(bytes4(seal[:4]));
    }

    function verifyIntegrity(Receipt calldata receipt) external pure {
        revert TaggedVerifierCalled(bytes4(receipt.seal[:4]));
    }
}

/// RISC Zero's router and emergency stop, as this project relies on them: routing by the
/// seal's first 4 bytes, unknown and removed selectors, owner-only changes, a stopped
/// verifier. (The project had its own router before; it is gone: this is RISC Zero's.)
contract RouterTest is Test {
    address internal constant OWNER = address(0xA11CE);
    RiscZeroVerifierRouter internal router;
    DevVerifier internal dev;
    bytes32 internal constant IMAGE = bytes32(uint256(7));
    bytes32 internal constant JD = bytes32(uint256(8));

    function setUp() public {
        router = new RiscZeroVerifierRouter(OWNER);
        dev = new DevVerifier();
    }

    function test_routesBySelector() public {
        TaggedVerifier tagged = new TaggedVerifier();
        vm.startPrank(OWNER);
        router.addVerifier(0xFFFFFFFF, dev);
        router.addVerifier(0x01020304, tagged);
        vm.stopPrank();
        assertEq(address(router.getVerifier(bytes4(0xFFFFFFFF))), address(dev), "dev registered");
        router.verify(dev.sealFor(IMAGE, JD), IMAGE, JD);
        vm.expectRevert(abi.encodeWithSelector(TaggedVerifier.TaggedVerifierCalled.selector, bytes4(0x01020304)));
        router.verify(hex"01020304aa", IMAGE, JD);
        // A dev seal with a flipped claim bit reaches the dev verifier and is refused there.
        bytes memory bad = dev.sealFor(IMAGE, JD);
        bad[35] = bytes1(uint8(bad[35]) ^ 1);
        vm.expectRevert();
        router.verify(bad, IMAGE, JD);
    }

    function test_unknownSelector() public {
        bytes memory seal = dev.sealFor(IMAGE, JD);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.SelectorUnknown.selector, bytes4(0xFFFFFFFF)));
        router.verify(seal, IMAGE, JD);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.SelectorUnknown.selector, bytes4(0x01020304)));
        router.verify(hex"01020304", IMAGE, JD);
        // A seal shorter than a selector never verifies (the slice reverts).
        vm.expectRevert();
        router.verify(hex"ffffff", IMAGE, JD);
    }

    function test_removedSelectorCanNeverBeReused() public {
        DevVerifier other = new DevVerifier();
        vm.startPrank(OWNER);
        router.addVerifier(0xFFFFFFFF, dev);
        router.removeVerifier(0xFFFFFFFF);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.SelectorRemoved.selector, bytes4(0xFFFFFFFF)));
        router.addVerifier(0xFFFFFFFF, other);
        vm.stopPrank();
        bytes memory seal = dev.sealFor(IMAGE, JD);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.SelectorRemoved.selector, bytes4(0xFFFFFFFF)));
        router.verify(seal, IMAGE, JD);
    }

    function test_revertPaths() public {
        vm.startPrank(OWNER);
        router.addVerifier(0xFFFFFFFF, dev);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.SelectorInUse.selector, bytes4(0xFFFFFFFF)));
        router.addVerifier(0xFFFFFFFF, dev);
        vm.expectRevert(RiscZeroVerifierRouter.VerifierAddressZero.selector);
        router.addVerifier(0x01020304, IRiscZeroVerifier(address(0)));
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.SelectorUnknown.selector, bytes4(0x01020304)));
        router.removeVerifier(0x01020304);
        vm.stopPrank();

        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        router.addVerifier(0x01020304, dev);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        router.removeVerifier(0xFFFFFFFF);
    }

    function test_twoStepOwnership() public {
        vm.prank(OWNER);
        router.transferOwnership(address(this));
        assertEq(router.owner(), OWNER, "not yet");
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(0xBAD)));
        vm.prank(address(0xBAD));
        router.acceptOwnership();
        router.acceptOwnership();
        assertEq(router.owner(), address(this), "accepted");
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new RiscZeroVerifierRouter(address(0));
    }

    /// A verifier behind RISC Zero's emergency stop: once stopped (guardian only), every
    /// seal it would have accepted is refused through the router, for good.
    function test_stoppedVerifierRefusesEverything() public {
        address guardian = address(0x6A7D);
        RiscZeroVerifierEmergencyStop estop = new RiscZeroVerifierEmergencyStop(dev, guardian);
        vm.prank(OWNER);
        router.addVerifier(0xFFFFFFFF, estop);
        bytes memory seal = dev.sealFor(IMAGE, JD);
        router.verify(seal, IMAGE, JD);

        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        estop.estop();
        vm.prank(guardian);
        estop.estop();
        assertTrue(estop.paused(), "stopped");
        vm.expectRevert(Pausable.EnforcedPause.selector);
        router.verify(seal, IMAGE, JD);
        Receipt memory receipt = Receipt(seal, dev.claimDigest(IMAGE, JD));
        vm.expectRevert(Pausable.EnforcedPause.selector);
        router.verifyIntegrity(receipt);
        // A proof of exploit must be about the all-zero claim.
        vm.expectRevert(RiscZeroVerifierEmergencyStop.InvalidProofOfExploit.selector);
        estop.estop(Receipt(seal, bytes32(uint256(1))));
    }
}
