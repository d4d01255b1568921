// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {OracleFixture} from "../utils/Fixtures.sol";
import {RiskOracle} from "../../src/oracle/RiskOracle.sol";
import {DevVerifier} from "../../src/verifier/DevVerifier.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";
import {SignedScores} from "../../src/signed/SignedScores.sol";

/// @notice Drives the oracle with valid, replayed and stale receipts; ghost variables
/// record what was accepted.
contract OracleHandler is Test {
    RiskOracle internal oracle;
    DevVerifier internal dev;
    bytes32 internal imageId;
    bytes32 internal model;
    bytes32 internal spec;

    bytes32[] public requestPool;
    mapping(bytes32 => uint256) public ghostAccepted;
    mapping(address => uint64) public ghostLastBlock;
    uint256 public ghostReplaysAccepted;
    uint256 public ghostNonMonotonic;
    uint256 public ghostSubmits;

    bytes[] internal acceptedJournals;
    bytes[] internal acceptedSeals;

    constructor(RiskOracle oracle_, DevVerifier dev_, bytes32 imageId_, bytes32 model_, bytes32 spec_) {
        oracle = oracle_;
        dev = dev_;
        imageId = imageId_;
        model = model_;
        spec = spec_;
        for (uint256 i = 0; i < 6; ++i) {
            requestPool.push(keccak256(abi.encode("req", i)));
        }
    }

    function subjectOf(uint256 i) public pure returns (address) {
        return address(uint160(0x5000 + (i % 3)));
    }

    function submit(uint8 reqIdx, uint8 subjIdx, uint8 lag, uint32 score) external {
        vm.roll(block.number + 1);
        uint64 anchor = uint64(block.number - 1);
        vm.setBlockhash(anchor, keccak256(abi.encode("blk", anchor)));
        JournalV1.Journal memory j = JournalV1.Journal(
            1,
            uint64(block.chainid),
            anchor,
            blockhash(anchor),
            anchor - (lag % 8),
            subjectOf(subjIdx),
            model,
            spec,
            score % 10_001,
            requestPool[reqIdx % requestPool.length]
        );
        bytes memory journal = JournalV1.encode(j);
        bytes memory seal = dev.sealFor(imageId, sha256(journal));
        ghostSubmits++;
        try oracle.submit(journal, seal) {
            ghostAccepted[j.requestId]++;
            if (j.blockNumber <= ghostLastBlock[j.subject]) ghostNonMonotonic++;
            ghostLastBlock[j.subject] = j.blockNumber;
            acceptedJournals.push(journal);
            acceptedSeals.push(seal);
        } catch {}
    }

    function replay(uint256 which) external {
        if (acceptedJournals.length == 0) return;
        uint256 i = which % acceptedJournals.length;
        try oracle.submit(acceptedJournals[i], acceptedSeals[i]) {
            ghostReplaysAccepted++;
        } catch {}
    }

    function poolSize() external view returns (uint256) {
        return requestPool.length;
    }
}

contract OracleInvariantTest is OracleFixture {
    OracleHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new OracleHandler(oracle, dev, IMAGE_ID, MODEL, SPEC);
        targetContract(address(handler));
    }

    /// The handler's success paths are reachable (otherwise the invariants would be vacuous).
    function test_handlerAcceptsAndRejectsReplays() public {
        handler.submit(0, 0, 0, 100);
        handler.submit(1, 0, 0, 200);
        handler.submit(1, 1, 0, 300); // request id 1 again: rejected
        handler.replay(0);
        assertEq(handler.ghostAccepted(handler.requestPool(0)), 1, "first accepted");
        assertEq(handler.ghostAccepted(handler.requestPool(1)), 1, "second accepted once");
        assertEq(handler.ghostReplaysAccepted(), 0, "replay rejected");
    }

    function invariant_requestIdAcceptedAtMostOnce() public view {
        for (uint256 i = 0; i < handler.poolSize(); ++i) {
            bytes32 id = handler.requestPool(i);
            uint256 n = handler.ghostAccepted(id);
            assertTrue(n <= 1, "request id accepted twice");
            assertEq(oracle.requestUsed(id), n == 1, "requestUsed matches acceptance");
        }
    }

    function invariant_noReplayAccepted() public view {
        assertEq(handler.ghostReplaysAccepted(), 0, "a replayed receipt was accepted");
    }

    function invariant_storedBlocksStrictlyIncrease() public view {
        assertEq(handler.ghostNonMonotonic(), 0, "a stale or duplicate result was stored");
        for (uint256 i = 0; i < 3; ++i) {
            (, uint64 b,) = oracle.scoreOf(handler.subjectOf(i), MODEL);
            assertEq(b, handler.ghostLastBlock(handler.subjectOf(i)), "stored block is the last accepted");
        }
    }
}

