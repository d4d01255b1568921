// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {DevVerifier} from "../../src/verifier/DevVerifier.sol";
import {ReceiptClaim} from "../../src/verifier/ReceiptClaim.sol";
import {RiscZeroVerifierRouter} from "../../src/verifier/RiscZeroVerifierRouter.sol";
import {IRiscZeroVerifier} from "../../src/verifier/IRiscZeroVerifier.sol";
import {Owned} from "../../src/utils/Owned.sol";

contract DevVerifierTest is Test {
    DevVerifier internal dev;
    bytes32 internal constant IMAGE = bytes32(uint256(0x1234));
    bytes32 internal constant JD = bytes32(uint256(0x5678));

    function setUp() public {
        dev = new DevVerifier();
    }

    /// Independent known answer: RISC Zero publishes this digest of the zero SystemState
    /// (risc0-ethereum's SYSTEM_STATE_ZERO_DIGEST constant).
    function test_haltedPostStateIsPublishedConstant() public pure {
        assertEq(
            ReceiptClaim.HALTED_POST_STATE,
            0xa3acc27117418996340b84e5a90f3ef4c49d22c79e44aad822ec9c313e1eb8e2,
            "zero system state digest"
        );
        assertEq(ReceiptClaim.CLAIM_TAG, sha256("risc0.ReceiptClaim"), "claim tag");
    }

    function test_acceptsDevSeal() public view {
        dev.verify(dev.sealFor(IMAGE, JD), IMAGE, JD);
        bytes memory seal = abi.encodePacked(bytes4(0xFFFFFFFF), ReceiptClaim.okDigest(IMAGE, JD));
        dev.verify(seal, IMAGE, JD);
    }

    function test_rejectsShortAndLongSeal() public {
        bytes memory seal = dev.sealFor(IMAGE, JD);
        vm.expectRevert(abi.encodeWithSelector(DevVerifier.DevVerifierSealLength.selector, 37));
        dev.verify(bytes.concat(seal, hex"00"), IMAGE, JD);
        vm.expectRevert(abi.encodeWithSelector(DevVerifier.DevVerifierSealLength.selector, 0));
        dev.verify("", IMAGE, JD);
    }

    function test_rejectsWrongSelector() public {
        bytes memory seal = abi.encodePacked(bytes4(0xFFFFFFFE), ReceiptClaim.okDigest(IMAGE, JD));
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
        bytes32 good = ReceiptClaim.okDigest(IMAGE, JD);
        bytes memory seal = abi.encodePacked(bytes4(0xFFFFFFFF), bytes32(uint256(good) ^ 1));
        vm.expectRevert(
            abi.encodeWithSelector(DevVerifier.DevVerifierClaimMismatch.selector, good, bytes32(uint256(good) ^ 1))
        );
        dev.verify(seal, IMAGE, JD);
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

contract RouterTest is Test {
    address internal constant OWNER = address(0xA11CE);
    RiscZeroVerifierRouter internal router;
    DevVerifier internal dev;
    bytes32 internal constant IMAGE = bytes32(uint256(7));
    bytes32 internal constant JD = bytes32(uint256(8));

    event VerifierAdded(bytes4 indexed selector, address verifier);
    event VerifierRemoved(bytes4 indexed selector);

    function setUp() public {
        router = new RiscZeroVerifierRouter(OWNER);
        dev = new DevVerifier();
    }

    function test_addDispatchRemove() public {
        vm.expectEmit();
        emit VerifierAdded(0xFFFFFFFF, address(dev));
        vm.prank(OWNER);
        router.addVerifier(0xFFFFFFFF, dev);
        assertEq(address(router.getVerifier(0xFFFFFFFF)), address(dev), "registered");
        router.verify(dev.sealFor(IMAGE, JD), IMAGE, JD);

        vm.expectEmit();
        emit VerifierRemoved(0xFFFFFFFF);
        vm.prank(OWNER);
        router.removeVerifier(0xFFFFFFFF);
        bytes memory seal = dev.sealFor(IMAGE, JD);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.RouterSelectorRemoved.selector, bytes4(0xFFFFFFFF)));
        router.verify(seal, IMAGE, JD);
    }

    function test_removedSelectorCanNeverBeReused() public {
        DevVerifier other = new DevVerifier();
        vm.startPrank(OWNER);
        router.addVerifier(0xFFFFFFFF, dev);
        router.removeVerifier(0xFFFFFFFF);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.RouterSelectorRemoved.selector, bytes4(0xFFFFFFFF)));
        router.addVerifier(0xFFFFFFFF, other);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.RouterSelectorRemoved.selector, bytes4(0xFFFFFFFF)));
        router.removeVerifier(0xFFFFFFFF);
        vm.stopPrank();
    }

    function test_revertPaths() public {
        vm.startPrank(OWNER);
        router.addVerifier(0xFFFFFFFF, dev);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.RouterSelectorInUse.selector, bytes4(0xFFFFFFFF)));
        router.addVerifier(0xFFFFFFFF, dev);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.RouterVerifierNotContract.selector, address(0xdead)));
        router.addVerifier(0x01020304, IRiscZeroVerifier(address(0xdead)));
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.RouterSelectorUnknown.selector, bytes4(0x01020304)));
        router.removeVerifier(0x01020304);
        vm.stopPrank();

        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.RouterSealTooShort.selector, 3));
        router.verify(hex"ffffff", IMAGE, JD);
        vm.expectRevert(abi.encodeWithSelector(RiscZeroVerifierRouter.RouterSelectorUnknown.selector, bytes4(0x01020304)));
        router.verify(hex"01020304", IMAGE, JD);

        vm.expectRevert(abi.encodeWithSelector(Owned.OwnedUnauthorized.selector, address(this)));
        router.addVerifier(0x01020304, dev);
        vm.expectRevert(abi.encodeWithSelector(Owned.OwnedUnauthorized.selector, address(this)));
        router.removeVerifier(0xFFFFFFFF);
    }

    function test_twoStepOwnership() public {
        vm.prank(OWNER);
        router.transferOwnership(address(this));
        assertEq(router.owner(), OWNER, "not yet");
        vm.expectRevert(abi.encodeWithSelector(Owned.OwnedUnauthorized.selector, address(0xBAD)));
        vm.prank(address(0xBAD));
        router.acceptOwnership();
        router.acceptOwnership();
        assertEq(router.owner(), address(this), "accepted");
        vm.expectRevert(Owned.OwnedZeroOwner.selector);
        new RiscZeroVerifierRouter(address(0));
    }
}
