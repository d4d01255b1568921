// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {OracleFixture} from "../utils/Fixtures.sol";
import {RiskRequests} from "../../src/requests/RiskRequests.sol";
import {IRiskCallback} from "../../src/requests/IRiskCallback.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";

/// @notice An oracle (OracleFixture) with a RiskRequests in front of it, the model offered
/// at `PRICE`, and builders of journals answering a request.
abstract contract RequestsFixture is OracleFixture {
    uint96 internal constant PRICE = 0.01 ether;
    uint64 internal constant TIMEOUT = 1 hours;
    uint32 internal constant MAX_CALLBACK_GAS = 500_000;
    address internal constant REQUESTER = address(0x5EED);
    address internal constant FULFILLER = address(0xF111);

    RiskRequests internal requests;

    function setUp() public virtual override {
        super.setUp();
        requests = new RiskRequests(OWNER, oracle, TIMEOUT, MAX_CALLBACK_GAS);
        vm.prank(OWNER);
        requests.offerModel(MODEL, PRICE);
        vm.deal(REQUESTER, 100 ether);
    }

    function policy(RiskRequests.BlockRule rule, uint64 blockNumber)
        internal
        pure
        returns (RiskRequests.BlockPolicy memory)
    {
        return RiskRequests.BlockPolicy(rule, blockNumber);
    }

    /// @dev A request from REQUESTER for SUBJECT, any block from `validJournal()`'s on.
    function requestFor(address callback, uint32 gasLimit) internal returns (bytes32 id) {
        uint64 blockNumber = uint64(block.number - 3);
        vm.prank(REQUESTER);
        id = requests.request{value: PRICE}(
            SUBJECT, MODEL, SPEC, policy(RiskRequests.BlockRule.NotBefore, blockNumber), callback, gasLimit
        );
    }

    /// @dev A valid journal (anchored at the previous block) answering `id`.
    function answer(bytes32 id) internal returns (JournalV1.Journal memory j) {
        j = validJournal();
        j.requestId = id;
    }
}

/// @notice A callback that records what it got, or reverts, or burns gas, as told.
contract RecordingConsumer is IRiskCallback {
    enum Mode {
        Ok,
        Revert,
        BurnGas
    }

    Mode public mode;
    uint256 public calls;
    bytes32 public lastId;
    uint32 public lastScore;
    uint64 public lastBlock;
    uint256 public gasSeen;

    function setMode(Mode m) external {
        mode = m;
    }

    function onRiskScore(bytes32 requestId, address, bytes32, uint32 score, uint64 blockNumber) external {
        gasSeen = gasleft();
        if (mode == Mode.Revert) revert("consumer says no");
        if (mode == Mode.BurnGas) {
            while (true) {}
        }
        calls++;
        lastId = requestId;
        lastScore = score;
        lastBlock = blockNumber;
    }
}

/// @notice A callback that tries to re-enter `fulfil` (with a valid answer to another
/// request) and `retryCallback`; records whether any re-entry succeeded.
contract ReentrantConsumer is IRiskCallback {
    RiskRequests internal immutable requests;
    bytes public journal;
    bytes public seal;
    bytes32 public retryId;
    uint256 public reentered;

    constructor(RiskRequests requests_) {
        requests = requests_;
    }

    function arm(bytes calldata journal_, bytes calldata seal_, bytes32 retryId_) external {
        journal = journal_;
        seal = seal_;
        retryId = retryId_;
    }

    function onRiskScore(bytes32, address, bytes32, uint32, uint64) external {
        try requests.fulfil(journal, seal) {
            reentered++;
        } catch {}
        try requests.retryCallback(retryId) {
            reentered++;
        } catch {}
    }
}