/// @notice Drives SignedScores: registrations, exits, withdrawals, challenges, verifications.
contract SignedHandler is Test {
    SignedScores internal signed;
    RiskOracle internal oracle;
    DevVerifier internal dev;
    bytes32 internal imageId;
    bytes32 internal model;
    bytes32 internal spec;

    uint256[] public keys;
    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;
    uint256 public ghostSlashed;
    uint256 public ghostSlashedAccepted;
    mapping(address => bool) public ghostIsSlashed;

    constructor(SignedScores s, RiskOracle o, DevVerifier d, bytes32 i, bytes32 m, bytes32 sp) {
        signed = s;
        oracle = o;
        dev = d;
        imageId = i;
        model = m;
        spec = sp;
        for (uint256 k = 1; k <= 4; ++k) {
            keys.push(0xABC000 + k);
        }
    }

    function owner(uint256 k) internal pure returns (address) {
        return address(uint160(0x7000 + k));
    }

    function register(uint8 k, uint96 amount) external {
        uint256 idx = k % keys.length;
        uint256 value = 1 ether + (amount % 5 ether);
        vm.deal(owner(idx), value);
        vm.prank(owner(idx));
        try signed.register{value: value}(vm.addr(keys[idx])) {
            ghostDeposited += value;
        } catch {}
    }

    function requestWithdrawal(uint8 k) external {
        uint256 idx = k % keys.length;
        vm.prank(owner(idx));
        try signed.requestWithdrawal(vm.addr(keys[idx])) {} catch {}
    }

    function withdraw(uint8 k, uint32 wait) external {
        uint256 idx = k % keys.length;
        vm.warp(block.timestamp + (wait % 3 days));
        address signer = vm.addr(keys[idx]);
        uint256 bond = signed.operatorOf(signer).bond;
        vm.prank(owner(idx));
        try signed.withdraw(signer) {
            ghostWithdrawn += bond;
        } catch {}
    }

    function _journal(uint32 score) internal returns (JournalV1.Journal memory j, bytes memory journal) {
        vm.roll(block.number + 1);
        uint64 anchor = uint64(block.number - 1);
        vm.setBlockhash(anchor, keccak256(abi.encode("blk", anchor)));
        j = JournalV1.Journal(
            1, uint64(block.chainid), anchor, blockhash(anchor), anchor, address(0xCAFE), model, spec, score % 10_001,
            keccak256(abi.encode("r", anchor))
        );
        journal = JournalV1.encode(j);
    }

    function _sign(uint256 key, SignedScores.SignedScore memory s) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 sv) = vm.sign(key, signed.digestOf(s));
        return abi.encodePacked(r, sv, v);
    }

    function challenge(uint8 k, uint32 score, uint32 lie) external {
        uint256 idx = k % keys.length;
        (JournalV1.Journal memory j, bytes memory journal) = _journal(score);
        SignedScores.SignedScore memory s =
            SignedScores.SignedScore(j.chainId, j.blockNumber, j.subject, j.modelHash, j.featureSpecHash, lie % 10_001);
        bytes memory sig = _sign(keys[idx], s);
        address signer = vm.addr(keys[idx]);
        uint256 bond = signed.operatorOf(signer).bond;
        try signed.challenge(s, sig, journal, dev.sealFor(imageId, sha256(journal))) {
            ghostSlashed += bond;
            ghostIsSlashed[signer] = true;
        } catch {}
    }

    function verify(uint8 k, uint32 score) external {
        uint256 idx = k % keys.length;
        address signer = vm.addr(keys[idx]);
        SignedScores.SignedScore memory s =
            SignedScores.SignedScore(1, uint64(block.number), address(0xCAFE), model, spec, score % 10_001);
        bytes memory sig = _sign(keys[idx], s);
        try signed.verifySignedScore(s, sig) {
            if (ghostIsSlashed[signer]) ghostSlashedAccepted++;
        } catch {}
    }

    function keyCount() external view returns (uint256) {
        return keys.length;
    }

    receive() external payable {}
}

contract SignedScoresInvariantTest is OracleFixture {
    SignedScores internal signed;
    SignedHandler internal handler;

    function setUp() public override {
        super.setUp();
        signed = new SignedScores(oracle, 1 ether, 2 days);
        handler = new SignedHandler(signed, oracle, dev, IMAGE_ID, MODEL, SPEC);
        targetContract(address(handler));
    }

    /// Bonds are conserved: what is held equals deposits minus withdrawals minus slashes,
    /// and equals the sum of the recorded bonds (so none can go below zero).
    function invariant_bondsConserved() public view {
        uint256 sum = 0;
        for (uint256 i = 0; i < handler.keyCount(); ++i) {
            sum += signed.operatorOf(vm.addr(handler.keys(i))).bond;
        }
        assertEq(address(signed).balance, sum, "balance == sum of bonds");
        assertEq(
            sum + handler.ghostWithdrawn() + handler.ghostSlashed(), handler.ghostDeposited(), "deposits accounted"
        );
    }

    /// The handler's success paths are reachable (otherwise the invariants would be vacuous).
    function test_handlerRegistersSlashesWithdraws() public {
        handler.register(0, 0);
        handler.register(1, 0);
        handler.challenge(0, 100, 200);
        assertTrue(handler.ghostIsSlashed(vm.addr(handler.keys(0))), "slashed");
        assertEq(handler.ghostSlashed(), 1 ether, "slashed amount");
        handler.requestWithdrawal(1);
        handler.withdraw(1, 2 days + 1 hours);
        handler.withdraw(1, 2 days);
        assertEq(handler.ghostWithdrawn(), 1 ether, "withdrawn once");
        handler.verify(0, 5);
        assertEq(handler.ghostSlashedAccepted(), 0, "slashed key rejected");
    }

    function invariant_slashedCannotSign() public view {
        assertEq(handler.ghostSlashedAccepted(), 0, "a slashed operator's signature was accepted");
        for (uint256 i = 0; i < handler.keyCount(); ++i) {
            address signer = vm.addr(handler.keys(i));
            if (handler.ghostIsSlashed(signer)) {
                assertEq(signed.operatorOf(signer).bond, 0, "slashed bond is zero");
                assertTrue(signed.operatorOf(signer).status == SignedScores.Status.Slashed, "status slashed");
            }
        }
    }
}
