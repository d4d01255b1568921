"""The devnet relay: the part of a Nitro node the two-chain devnet emulates.

Each :meth:`Relay.step`:

1. **L1 → L2.** Reads new ``InboxMessageDelivered`` events of the real Inbox, joins
   them with the Bridge's ``MessageDelivered`` (kind 9 = retryable), computes Nitro's
   ticket id and submits the ticket to the ArbRetryableTx emulator (which checks the
   submission fee and deposit as Nitro does and emits ``TicketCreated``). When the
   ticket's gas allows (gas limit > 0, max fee ≥ the L2 base fee, deposit covering
   gas × max fee) it auto-redeems: the call is executed on L2 *from the aliased L1
   sender* (anvil impersonation) with the ticket's gas limit, then reported to the
   emulator (``RedeemScheduled``; a success deletes the ticket).
2. **Manual redeems.** Executes every ``DevnetRedeemRequested`` (someone called
   ``ArbRetryableTx.redeem``) with the donated gas, and reports it the same way.
3. **L2 → L1.** Reads the send Merkle accumulator of the ArbSys emulator; once a new
   size has been seen for ``confirm_delay`` seconds, posts ``Outbox.updateSendRoot(root,
   l2BlockHash)`` on L1 as the rollup EOA (a stand-in for assertion confirmation).

The relay's own transactions go through :class:`~bridge.txsender.TxSender` with
idempotency keys, and its cursors live in ``relay_state``: a restarted relay neither
repeats nor skips a message.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3Exception, Web3RPCError
from web3.logs import DISCARD

from bridge import retryables
from bridge.chain import connect, dev_account, raw_request, rpc
from bridge.nitro import nitro_at
from bridge.store import BridgeStore
from bridge.txsender import TxSender
from coprocessor.errors import CoprocessorError, RpcError
from coprocessor.onchain import contracts

LOG_CHUNK = 2000
INBOX_MESSAGE_DELIVERED = "0x" + keccak(b"InboxMessageDelivered(uint256,bytes)").hex()
REDEEM_REQUESTED = "0x" + keccak(b"DevnetRedeemRequested(bytes32,uint64,uint64,address)").hex()


@dataclass
class StepReport:
    """What one step did."""

    tickets: int = 0
    redeems: int = 0
    roots: int = 0
    notes: list[str] = field(default_factory=list)


class Relay:
    """Emulates a Nitro node's message handling between two anvils."""

    def __init__(
        self,
        l1: Web3,
        l2: Web3,
        addresses: dict[str, str],
        store: BridgeStore,
        *,
        l1_account: LocalAccount | None = None,
        l2_account: LocalAccount | None = None,
        confirm_delay: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.l1, self.l2 = l1, l2
        self.store = store
        self.addresses = addresses
        self.l2_chain_id = rpc(lambda: l2.eth.chain_id, "eth_chainId")
        self.bridge = nitro_at(l1, "Bridge", addresses["bridge"])
        self.inbox = nitro_at(l1, "Inbox", addresses["inbox"])
        self.outbox = nitro_at(l1, "Outbox", addresses["outbox"])
        self.arb_sys = contracts.at(l2, "ArbSysEmulator", addresses["arb_sys"])
        self.retryable = contracts.at(l2, "ArbRetryableTxEmulator", addresses["arb_retryable_tx"])
        self.l1_tx = TxSender(l1, store, l1_account or dev_account(0), clock=clock)
        self.l2_tx = TxSender(l2, store, l2_account or dev_account(0), clock=clock)
        self.confirm_delay = confirm_delay
        self.clock = clock

    # ------------------------------------------------------------------ main loop

    def step(self) -> StepReport:
        """One pass over both chains (see the module docstring)."""
        report = StepReport()
        self._l1_messages(report)
        self._redeem_requests(report)
        self._send_roots(report)
        return report

    def _l1_messages(self, report: StepReport) -> None:
        head = rpc(lambda: self.l1.eth.block_number, "L1 eth_blockNumber")
        cursor = int(self.store.get_state("l1_cursor", 0))
        while cursor <= head:
            end = min(head, cursor + LOG_CHUNK - 1)
            params = {
                "address": self.inbox.address,
                "topics": [INBOX_MESSAGE_DELIVERED],
                "fromBlock": cursor,
                "toBlock": end,
            }
            logs = rpc(lambda p=params: self.l1.eth.get_logs(p), "L1 eth_getLogs")  # type: ignore[misc]
            seen_tx: set[bytes] = set()
            for log in logs:
                tx_hash = bytes(log["transactionHash"])
                if tx_hash in seen_tx:
                    continue
                seen_tx.add(tx_hash)
                receipt = rpc(
                    lambda h=tx_hash: self.l1.eth.get_transaction_receipt(HexBytes(h)),  # type: ignore[misc]
                    "L1 receipt",
                )
                for message in retryables.messages_in_receipt(self.bridge, self.inbox, receipt):
                    self._update_l1_block(head)
                    self.submit(message)
                    report.tickets += 1
            cursor = end + 1
            self.store.put_state("l1_cursor", cursor)

    def _update_l1_block(self, number: int) -> None:
        if int(self.store.get_state("l1_block_reported", -1)) >= number:
            return
        fn = self.arb_sys.functions.devnetSetL1BlockNumber(number)
        self.l2_tx.send_and_wait(f"relay:l1block:{number}", fn.address, _calldata(fn))
        self.store.put_state("l1_block_reported", number)

    # ------------------------------------------------------------------ retryables

    def submit(self, m: retryables.RetryableMessage) -> bytes:
        """Create the ticket of ``m`` on L2 (once) and auto-redeem it when possible."""
        ticket = m.ticket_id(self.l2_chain_id)
        ticket_hex = "0x" + ticket.hex()
        ticket_tuple = (
            m.sender,
            m.to,
            m.l2_call_value,
            m.call_value_refund,
            m.excess_fee_refund,
            m.gas_limit,
            0,
            m.max_fee_per_gas,
            0,
            m.data,
        )
        fn = self.retryable.functions.devnetSubmit(
            ticket, m.l1_base_fee, m.deposit, m.max_submission_cost, ticket_tuple
        )
        receipt = self.l2_tx.send_and_wait(f"relay:submit:{ticket_hex}", fn.address, _calldata(fn))
        events = self.retryable.events.DevnetSubmitted().process_receipt(receipt, errors=DISCARD)
        created = bool(events and events[0]["args"]["created"])
        if created and self._auto_redeem_allowed(m):
            self.execute_retry(ticket, "auto", m.gas_limit, m.excess_fee_refund)
        return ticket

    def _auto_redeem_allowed(self, m: retryables.RetryableMessage) -> bool:
        base = int(rpc(lambda: self.l2.eth.get_block("latest"), "L2 block").get("baseFeePerGas", 0))
        gas_cost = m.gas_limit * m.max_fee_per_gas
        return (
            m.gas_limit > 0
            and m.max_fee_per_gas >= base
            and m.deposit >= m.max_submission_cost + m.l2_call_value + gas_cost
        )

    def execute_retry(self, ticket: bytes, attempt: str, gas: int, donor: str) -> bool:
        """Run the ticket's call on L2 from the aliased sender with ``gas``, then report
        it to the emulator. Journaled under (ticket, attempt), so it runs at most once:
        before sending, the alias's nonce is written down; after a crash, a transaction
        of the alias with that nonce is looked up instead of sending another."""
        key = f"retry:0x{ticket.hex()}:{attempt}"
        record_key = f"relay:record:{key}"
        done = self.store.get_state(key)
        if done is None:
            t = self.retryable.functions.devnetTicket(ticket).call()
            sender, to, value, max_fee, data = t[0], t[1], t[2], t[7], bytes(t[9])
            found = self._find_sent(key, sender)
            if found is None:
                tx_hash, success = self._run_as(key, sender, to, value, data, gas, max_fee)
            else:
                tx_hash, success = found
            done = {"tx": tx_hash, "success": success, "max_fee": max_fee}
            self.store.put_state(key, done)
        if self.l2_tx.record(record_key) is None:
            fn = self.retryable.functions.devnetRecordRedeem(
                ticket,
                HexBytes(done["tx"]),
                gas,
                Web3.to_checksum_address(donor),
                gas * int(done["max_fee"]),
                bool(done["success"]),
            )
            self.l2_tx.submit(record_key, fn.address, _calldata(fn))
        self.l2_tx.wait(record_key)
        return bool(done["success"])

    def _find_sent(self, key: str, sender: str) -> tuple[str, bool] | None:
        """The retry sent before a crash, if the alias's nonce shows one was mined."""
        pending = self.store.get_state(key + ":pending")
        if pending is None:
            return None
        checksum = Web3.to_checksum_address(sender)
        if rpc(lambda: self.l2.eth.get_transaction_count(checksum), "nonce") <= pending["nonce"]:
            return None  # never reached the chain: send it now
        head = rpc(lambda: self.l2.eth.block_number, "L2 head")
        for number in range(int(pending["block"]), head + 1):
            block = rpc(lambda n=number: self.l2.eth.get_block(n, True), "L2 block")  # type: ignore[misc]
            for tx in cast(list[Any], block["transactions"]):
                if tx["from"] == checksum and int(tx["nonce"]) == int(pending["nonce"]):
                    tx_hash = bytes(tx["hash"])
                    receipt = rpc(
                        lambda h=tx_hash: self.l2.eth.get_transaction_receipt(HexBytes(h)),  # type: ignore[misc]
                        "receipt",
                    )
                    return "0x" + tx_hash.hex(), receipt["status"] == 1
        return None

    def _run_as(
        self, key: str, sender: str, to: str, value: int, data: bytes, gas: int, max_fee: int
    ) -> tuple[str, bool]:
        """The retry transaction itself (anvil impersonation of the aliased sender; its
        L2 gas is minted to that address, as the deposit pays for it on Nitro)."""
        checksum = Web3.to_checksum_address(sender)
        base = int(rpc(lambda: self.l2.eth.get_block("latest"), "L2 block").get("baseFeePerGas", 0))
        fee = max(max_fee, base)
        balance = rpc(lambda: self.l2.eth.get_balance(checksum), "L2 balance")
        need = gas * fee + value
        if balance < need:
            raw_request(self.l2, "anvil_setBalance", [checksum, hex(need)])
        nonce = rpc(lambda: self.l2.eth.get_transaction_count(checksum), "nonce")
        head = rpc(lambda: self.l2.eth.block_number, "L2 head")
        self.store.put_state(key + ":pending", {"nonce": nonce, "block": head})
        raw_request(self.l2, "anvil_impersonateAccount", [checksum])
        try:
            tx = {
                "from": checksum,
                "to": to,
                "value": value,
                "data": HexBytes(data),
                "gas": gas,
                "nonce": nonce,
                "maxFeePerGas": fee,
                "maxPriorityFeePerGas": 0,
            }
            try:
                tx_hash = bytes(self.l2.eth.send_transaction(tx))  # type: ignore[arg-type]
            except Web3RPCError as exc:
                if "gas" not in str(exc).lower():
                    raise RpcError(f"retry of {key}: {str(exc).splitlines()[0][:200]}") from None
                # the node refused it (gas below the intrinsic cost): a failed attempt
                # that left no transaction; its id is a placeholder without a receipt
                return "0x" + keccak(key.encode()).hex(), False
            except OSError as exc:
                raise RpcError(f"retry of {key}: node unreachable ({exc})") from None
            receipt = rpc(
                lambda: self.l2.eth.wait_for_transaction_receipt(HexBytes(tx_hash)), "retry"
            )
            return "0x" + tx_hash.hex(), receipt["status"] == 1
        finally:
            raw_request(self.l2, "anvil_stopImpersonatingAccount", [checksum])

    def _redeem_requests(self, report: StepReport) -> None:
        head = rpc(lambda: self.l2.eth.block_number, "L2 eth_blockNumber")
        cursor = int(self.store.get_state("l2_cursor", 0))
        if cursor > head:
            return
        params = {
            "address": self.retryable.address,
            "topics": [REDEEM_REQUESTED],
            "fromBlock": cursor,
            "toBlock": head,
        }
        logs = rpc(lambda: self.l2.eth.get_logs(params), "L2 eth_getLogs")  # type: ignore[arg-type]
        for log in logs:
            event = self.retryable.events.DevnetRedeemRequested().process_log(log)
            ticket = bytes(event["args"]["ticketId"])
            seq = int(event["args"]["sequenceNum"])
            state = retryables.ticket_state(self.l2, ticket)
            if state.status != retryables.FUNDS_DEPOSITED_ON_CHILD:
                report.notes.append(f"redeem of 0x{ticket.hex()}: ticket is {state.status}")
                continue
            self.execute_retry(
                ticket,
                f"redeem-{seq}-{bytes(log['transactionHash']).hex()}",
                int(event["args"]["donatedGas"]),
                event["args"]["gasDonor"],
            )
            report.redeems += 1
        self.store.put_state("l2_cursor", head + 1)

    # ------------------------------------------------------------------ outbox

    def _send_roots(self, report: StepReport) -> None:
        head = rpc(lambda: self.l2.eth.get_block("latest"), "L2 block")
        size, root, _ = self.arb_sys.functions.sendMerkleTreeState().call(
            block_identifier=head["number"]
        )
        posted = int(self.store.get_state("posted_size", 0))
        if size <= posted:
            return
        candidate = self.store.get_state("root_candidate")
        if candidate is None or int(candidate["size"]) != size:
            candidate = {
                "size": size,
                "root": "0x" + bytes(root).hex(),
                "l2_block_hash": "0x" + bytes(head["hash"]).hex(),
                "seen": self.clock(),
            }
            self.store.put_state("root_candidate", candidate)
        if self.clock() - float(candidate["seen"]) < self.confirm_delay:
            return
        fn = self.outbox.functions.updateSendRoot(
            HexBytes(candidate["root"]), HexBytes(candidate["l2_block_hash"])
        )
        self.l1_tx.send_and_wait(f"relay:root:{size}", fn.address, _calldata(fn))
        self.store.put_state("posted_size", size)
        report.roots += 1


def _calldata(fn: Any) -> bytes:
    return bytes(HexBytes(fn._encode_transaction_data()))


def relay_from_devnet(data_dir: Path, confirm_delay: float = 0.0) -> Relay:
    """A relay over the devnet recorded in ``data_dir``."""
    from bridge.devnet import load  # the relay runs where the devnet lives

    info = load(data_dir)
    l1 = connect(info["l1"]["rpc"], info["l1"]["chain_id"])
    l2 = connect(info["l2"]["rpc"], info["l2"]["chain_id"])
    return Relay(
        l1, l2, info["contracts"], BridgeStore.in_dir(data_dir), confirm_delay=confirm_delay
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m bridge.relay --data-dir D``: step until SIGTERM."""
    parser = argparse.ArgumentParser(prog="bridge.relay")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--confirm-delay", type=float, default=1.0)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args(argv)
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    relay = relay_from_devnet(Path(args.data_dir), args.confirm_delay)
    print(f"relay: started (confirm delay {args.confirm_delay:g}s)", flush=True)
    while not stopping:
        try:
            report = relay.step()
            if report.tickets or report.redeems or report.roots or report.notes:
                print(
                    f"relay: tickets={report.tickets} redeems={report.redeems}"
                    f" roots={report.roots} {' '.join(report.notes)}",
                    flush=True,
                )
        except (CoprocessorError, OSError, Web3Exception) as exc:
            # a node restarting or an RPC failing mid-step: log, resume next round
            # (every transaction of a step is journaled, nothing is sent twice)
            text = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
            print(f"relay: {text}", flush=True)
        time.sleep(args.interval)
    print("relay: stopped", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
