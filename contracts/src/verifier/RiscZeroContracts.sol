// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

// RISC Zero's own verifier contracts (crate risc0-ethereum-contracts, fetched by setup
// into lib/risc0-ethereum, see docs/contracts.md). Imported here so that `forge build`
// compiles them and writes their artifacts to out/, from where Python deploys them
// (coprocessor/onchain/contracts.py). Nothing is redefined: these are their sources.
import {RiscZeroVerifierRouter} from "risc0/RiscZeroVerifierRouter.sol";
import {RiscZeroVerifierEmergencyStop} from "risc0/RiscZeroVerifierEmergencyStop.sol";
import {RiscZeroGroth16Verifier} from "risc0/groth16/RiscZeroGroth16Verifier.sol";
import {ControlID} from "risc0/groth16/ControlID.sol";
import {RiscZeroSetVerifier} from "risc0/RiscZeroSetVerifier.sol";
