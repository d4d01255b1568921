// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {OracleFixture} from "../utils/Fixtures.sol";
import {SignedScores} from "../../src/signed/SignedScores.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";

abstract contract SignedScoresFixture is OracleFixture {
    uint256 internal constant OP_KEY = 0xA11CE5;
    uint256 internal constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint256 internal constant ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    address internal constant OP_OWNER = address(0x0905);
    address internal constant CHALLENGER = address(0xC4A1);
    SignedScores internal signed;
    address internal opSigner;

    function setUp() public virtual override {
        super.setUp();
        signed = new SignedScores(oracle, 1 ether, 2 days);
        opSigner = vm.addr(OP_KEY);
        vm.deal(OP_OWNER, 10 ether);
        vm.prank(OP_OWNER);
        signed.register{value: 1 ether}(opSigner);
    }

    function scoreFrom(JournalV1.Journal memory j) internal pure returns (SignedScores.SignedScore memory) {
        return SignedScores.SignedScore(j.chainId, j.blockNumber, j.subject, j.modelHash, j.featureSpecHash, j.score);
    }

    function signWith(SignedScores target, uint256 key, SignedScores.SignedScore memory s)
        internal
        view
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 sv) = vm.sign(key, target.digestOf(s));
        return abi.encodePacked(r, sv, v);
    }
}

