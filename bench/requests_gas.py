"""Gas of on-chain requests (RiskRequests): forge's measurements of the contract's own
work (contracts/test/requests/RequestsGas.t.sol: `request`, `fulfil` excluding the
verifier, `fulfil` with an empty callback), and real transactions on anvil (gasUsed:
intrinsic and calldata cost included) for a direct request, the example pool's
`openPosition` (a request made by a contract), and `fulfil` with the dev verifier behind
RISC Zero's router, with and without the pool's callback.

``python -m bench requests_gas``
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.logs import DISCARD

from bench.common import table
from bench.contracts_gas import LINE, REPO
from coprocessor.dev.devnet import start_anvil, stop_pid
from coprocessor.onchain import contracts
from coprocessor.zk import journal as journal_v1
from coprocessor.zk import receipt_claim

IMAGE_ID = Web3.keccak(text="bench requests image")
MODEL = Web3.keccak(text="bench requests model")
SPEC = Web3.keccak(text="bench requests spec")
ZERO = "0x" + "00" * 20


def forge_numbers() -> dict[str, int]:
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "forge.sh"), "test", "--match-contract", "RequestsGasTest",
         "-vv"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {m.group(1): int(m.group(2)) for m in LINE.finditer(done.stdout)}


def _gas(w3: Web3, tx: Any) -> tuple[int, Any]:
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    return int(receipt["gasUsed"]), receipt


def anvil_numbers() -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        node = start_anvil("bench-requests", Path(tmp), persist=False)
        try:
            w3 = Web3(Web3.HTTPProvider(node.rpc))
            accounts: Any = w3.eth.accounts
            owner, user, fulfiller = accounts[0], accounts[1], accounts[2]
            stack = contracts.deploy_dev_stack(
                w3, image_id=IMAGE_ID, models={bytes(MODEL): bytes(SPEC)}
            )
            requests = contracts.deploy(w3, "RiskRequests", owner, stack.oracle, 3600, 500_000)
            requests.functions.offerModel(MODEL, 10**16).transact({"from": owner})
            pool = contracts.deploy(
                w3, "CallbackLendingPool", requests.address, MODEL, SPEC, 8000, 100_000
            )
            out: dict[str, int] = {}
            pay: Any = {"from": user, "value": 10**16}
            fn = requests.functions.request(user, MODEL, SPEC, (1, 0), ZERO, 0)
            _, r0 = _gas(w3, fn.transact(pay))  # warm-up: the nonce slot is set from here on
            out["request_tx"], r1 = _gas(w3, fn.transact(pay))
            out["open_position_tx"], r2 = _gas(w3, pool.functions.openPosition().transact(pay))
            w3.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
            # warm-up fulfilment first: the fulfiller's credit slot is set for the measured ones
            cases = (("warm_up", r0), ("fulfil_tx", r1), ("fulfil_with_pool_callback_tx", r2))
            for name, receipt in cases:
                logs: Any = requests.events.ScoreRequested().process_receipt(
                    receipt, errors=DISCARD
                )
                event = logs[-1]["args"]
                anchor = w3.eth.block_number - 1
                journal = journal_v1.encode({
                    "version": 1, "chainId": w3.eth.chain_id, "anchorNumber": anchor,
                    "anchorHash": bytes(w3.eth.get_block(anchor)["hash"]),
                    "blockNumber": anchor, "subject": event["subject"], "modelHash": bytes(MODEL),
                    "featureSpecHash": bytes(SPEC), "score": 2500,
                    "requestId": bytes(event["requestId"]),
                })  # fmt: skip
                seal = receipt_claim.dev_seal(bytes(IMAGE_ID), journal)
                sender: Any = {"from": fulfiller}
                tx = requests.functions.fulfil(journal, seal).transact(sender)
                out[name] = _gas(w3, tx)[0]
            return out
        finally:
            stop_pid(node.pid)


def main() -> None:
    contracts.build()
    f = forge_numbers()
    a = anvil_numbers()
    overhead = f["fulfil_with_empty_callback_excluding_verifier"] - f["fulfil_excluding_verifier"]
    rows = [
        ["`request` (execution, contract's own work)", f["request"]],
        ["`fulfil` excluding the verifier (execution)", f["fulfil_excluding_verifier"]],
        ["callback overhead (empty callback, execution)", overhead],
        ["tx: `request` (EOA, no callback)", a["request_tx"]],
        ["tx: pool `openPosition` (request with callback)", a["open_position_tx"]],
        ["tx: `fulfil`, dev verifier via router, no callback", a["fulfil_tx"]],
        ["tx: `fulfil`, dev verifier via router, pool callback", a["fulfil_with_pool_callback_tx"]],
    ]
    print(table("On-chain requests (RiskRequests)", ["what", "gas"], rows))
