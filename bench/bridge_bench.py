"""The devnet bridge: messages per minute through the relay, L1 gas per retryable, and
the delay from an L1 push to the hash being readable on L2.

Baselines, measured in the same run on the same anvils:
- throughput: the same L2 store writes sent directly as plain transactions from the
  aliased pusher (what the L2 side costs with no bridge at all);
- L1 gas: a bare ``Inbox.createRetryableTicket`` with the same fees and calldata
  (what the pusher adds on top of Arbitrum's own Inbox/Bridge);
- delay: counted in L1 and L2 blocks, the relay stepping as fast as it can.

``python -m bench bridge_bench``
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from hexbytes import HexBytes
from web3 import Web3
from web3.types import Wei

from bench.common import table
from bridge import outbox, retryables
from bridge.chain import dev_account, raw_request
from bridge.devnet import up_l2
from bridge.nitro import nitro_at
from bridge.relay import Relay
from bridge.store import BridgeStore
from coprocessor.dev.devnet import Devnet
from coprocessor.onchain import contracts

MESSAGES = 40


def _fees(l1: Web3, l2: Web3, calldata: bytes) -> retryables.RetryableFees:
    return retryables.estimate_fees(
        len(calldata),
        int(l1.eth.get_block("latest")["baseFeePerGas"]),
        60_000,
        int(l2.eth.get_block("latest")["baseFeePerGas"]),
    )


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    net = Devnet(data)
    try:
        net.up()
        info = up_l2(net, relay=False)
        c = info["contracts"]
        l1 = Web3(Web3.HTTPProvider(info["l1"]["rpc"]))
        l2 = Web3(Web3.HTTPProvider(info["l2"]["rpc"]))
        store = BridgeStore.in_dir(data)
        relay = Relay(l1, l2, c, store)
        pusher = contracts.at(l1, "L1BlockHashPusher", c["l1_block_hash_pusher"])
        l2_store = contracts.at(l2, "L2BlockHashStore", c["l2_block_hash_store"])
        user = dev_account(1).address
        raw_request(l1, "anvil_mine", [hex(MESSAGES + 10)])
        head = l1.eth.block_number
        sample = bytes(
            HexBytes(
                l2_store.functions.receiveBlockHash(1, b"\x01" * 32)._encode_transaction_data()
            )
        )
        fees = _fees(l1, l2, sample)

        # --- L1 gas per retryable: pusher vs a bare createRetryableTicket (after one
        # warm-up ticket, so neither pays the Bridge's first-message storage writes)
        inbox = nitro_at(l1, "Inbox", c["inbox"])

        def bare() -> int:
            tx = inbox.functions.createRetryableTicket(
                l2_store.address,
                0,
                fees.max_submission_cost,
                user,
                user,
                fees.gas_limit,
                fees.max_fee_per_gas,
                sample,
            ).transact({"from": user, "value": Wei(fees.deposit)})
            return int(l1.eth.wait_for_transaction_receipt(tx)["gasUsed"])

        bare()
        bare_gas = bare()
        tx = pusher.functions.push(
            head - 1, fees.max_submission_cost, fees.gas_limit, fees.max_fee_per_gas
        ).transact({"from": user, "value": Wei(fees.deposit)})
        push_gas = l1.eth.wait_for_transaction_receipt(tx)["gasUsed"]
        relay.step()  # deliver them (the bare ones fail on L2: not from the pusher)

        # --- delay: one push, relay stepping, count blocks until readable on L2
        number = head - 2
        l1_start, l2_start = l1.eth.block_number, l2.eth.block_number
        t0 = time.perf_counter()
        tx = pusher.functions.push(
            number, fees.max_submission_cost, fees.gas_limit, fees.max_fee_per_gas
        ).transact({"from": user, "value": Wei(fees.deposit)})
        l1.eth.wait_for_transaction_receipt(tx)
        steps = 0
        while l2_store.functions.blockHashOf(number).call() == b"\x00" * 32:
            relay.step()
            steps += 1
        delay_s = time.perf_counter() - t0
        l1_blocks = l1.eth.block_number - l1_start
        l2_blocks = l2.eth.block_number - l2_start

        # --- throughput: MESSAGES pushes through the relay
        numbers = list(range(head - 3 - MESSAGES, head - 3))
        for n in numbers:
            pusher.functions.push(
                n, fees.max_submission_cost, fees.gas_limit, fees.max_fee_per_gas
            ).transact({"from": user, "value": Wei(fees.deposit)})
        raw_request(l1, "evm_mine", [])
        t0 = time.perf_counter()
        relay.step()
        relay_s = time.perf_counter() - t0
        assert all(l2_store.functions.blockHashOf(n).call() != b"\x00" * 32 for n in numbers)

        # baseline: the same number of store writes sent directly from the alias on L2
        alias = l2_store.functions.aliasedPusher().call()
        raw_request(l2, "anvil_impersonateAccount", [alias])
        raw_request(l2, "anvil_setBalance", [alias, hex(10**20)])
        t0 = time.perf_counter()
        for i in range(MESSAGES):
            tx = l2_store.functions.receiveBlockHash(10**9 + i, b"\x02" * 32).transact(
                {"from": alias}
            )
            l2.eth.wait_for_transaction_receipt(tx)
        direct_s = time.perf_counter() - t0

        # --- L2 -> L1: MESSAGES sends, one posted root, MESSAGES outbox executions
        arb_sys = contracts.at(l2, "ArbSysEmulator", c["arb_sys"])
        box = outbox.outbox_contract(l1, c["outbox"])
        sink = dev_account(5).address
        sends = []
        for _ in range(MESSAGES):
            tx = arb_sys.functions.sendTxToL1(sink, b"").transact({"from": user})
            sends += outbox.messages_in_receipt(l2, l2.eth.wait_for_transaction_receipt(tx))
        relay.step()  # posts the root (no confirmation delay here)
        t0 = time.perf_counter()
        exec_gas = []
        for send in sends:
            proof = outbox.proof_for(l1, l2, box, send)
            tx = outbox.execute_call(box, send, proof).transact({"from": user})
            exec_gas.append(int(l1.eth.wait_for_transaction_receipt(tx)["gasUsed"]))
        outbox_s = time.perf_counter() - t0
        assert all(box.functions.isSpent(m.position).call() for m in sends)
        t0 = time.perf_counter()
        for _ in range(MESSAGES):
            tx = l1.eth.send_transaction({"from": user, "to": sink, "value": Wei(0)})
            l1.eth.wait_for_transaction_receipt(tx)
        transfer_s = time.perf_counter() - t0
        store.close()
    finally:
        net.down()

    per_min = MESSAGES / relay_s * 60
    direct_per_min = MESSAGES / direct_s * 60
    print(
        table(
            "Relay throughput (retryables, devnet)",
            ["path", "messages", "seconds", "messages/min", "vs direct"],
            [
                [
                    "direct L2 store writes (baseline)",
                    MESSAGES,
                    f"{direct_s:.2f}",
                    f"{direct_per_min:,.0f}",
                    "1.00x",
                ],
                [
                    "L1 push -> relay -> L2 (create + auto-redeem + record)",
                    MESSAGES,
                    f"{relay_s:.2f}",
                    f"{per_min:,.0f}",
                    f"{per_min / direct_per_min:.2f}x",
                ],
            ],
        )
    )
    exec_per_min = MESSAGES / outbox_s * 60
    transfer_per_min = MESSAGES / transfer_s * 60
    print(
        table(
            "Outbox executions (L2 -> L1, devnet)",
            ["path", "messages", "seconds", "messages/min", "vs plain", "L1 gas (median)"],
            [
                [
                    "plain L1 transactions (baseline)",
                    MESSAGES,
                    f"{transfer_s:.2f}",
                    f"{transfer_per_min:,.0f}",
                    "1.00x",
                    "21,000",
                ],
                [
                    "NodeInterface.constructOutboxProof (checked) + Outbox.executeTransaction",
                    MESSAGES,
                    f"{outbox_s:.2f}",
                    f"{exec_per_min:,.0f}",
                    f"{exec_per_min / transfer_per_min:.2f}x",
                    f"{sorted(exec_gas)[len(exec_gas) // 2]:,}",
                ],
            ],
        )
    )
    print(
        table(
            "L1 gas per retryable",
            ["transaction", "gas", "vs bare ticket"],
            [
                ["Inbox.createRetryableTicket (baseline)", f"{bare_gas:,}", "1.00x"],
                [
                    "L1BlockHashPusher.push (reads the hash, then the same ticket)",
                    f"{push_gas:,}",
                    f"{push_gas / bare_gas:.2f}x",
                ],
            ],
        )
    )
    print(
        table(
            "Push to L2 availability",
            ["L1 blocks", "L2 blocks", "relay steps", "wall seconds"],
            [[l1_blocks, l2_blocks, steps, f"{delay_s:.2f}"]],
        )
    )


if __name__ == "__main__":
    main()