contract SignedScoresTest is SignedScoresFixture {
    event OperatorSlashed(
        address indexed signer, address indexed challenger, uint256 amount, uint32 signedScore, uint32 provenScore
    );

    function test_verifyValid() public {
        SignedScores.SignedScore memory s = scoreFrom(validJournal());
        bytes memory sig = signWith(signed, OP_KEY, s);
        assertEq(signed.verifySignedScore(s, sig), opSigner, "signer");
    }

    /// The digest is EIP-712 as specified, rebuilt here from the type string.
    function test_digestMatchesSpec() public {
        SignedScores.SignedScore memory s = scoreFrom(validJournal());
        bytes32 typeHash = keccak256(
            "SignedScore(uint64 sourceChainId,uint64 blockNumber,address subject,bytes32 modelHash,bytes32 featureSpecHash,uint32 score)"
        );
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("coproc SignedScores"),
                keccak256("1"),
                block.chainid,
                address(signed)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(typeHash, s.sourceChainId, s.blockNumber, s.subject, s.modelHash, s.featureSpecHash, s.score)
        );
        assertEq(signed.digestOf(s), keccak256(abi.encodePacked(hex"1901", domain, structHash)), "digest");
    }

    function test_rejectOtherChainId() public {
        SignedScores.SignedScore memory s = scoreFrom(validJournal());
        bytes memory sig = signWith(signed, OP_KEY, s);
        vm.chainId(block.chainid + 1);
        vm.expectRevert(); // recovers some other, unbonded address
        signed.verifySignedScore(s, sig);
    }

    function test_rejectWrongVerifyingContract() public {
        SignedScores other = new SignedScores(oracle, 1 ether, 2 days);
        SignedScores.SignedScore memory s = scoreFrom(validJournal());
        bytes memory sig = signWith(other, OP_KEY, s);
        vm.expectRevert();
        signed.verifySignedScore(s, sig);
    }

    function test_rejectMalleatedS() public {
        SignedScores.SignedScore memory s = scoreFrom(validJournal());
        (uint8 v, bytes32 r, bytes32 sv) = vm.sign(OP_KEY, signed.digestOf(s));
        bytes memory high = abi.encodePacked(r, bytes32(ORDER - uint256(sv)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(SignedScores.SignedScoresHighS.selector);
        signed.verifySignedScore(s, high);
    }

    function test_rejectMalformedSignatures() public {
        SignedScores.SignedScore memory s = scoreFrom(validJournal());
        bytes memory sig = signWith(signed, OP_KEY, s);
        vm.expectRevert(abi.encodeWithSelector(SignedScores.SignedScoresSignatureLength.selector, 64));
        signed.verifySignedScore(s, bytes.concat(bytes32(0), bytes32(0)));
        sig[64] = 0x01;
        vm.expectRevert(abi.encodeWithSelector(SignedScores.SignedScoresBadV.selector, 1));
        signed.verifySignedScore(s, sig);
        vm.expectRevert(SignedScores.SignedScoresBadSignature.selector);
        signed.verifySignedScore(s, abi.encodePacked(bytes32(0), bytes32(uint256(1)), uint8(27)));
    }

    function test_rejectZeroHashes() public {
        SignedScores.SignedScore memory s = scoreFrom(validJournal());
        s.modelHash = bytes32(0);
        vm.expectRevert(SignedScores.SignedScoresZeroHash.selector);
        signed.digestOf(s);
        s = scoreFrom(validJournal());
        s.featureSpecHash = bytes32(0);
        vm.expectRevert(SignedScores.SignedScoresZeroHash.selector);
        signed.verifySignedScore(s, new bytes(65));
    }

    function test_rejectTamperedScore() public {
        SignedScores.SignedScore memory s = scoreFrom(validJournal());
        bytes memory sig = signWith(signed, OP_KEY, s);
        s.score += 1;
        vm.expectRevert();
        signed.verifySignedScore(s, sig);
    }

    function test_registerReverts() public {
        vm.deal(address(this), 5 ether);
        vm.expectRevert(abi.encodeWithSelector(SignedScores.SignedScoresBondTooSmall.selector, 0.5 ether, 1 ether));
        signed.register{value: 0.5 ether}(address(0x1234));
        vm.expectRevert(abi.encodeWithSelector(SignedScores.SignedScoresSignerTaken.selector, opSigner));
        signed.register{value: 1 ether}(opSigner);
        vm.expectRevert(abi.encodeWithSelector(SignedScores.SignedScoresSignerTaken.selector, address(0)));
        signed.register{value: 1 ether}(address(0));
    }

    function test_delayedWithdrawal() public {
        vm.expectRevert(abi.encodeWithSelector(SignedScores.SignedScoresNotOwner.selector, address(this)));
        signed.requestWithdrawal(opSigner);
        vm.startPrank(OP_OWNER);
        vm.expectRevert(
            abi.encodeWithSelector(SignedScores.SignedScoresWrongStatus.selector, opSigner, SignedScores.Status.Active)
        );
        signed.withdraw(opSigner);
        signed.requestWithdrawal(opSigner);
        vm.expectRevert(
            abi.encodeWithSelector(SignedScores.SignedScoresWrongStatus.selector, opSigner, SignedScores.Status.Exiting)
        );
        signed.requestWithdrawal(opSigner);
        uint64 unlockAt = uint64(block.timestamp + 2 days);
        vm.expectRevert(abi.encodeWithSelector(SignedScores.SignedScoresLocked.selector, unlockAt));
        signed.withdraw(opSigner);
        vm.stopPrank();

        // an exiting key signs nothing that verifies
        SignedScores.SignedScore memory s = scoreFrom(validJournal());
        bytes memory sig = signWith(signed, OP_KEY, s);
        vm.expectRevert(
            abi.encodeWithSelector(
                SignedScores.SignedScoresSignerInactive.selector, opSigner, SignedScores.Status.Exiting
            )
        );
        signed.verifySignedScore(s, sig);

        vm.warp(unlockAt);
        uint256 before = OP_OWNER.balance;
        vm.prank(OP_OWNER);
        signed.withdraw(opSigner);
        assertEq(OP_OWNER.balance - before, 1 ether, "bond paid back");
        assertEq(address(signed).balance, 0, "nothing left");
        vm.prank(OP_OWNER);
        vm.expectRevert(
            abi.encodeWithSelector(
                SignedScores.SignedScoresWrongStatus.selector, opSigner, SignedScores.Status.Withdrawn
            )
        );
        signed.withdraw(opSigner);
    }

    function test_challengeSlashesContradictedOperator() public {
        JournalV1.Journal memory j = validJournal();
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        SignedScores.SignedScore memory s = scoreFrom(j);
        s.score = j.score + 1; // the operator lied
        bytes memory sig = signWith(signed, OP_KEY, s);
        vm.expectEmit();
        emit OperatorSlashed(opSigner, CHALLENGER, 0.5 ether, s.score, j.score);
        uint256 burnedBefore = address(0).balance;
        vm.prank(CHALLENGER);
        signed.challenge(s, sig, journal, seal);
        assertEq(CHALLENGER.balance, 0.5 ether, "half the bond to the challenger");
        assertEq(address(0).balance - burnedBefore, 0.5 ether, "the other half burned");
        assertEq(address(signed).balance, 0, "bond gone");
        // slashed: its signatures are rejected, it cannot be slashed twice
        vm.expectRevert(
            abi.encodeWithSelector(
                SignedScores.SignedScoresSignerInactive.selector, opSigner, SignedScores.Status.Slashed
            )
        );
        signed.verifySignedScore(s, sig);
        vm.expectRevert(
            abi.encodeWithSelector(
                SignedScores.SignedScoresSignerInactive.selector, opSigner, SignedScores.Status.Slashed
            )
        );
        signed.challenge(s, sig, journal, seal);
    }

    function test_challengeDuringWithdrawalDelay() public {
        vm.prank(OP_OWNER);
        signed.requestWithdrawal(opSigner);
        JournalV1.Journal memory j = validJournal();
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        SignedScores.SignedScore memory s = scoreFrom(j);
        s.score = 0;
        bytes memory sig = signWith(signed, OP_KEY, s);
        vm.prank(CHALLENGER);
        signed.challenge(s, sig, journal, seal);
        assertEq(CHALLENGER.balance, 0.5 ether, "an exiting bond is still slashable");
    }

    function test_challengeReverts() public {
        JournalV1.Journal memory j = validJournal();
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        SignedScores.SignedScore memory s = scoreFrom(j);
        bytes memory sig = signWith(signed, OP_KEY, s);
        vm.expectRevert(abi.encodeWithSelector(SignedScores.SignedScoresScoreAgrees.selector, j.score));
        signed.challenge(s, sig, journal, seal);

        s.score += 1;
        s.blockNumber -= 1;
        sig = signWith(signed, OP_KEY, s);
        vm.expectRevert(SignedScores.SignedScoresChallengeMismatch.selector);
        signed.challenge(s, sig, journal, seal);

        s = scoreFrom(j);
        s.score += 1;
        s.subject = address(0xBEEF);
        sig = signWith(signed, OP_KEY, s);
        vm.expectRevert(SignedScores.SignedScoresChallengeMismatch.selector);
        signed.challenge(s, sig, journal, seal);

        // an invalid receipt proves nothing
        s = scoreFrom(j);
        s.score += 1;
        sig = signWith(signed, OP_KEY, s);
        seal[10] = bytes1(uint8(seal[10]) ^ 0xff);
        vm.expectRevert();
        signed.challenge(s, sig, journal, seal);

        // an unknown signer has no bond
        bytes memory stranger = signWith(signed, 0xBAD, s);
        bytes memory goodSeal = sealFor(journal);
        vm.expectRevert(
            abi.encodeWithSelector(
                SignedScores.SignedScoresSignerInactive.selector, vm.addr(0xBAD), SignedScores.Status.None
            )
        );
        signed.challenge(s, stranger, journal, goodSeal);
    }

    function test_payoutFailureReverts() public {
        JournalV1.Journal memory j = validJournal();
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = sealFor(journal);
        SignedScores.SignedScore memory s = scoreFrom(j);
        s.score += 1;
        bytes memory sig = signWith(signed, OP_KEY, s);
        Refuser refuser = new Refuser();
        vm.prank(address(refuser));
        vm.expectRevert(SignedScores.SignedScoresTransferFailed.selector);
        signed.challenge(s, sig, journal, seal);
    }

    function testFuzz_foreignKeysNeverVerify(uint256 key, uint32 score) public {
        key = 1 + (key % (ORDER - 1));
        vm.assume(key != OP_KEY);
        SignedScores.SignedScore memory s = scoreFrom(validJournal());
        s.score = score;
        bytes memory sig = signWith(signed, key, s);
        vm.expectRevert();
        signed.verifySignedScore(s, sig);
    }
}

contract Refuser {
    receive() external payable {
        revert("no");
    }
}

/// @notice Signatures made in Python (eth-account) verify on-chain: tests/vectors/eip712.
contract SignedScoresVectorTest is SignedScoresFixture {
    function test_pythonSignaturesVerify() public {
        string memory json = vm.readFile("../tests/vectors/eip712/signed_scores.json");
        uint256 count = vm.parseJsonUint(json, ".count");
        assertTrue(count >= 4, "vectors present");
        for (uint256 i = 0; i < count; ++i) {
            string memory p = string.concat(".cases[", vm.toString(i), "]");
            vm.chainId(vm.parseJsonUint(json, string.concat(p, ".chainId")));
            address where = vm.parseJsonAddress(json, string.concat(p, ".verifyingContract"));
            SignedScores fresh = new SignedScores(oracle, 1 ether, 2 days);
            vm.etch(where, address(fresh).code);
            SignedScores target = SignedScores(where);
            SignedScores.SignedScore memory s = SignedScores.SignedScore(
                uint64(vm.parseJsonUint(json, string.concat(p, ".sourceChainId"))),
                uint64(vm.parseJsonUint(json, string.concat(p, ".blockNumber"))),
                vm.parseJsonAddress(json, string.concat(p, ".subject")),
                vm.parseJsonBytes32(json, string.concat(p, ".modelHash")),
                vm.parseJsonBytes32(json, string.concat(p, ".featureSpecHash")),
                uint32(vm.parseJsonUint(json, string.concat(p, ".score")))
            );
            assertEq(target.digestOf(s), vm.parseJsonBytes32(json, string.concat(p, ".digest")), "digest");
            address signer = vm.parseJsonAddress(json, string.concat(p, ".signer"));
            if (target.operatorOf(signer).status == SignedScores.Status.None) {
                vm.deal(address(this), 1 ether);
                target.register{value: 1 ether}(signer);
            }
            bytes memory sig = vm.parseJsonBytes(json, string.concat(p, ".signature"));
            assertEq(target.verifySignedScore(s, sig), signer, "python signature verifies");
            bytes memory high = vm.parseJsonBytes(json, string.concat(p, ".malleatedSignature"));
            vm.expectRevert(SignedScores.SignedScoresHighS.selector);
            target.verifySignedScore(s, high);
        }
    }
}
