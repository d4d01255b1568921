"""Gas of the contracts: forge's gas-report tests (test/gas/GasReport.t.sol, and the real
Groth16 verification through RISC Zero's router in test/verifier/Groth16.t.sol), one real
`submit` transaction on anvil and one real Groth16 verification transaction on anvil.
Baseline, measured in the same run: a bare one-slot score write with no verification at
all (what storing a score cannot go below).

``python -m bench contracts_gas``
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from pathlib import Path

from eth_abi.abi import encode
from web3 import Web3

from bench.common import table
from coprocessor.dev.devnet import start_anvil, stop_pid
from coprocessor.onchain import contracts, risc0_ethereum
from coprocessor.zk import receipt_claim

REPO = Path(__file__).resolve().parent.parent
LINE = re.compile(r"gas: (\w+) (\d+)")
JOURNAL_TYPES = ["uint8", "uint64", "uint64", "bytes32", "uint64", "address"]
JOURNAL_TYPES += ["bytes32", "bytes32", "uint32", "bytes32"]


def forge_numbers() -> dict[str, int]:
    done = subprocess.run(
        [
            "bash",
            str(REPO / "scripts" / "forge.sh"),
            "test",
            "--match-contract",
            "GasReportTest|Groth16OracleWiringTest",
            "-vv",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return {m.group(1): int(m.group(2)) for m in LINE.finditer(done.stdout)}


def anvil_submit_tx() -> tuple[int, int]:
    """(gasUsed of a real submit tx with router + dev verifier, its calldata+base cost)."""
    zero = "0x" + "00" * 20
    with tempfile.TemporaryDirectory() as tmp:
        node = start_anvil("bench-gas", Path(tmp), persist=False)
        try:
            w3 = Web3(Web3.HTTPProvider(node.rpc))
            owner = w3.eth.accounts[0]
            dev = contracts.deploy(w3, "DevVerifier")
            router = contracts.deploy(w3, "RiscZeroVerifierRouter", owner)
            router.functions.addVerifier(b"\xff" * 4, dev.address).transact({"from": owner})
            oracle = contracts.deploy(w3, "RiskOracle", owner, router.address, zero, 0, 64)
            image, model, spec = os.urandom(32), os.urandom(32), os.urandom(32)
            oracle.functions.allowImageId(image, True).transact({"from": owner})
            oracle.functions.registerModel(model, spec).transact({"from": owner})
            anchor = w3.eth.block_number - 1
            anchor_hash = bytes(w3.eth.get_block(anchor)["hash"])
            subject = Web3.to_checksum_address("0x" + "0b" * 20)
            journal = bytes(
                encode(
                    JOURNAL_TYPES,
                    [
                        1,
                        w3.eth.chain_id,
                        anchor,
                        anchor_hash,
                        anchor,
                        subject,
                        model,
                        spec,
                        4321,
                        os.urandom(32),
                    ],
                )
            )
            seal = receipt_claim.dev_seal(image, journal)
            tx = oracle.functions.submit(journal, seal).transact({"from": owner})
            receipt = w3.eth.wait_for_transaction_receipt(tx)
            data = bytes(w3.eth.get_transaction(tx)["input"])
            intrinsic = 21_000 + sum(16 if b else 4 for b in data)
            return int(receipt["gasUsed"]), intrinsic
        finally:
            stop_pid(node.pid)


def anvil_groth16_tx() -> int:
    """gasUsed of a transaction calling RISC Zero's router -> Groth16 verifier 3.0 with the
    real test receipt (router.verify is a view; sent as a transaction to measure it)."""
    receipt = risc0_ethereum.load_test_receipt()
    with tempfile.TemporaryDirectory() as tmp:
        node = start_anvil("bench-groth16", Path(tmp), persist=False)
        try:
            w3 = Web3(Web3.HTTPProvider(node.rpc))
            owner = w3.eth.accounts[0]
            control = contracts.deploy(w3, "ControlID")
            groth16 = contracts.deploy(
                w3,
                "RiscZeroGroth16Verifier",
                control.functions.CONTROL_ROOT().call(),
                control.functions.BN254_CONTROL_ID().call(),
            )
            router = contracts.deploy(w3, "RiscZeroVerifierRouter", owner)
            router.functions.addVerifier(receipt.seal[:4], groth16.address).transact(
                {"from": owner}
            )
            digest = hashlib.sha256(receipt.journal).digest()
            call = router.functions.verify(receipt.seal, receipt.image_id, digest)
            tx = call.transact({"from": owner, "gas": 1_000_000})
            mined = w3.eth.wait_for_transaction_receipt(tx)
            if mined["status"] != 1:
                raise RuntimeError("the real Groth16 receipt did not verify on anvil")
            return int(mined["gasUsed"])
        finally:
            stop_pid(node.pid)


def main() -> None:
    contracts.build()
    g = forge_numbers()
    base = g["baseline_bare_score_write"]
    tx_gas, intrinsic = anvil_submit_tx()
    groth16_tx = anvil_groth16_tx()
    rows = [
        ("baseline: bare 1-slot score write (no checks)", base, "1.00"),
        ("submit, excluding the verifier call", g["submit_excluding_verifier"], ""),
        ("submit with router + dev verifier (execution)", g["submit_with_router_dev_verifier"], ""),
        ("router + dev verifier call alone (warm)", g["router_dev_verify_warm"], ""),
        ("anvil tx: submit, gasUsed (router + dev verifier)", tx_gas, ""),
        ("anvil tx: of which base 21000 + calldata", intrinsic, ""),
        ("real Groth16 verify via RISC Zero's router (execution)", g["router_groth16_verify"], ""),
        ("anvil tx: real Groth16 verify via router, gasUsed", groth16_tx, ""),
        ("64-batch: submitBatch (root only)", g["batch64_submit_root"], ""),
        ("64-batch: per result, root + proven read of each leaf", g["batch64_per_result_read"], ""),
        (
            "64-batch: per result, root + store (scores updated)",
            g["batch64_per_result_store_update"],
            "",
        ),
        (
            "64-batch: per result, root + store (fresh slots)",
            g["batch64_per_result_store_fresh"],
            "",
        ),
    ]
    rows = [(name, value, ratio or f"{value / base:.2f}") for name, value, ratio in rows]
    print(table("Contracts (gas)", ["what", "gas", "× baseline"], rows))


if __name__ == "__main__":
    main()
