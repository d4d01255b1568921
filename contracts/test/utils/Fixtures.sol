// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "./Test.sol";
import {DevVerifier} from "../../src/verifier/DevVerifier.sol";
import {RiscZeroVerifierRouter} from "risc0/RiscZeroVerifierRouter.sol";
import {IRiscZeroVerifier, Receipt} from "risc0/IRiscZeroVerifier.sol";
import {IL2BlockHashStore} from "../../src/bridge/IL2BlockHashStore.sol";
import {RiskOracle} from "../../src/oracle/RiskOracle.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";
import {BlockHashes} from "../../src/oracle/BlockHashes.sol";

/// @notice Shared setup: RISC Zero's router with the dev verifier behind it, an oracle on this
/// chain with one image ID and one model registered, and journal/seal builders.
abstract contract OracleFixture is Test {
    /// @dev Runtime code of the EIP-2935 history contract, as anvil (prague) serves it at
    /// 0x0000F90827F1C53a10cb7A02335B175320002935 (read with `cast code`); forge's test EVM
    /// has no genesis system contracts, so tests install it with vm.etch.
    bytes internal constant EIP2935_CODE =
        hex"3373fffffffffffffffffffffffffffffffffffffffe14604657602036036042575f35600143038111604257611fff81430311604257611fff9006545f5260205ff35b5f5ffd5b5f35611fff60014303065500";

    bytes32 internal constant IMAGE_ID = keccak256("image");
    bytes32 internal constant MODEL = keccak256("model");
    bytes32 internal constant SPEC = keccak256("spec");
    address internal constant OWNER = address(0xA11CE);
    address internal constant SUBJECT = address(0xB0B);
    uint64 internal constant MAX_LAG = 64;

    DevVerifier internal dev;
    RiscZeroVerifierRouter internal router;
    RiskOracle internal oracle;

    function setUp() public virtual {
        vm.roll(10_000);
        vm.warp(1_700_000_000);
        dev = new DevVerifier();
        router = new RiscZeroVerifierRouter(OWNER);
        bytes4 selector = dev.SELECTOR();
        vm.prank(OWNER);
        router.addVerifier(selector, dev);
        oracle = new RiskOracle(OWNER, router, IL2BlockHashStore(address(0)), 0, MAX_LAG);
        vm.startPrank(OWNER);
        oracle.allowImageId(IMAGE_ID, true);
        oracle.registerModel(MODEL, SPEC);
        vm.stopPrank();
    }

    /// @dev A valid journal anchored at the previous block (whose hash we set).
    function validJournal() internal returns (JournalV1.Journal memory j) {
        uint64 anchor = uint64(block.number - 1);
        vm.setBlockhash(anchor, keccak256(abi.encode("block", anchor)));
        j = JournalV1.Journal({
            version: 1,
            chainId: uint64(block.chainid),
            anchorNumber: anchor,
            anchorHash: blockhash(anchor),
            blockNumber: anchor - 2,
            subject: SUBJECT,
            modelHash: MODEL,
            featureSpecHash: SPEC,
            score: 4321,
            requestId: keccak256(abi.encode("request", anchor))
        });
    }

    function sealFor(bytes memory journal) internal view returns (bytes memory) {
        return dev.sealFor(IMAGE_ID, sha256(journal));
    }

    function installHistoryContract() internal {
        vm.etch(BlockHashes.HISTORY, EIP2935_CODE);
    }

    /// @dev Write `hash` into the history contract's ring buffer for block `number`.
    function setHistoryHash(uint256 number, bytes32 hash) internal {
        vm.store(BlockHashes.HISTORY, bytes32(number % BlockHashes.HISTORY_WINDOW), hash);
    }
}

/// @notice A verifier that accepts everything: used only to measure the oracle's own gas.
contract NullVerifier is IRiscZeroVerifier {
    function verify(bytes calldata, bytes32, bytes32) external pure {}

    function verifyIntegrity(Receipt calldata) external pure {}
}
