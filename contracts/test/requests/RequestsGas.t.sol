// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {RequestsFixture} from "./RequestsFixture.sol";
import {NullVerifier} from "../utils/Fixtures.sol";
import {Console} from "../utils/Console.sol";
import {CallProbe} from "../gas/GasReport.t.sol";
import {RiskRequests} from "../../src/requests/RiskRequests.sol";
import {RiskOracle} from "../../src/oracle/RiskOracle.sol";
import {IRiskCallback} from "../../src/requests/IRiskCallback.sol";
import {JournalV1} from "../../src/generated/JournalV1.sol";
import {IL2BlockHashStore} from "../../src/bridge/IL2BlockHashStore.sol";

/// @notice Gas of on-chain requests, printed as `gas: <name> <value>` (bench/requests_bench.py
/// reads them). Method as in GasReportTest: execution gas by gasleft() around one external
/// call; the requests contract is warm (it is `tx.to`), its request slots are cold (the
/// requests are made in setUp, another transaction). "Excluding the verifier": the oracle
/// behind the requests contract uses NullVerifier and the cost of one cold call to it is
/// subtracted. "Callback overhead": a fulfilment with a callback to a contract whose
/// `onRiskScore` does nothing, minus one without a callback.
contract RequestsGasTest is RequestsFixture {
    RiskRequests internal bare;
    NullVerifier internal probeVerifier;
    CallProbe internal probe;
    EmptyConsumer internal empty;
    bytes32 internal plainId;
    bytes32 internal callbackId;

    function setUp() public override {
        super.setUp();
        probeVerifier = new NullVerifier();
        probe = new CallProbe();
        empty = new EmptyConsumer();
        RiskOracle nullOracle = new RiskOracle(OWNER, new NullVerifier(), IL2BlockHashStore(address(0)), 0, MAX_LAG);
        bare = new RiskRequests(OWNER, nullOracle, TIMEOUT, MAX_CALLBACK_GAS);
        vm.startPrank(OWNER);
        nullOracle.allowImageId(IMAGE_ID, true);
        nullOracle.registerModel(MODEL, SPEC);
        bare.offerModel(MODEL, PRICE);
        vm.stopPrank();
        RiskRequests.BlockPolicy memory p = policy(RiskRequests.BlockRule.NotBefore, 0);
        vm.startPrank(REQUESTER);
        bare.request{value: PRICE}(SUBJECT, MODEL, SPEC, p, address(0), 0); // first: nonce slot set
        plainId = bare.request{value: PRICE}(SUBJECT, MODEL, SPEC, p, address(0), 0);
        callbackId = bare.request{value: PRICE}(SUBJECT, MODEL, SPEC, p, address(empty), 100_000);
        vm.stopPrank();
    }

    function test_gasRequest() public {
        RiskRequests.BlockPolicy memory p = policy(RiskRequests.BlockRule.NotBefore, 0);
        require(address(bare).code.length > 0);
        vm.prank(REQUESTER);
        uint256 g = gasleft();
        bare.request{value: PRICE}(SUBJECT, MODEL, SPEC, p, address(empty), 100_000);
        uint256 used = g - gasleft();
        Console.log("gas: request", used);
        assertLt(used, 200_000, "request under 200k");
    }

    function measureFulfil(bytes32 id) internal returns (uint256 used, uint256 callCost) {
        bytes memory journal = JournalV1.encode(answer(id));
        bytes memory seal = sealFor(journal);
        callCost = probe.measure(probeVerifier, seal, IMAGE_ID, sha256(journal));
        require(address(bare).code.length > 0);
        uint256 g = gasleft();
        bare.fulfil(journal, seal);
        used = g - gasleft();
    }

    function test_gasFulfil() public {
        (uint256 used, uint256 callCost) = measureFulfil(plainId);
        Console.log("gas: fulfil_with_null_verifier", used);
        Console.log("gas: fulfil_excluding_verifier", used - callCost);
        assertLt(used - callCost, 120_000, "fulfil excluding the verifier under 120k");
    }

    function test_gasFulfilWithCallback() public {
        (uint256 used, uint256 callCost) = measureFulfil(callbackId);
        Console.log("gas: fulfil_with_empty_callback_excluding_verifier", used - callCost);
        assertEq(uint256(bare.requestOf(callbackId).callbackStatus), uint256(RiskRequests.CallbackStatus.Done), "ran");
    }
}

/// @notice A callback that does nothing: what remains is the requests contract's overhead.
contract EmptyConsumer is IRiskCallback {
    function onRiskScore(bytes32, address, bytes32, uint32, uint64) external {}
}
