"""The bridge as the CLI uses it: one object over a :class:`~bridge.networks.Network`,
both chains, the store and the user's key, with the wired flows:

- :meth:`Bridge.push_blockhash`: L1 pusher → retryable → L2 store;
- :meth:`Bridge.post_l2_score`: a receipt submitted to the L2 RiskOracle (anchored on a
  bridged L1 hash);
- :meth:`Bridge.send_result_to_l1` + :meth:`Bridge.execute`: an L2 result relayed to the
  L1 consumer through ArbSys and the Outbox;
- :meth:`Bridge.refresh`, :meth:`Bridge.redeem`: message tracking and manual redeem.

Every message is a row in the store; every transaction goes through the nonce manager
with an idempotency key derived from what it does, so re-running a command after a
crash resumes the same message instead of sending a second one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3

from bridge import outbox, retryables
from bridge.chain import connect, dev_account, rpc
from bridge.networks import Network, from_devnet
from bridge.nitro import nitro_at
from bridge.store import BridgeStore, Message
from bridge.txsender import TxSender
from coprocessor.errors import ToolError, UserInputError, VerificationError
from coprocessor.onchain import contracts

L1_TO_L2, L2_TO_L1 = "l1_to_l2", "l2_to_l1"
#: alert when a ticket waiting for a redeem has less than this left (seconds)
DEFAULT_ALERT_WINDOW = 24 * 3600
ALERT = "ALERT"
#: L2 blocks scanned back for a ticket's events (about 3.5 h of Arbitrum One blocks)
L2_LOOKBACK = 50_000


@dataclass
class Bridge:
    """Both chains, the store and the key that signs."""

    network: Network
    l1: Web3
    l2: Web3
    store: BridgeStore
    account: LocalAccount
    clock: Callable[[], float] = time.time
    alert_window: float = DEFAULT_ALERT_WINDOW

    @classmethod
    def from_devnet(cls, info: dict[str, Any], data_dir: Path, **kw: Any) -> Bridge:
        """On the recorded devnet, as its user (dev account #1)."""
        network = from_devnet(info)
        l1 = connect(info["l1"]["rpc"], network.l1_chain_id)
        l2 = connect(info["l2"]["rpc"], network.l2_chain_id)
        return cls(network, l1, l2, BridgeStore.in_dir(data_dir), dev_account(1), **kw)

    def contract(self, name: str) -> str:
        """Address of one of our contracts on this network."""
        try:
            return self.network.contracts[name]
        except KeyError:
            raise UserInputError(f"{self.network.name}: no address for {name}") from None

    def l1_sender(self) -> TxSender:
        """The nonce manager of the user's key on L1."""
        return TxSender(self.l1, self.store, self.account, clock=self.clock)

    def l2_sender(self) -> TxSender:
        """The nonce manager of the user's key on L2."""
        return TxSender(self.l2, self.store, self.account, clock=self.clock)

    # ------------------------------------------------------------------ L1 -> L2

    def push_blockhash(
        self, number: int, *, timeout: float = 60.0, gas_limit: int | None = None
    ) -> dict[str, Any]:
        """Send L1 block ``number``'s hash to the L2 store and wait for it there.
        Returns the message JSON; raises VerificationError if L2 ends up with another
        hash, ToolError if the ticket is not redeemed in time (it stays tracked)."""
        block = rpc(lambda: self.l1.eth.get_block(number), f"L1 block {number}")
        l1_hash = bytes(block["hash"])
        store = contracts.at(self.l2, "L2BlockHashStore", self.contract("l2_block_hash_store"))
        pusher = contracts.at(self.l1, "L1BlockHashPusher", self.contract("l1_block_hash_pusher"))
        key = f"push-blockhash:{self.network.l1_chain_id}:{number}"
        sender = self.l1_sender()
        if sender.record(key) is None:  # else: resume our own push (after a crash)
            if bytes(store.functions.blockHashOf(number).call()) == l1_hash:
                return {"block": number, "hash": "0x" + l1_hash.hex(), "status": "ALREADY_ON_L2"}
            calldata = store.functions.receiveBlockHash(number, l1_hash)._encode_transaction_data()
            aliased = store.functions.aliasedPusher().call()
            l2_gas = gas_limit or rpc(
                lambda: self.l2.eth.estimate_gas(
                    {"from": aliased, "to": store.address, "data": HexBytes(calldata)}
                ),
                "L2 eth_estimateGas",
            )
            fees = retryables.estimate_fees(
                len(HexBytes(calldata)),
                int(self.l1.eth.get_block("latest")["baseFeePerGas"]),
                l2_gas,
                int(self.l2.eth.get_block("latest")["baseFeePerGas"]),
                gas_margin=0 if gas_limit else 30,
            )
            fn = pusher.functions.push(
                number, fees.max_submission_cost, fees.gas_limit, fees.max_fee_per_gas
            )
            data = bytes(HexBytes(fn._encode_transaction_data()))
            sender.submit(key, pusher.address, data, fees.deposit)
        receipt = sender.wait(key, timeout)
        if receipt["status"] != 1:
            raise ToolError(f"push of block {number} reverted on L1")
        message = self.track_retryables(receipt, purpose=f"block {number}")[0]
        final = self.wait_ticket(message.id, timeout)
        got = bytes(store.functions.blockHashOf(number).call())
        if final.status == retryables.REDEEMED and got != l1_hash:
            raise VerificationError(
                f"L2 holds 0x{got.hex()} for block {number}, L1 has 0x{l1_hash.hex()}"
            )
        if got != l1_hash:
            raise ToolError(
                f"ticket {message.id} is {final.status}: run `coproc bridge redeem {message.id}`"
            )
        return dict(self.store.message(message.id).to_json(), block=number)  # type: ignore[union-attr]

    def track_retryables(self, receipt: Any, purpose: str = "") -> list[Message]:
        """Record the retryables an L1 receipt created (idempotent)."""
        bridge = nitro_at(self.l1, "Bridge", self.network.bridge)
        inbox = nitro_at(self.l1, "Inbox", self.network.inbox)
        out = []
        for m in retryables.messages_in_receipt(bridge, inbox, receipt):
            ticket = "0x" + m.ticket_id(self.network.l2_chain_id).hex()
            data = dict(m.to_json(), purpose=purpose, l2_from_block=self._l2_head())
            self.store.add_message(ticket, L1_TO_L2, retryables.NOT_YET_CREATED, data)
            message = self.store.message(ticket)
            assert message is not None
            out.append(message)
        return out

    def _l2_head(self) -> int:
        """Where L2 log scans for a new ticket start: ``L2_LOOKBACK`` blocks before the
        head, since L2 may have processed the ticket before we record it (a resumed
        push, a slow L1 confirmation)."""
        head = int(rpc(lambda: self.l2.eth.block_number, "L2 head"))
        return max(head - L2_LOOKBACK, 0)

    def wait_ticket(
        self, ticket: str, timeout: float, interval: float = 0.2
    ) -> retryables.TicketState:
        """Refresh ticket ``ticket`` until it is no longer NOT_YET_CREATED and not
        waiting on its auto-redeem (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.refresh_ticket(ticket)
            if state.status != retryables.NOT_YET_CREATED and (
                state.status != retryables.FUNDS_DEPOSITED_ON_CHILD or state.attempts > 0
            ):
                return state
            if time.monotonic() > deadline:
                return state
            time.sleep(interval)

    def refresh_ticket(self, ticket: str) -> retryables.TicketState:
        """Look the ticket up on L2, store a status change, raise the expiry alert."""
        message = self.store.message(ticket)
        from_block = int(message.data.get("l2_from_block", 0)) if message else 0
        state = retryables.ticket_state(self.l2, bytes(HexBytes(ticket)), from_block)
        if message is None:  # a ticket someone else created: look, do not track
            return state
        self.store.set_status(ticket, state.status, data={"l2": state.to_json()})
        alert = retryables.expiry_alert(state, self.clock(), self.alert_window)
        if alert is not None:  # once per timeout value (a keepalive re-arms it)
            tag = f"timeout {state.timeout}"
            if not any(s == ALERT and tag in d for s, _, d in self.store.history(ticket)):
                self.store.add_event(ticket, ALERT, f"{alert} ({tag})")
        return state

    def alerts(self, ticket: str) -> list[str]:
        """The alert texts recorded for a ticket."""
        return [d for s, _, d in self.store.history(ticket) if s == ALERT]

    def keepalive(self, ticket: str, *, timeout: float = 60.0) -> int:
        """Extend a waiting ticket by one lifetime (ArbRetryableTx.keepalive); returns
        the new timeout."""
        state = self.refresh_ticket(ticket)
        if state.status != retryables.FUNDS_DEPOSITED_ON_CHILD:
            raise UserInputError(f"ticket {ticket} is {state.status}: nothing to keep alive")
        fn = retryables.retryable_tx(self.l2).functions.keepalive(HexBytes(ticket))
        data = bytes(HexBytes(fn._encode_transaction_data()))
        key = f"keepalive:{ticket}:{state.timeout}"
        self.l2_sender().send_and_wait(key, fn.address, data, timeout=timeout)
        return int(self.refresh_ticket(ticket).timeout or 0)

    def redeem(
        self, ticket: str, *, gas: int = 1_000_000, timeout: float = 60.0
    ) -> retryables.TicketState:
        """Manual redeem: call ``ArbRetryableTx.redeem`` on L2 and wait for the outcome."""
        state = self.refresh_ticket(ticket)
        if state.status == retryables.REDEEMED:
            return state
        if state.status != retryables.FUNDS_DEPOSITED_ON_CHILD:
            raise UserInputError(f"ticket {ticket} is {state.status}: nothing to redeem")
        fn = retryables.retryable_tx(self.l2).functions.redeem(HexBytes(ticket))
        data = bytes(HexBytes(fn._encode_transaction_data()))
        sender = self.l2_sender()
        key = f"redeem:{ticket}:{state.attempts}"
        sender.submit(key, fn.address, data, gas=gas)
        receipt = sender.wait(key, timeout)
        if receipt["status"] != 1:
            raise ToolError(f"redeem of {ticket} reverted")
        deadline = time.monotonic() + timeout
        while True:
            new = self.refresh_ticket(ticket)
            if new.status != retryables.FUNDS_DEPOSITED_ON_CHILD or new.attempts > state.attempts:
                return new
            if time.monotonic() > deadline:
                raise ToolError(f"redeem of {ticket} requested; no outcome within {timeout:g}s")
            time.sleep(0.2)

    # ------------------------------------------------------------------ L2 oracle

    def post_l2_score(self, journal: bytes, seal: bytes, *, timeout: float = 60.0) -> Any:
        """Submit a receipt to the L2 RiskOracle (whose anchors are bridged L1 hashes)."""
        oracle = contracts.at(self.l2, "RiskOracle", self.contract("l2_risk_oracle"))
        fn = oracle.functions.submit(journal, seal)
        data = bytes(HexBytes(fn._encode_transaction_data()))
        key = "l2-submit:" + Web3.keccak(journal).hex()
        return self.l2_sender().send_and_wait(key, oracle.address, data, timeout=timeout)

    # ------------------------------------------------------------------ L2 -> L1

    def send_result_to_l1(
        self, subject: str, model_hash: bytes, *, timeout: float = 60.0
    ) -> Message:
        """Relay the L2 oracle's score of (subject, model) to the L1 receiver:
        L2ResultSender.relayScore → ArbSys.sendTxToL1. Returns the tracked message."""
        sender_c = contracts.at(self.l2, "L2ResultSender", self.contract("l2_result_sender"))
        receiver = self.contract("l1_result_receiver")
        fn = sender_c.functions.relayScore(receiver, Web3.to_checksum_address(subject), model_hash)
        data = bytes(HexBytes(fn._encode_transaction_data()))
        score = (
            contracts.at(self.l2, "RiskOracle", self.contract("l2_risk_oracle"))
            .functions.scoreOf(Web3.to_checksum_address(subject), model_hash)
            .call()
        )
        key = f"l2-result:{subject.lower()}:0x{model_hash.hex()}:{score[1]}"
        receipt = self.l2_sender().send_and_wait(key, sender_c.address, data, timeout=timeout)
        sends = outbox.messages_in_receipt(self.l2, receipt)
        if len(sends) != 1:
            raise VerificationError(f"expected one L2ToL1Tx, found {len(sends)}")
        return self.track_send(sends[0])

    def track_send(self, send: outbox.L2ToL1Message) -> Message:
        """Record an L2→L1 send (idempotent); its id is ``l2tol1:<position>``."""
        id = f"l2tol1:{send.position}"
        self.store.add_message(id, L2_TO_L1, outbox.UNCONFIRMED, send.to_json())
        message = self.store.message(id)
        assert message is not None
        return message

    def _outbox(self) -> Any:
        return outbox.outbox_contract(self.l1, self.network.outbox)

    def refresh_send(self, id: str) -> str:
        """Look an L2→L1 send up on L1 and store its status."""
        message = self._message(id, L2_TO_L1)
        send = outbox.L2ToL1Message.from_json(message.data)
        state = outbox.status(self.l1, self.l2, self._outbox(), send)
        self.store.set_status(id, state)
        return state

    def execute(self, id: str, *, timeout: float = 60.0) -> str:
        """Execute a confirmed send on L1. Already executed (by us or anyone) is done,
        not an error; a send not yet confirmed is a user error (exit 2)."""
        message = self._message(id, L2_TO_L1)
        send = outbox.L2ToL1Message.from_json(message.data)
        state = self.refresh_send(id)
        if state == outbox.EXECUTED:
            return state
        if state == outbox.UNCONFIRMED:
            raise UserInputError(f"{id} is not confirmed yet (no posted send root covers it)")
        box = self._outbox()
        proof = outbox.proof_for(self.l1, self.l2, box, send)
        fn = outbox.execute_call(box, send, proof)
        data = bytes(HexBytes(fn._encode_transaction_data()))
        sender = self.l1_sender()
        key = f"outbox-execute:{self.network.outbox}:{send.position}"
        try:
            sender.submit(key, box.address, data)
        except Exception as exc:
            # estimateGas reverts AlreadySpent when someone else executed it meanwhile
            if self.refresh_send(id) == outbox.EXECUTED:
                return outbox.EXECUTED
            raise ToolError(f"executing {id}: {exc}") from None
        receipt = sender.wait(key, timeout)
        final = self.refresh_send(id)
        if final != outbox.EXECUTED:
            raise ToolError(
                f"executing {id}: transaction {receipt['transactionHash'].hex()} failed"
            )
        return final

    # ------------------------------------------------------------------ tracking

    def _message(self, id: str, kind: str) -> Message:
        message = self.store.message(id)
        if message is None or message.kind != kind:
            raise UserInputError(f"no {kind.replace('_', ' ')} message {id} in the store")
        return message

    def watch_once(self, *, auto_keepalive: bool = False) -> list[tuple[str, str]]:
        """Refresh everything; return (ticket, alert) for each waiting ticket inside the
        alert window, after extending it with ``keepalive`` when ``auto_keepalive``."""
        out = []
        for message in self.refresh():
            if message.kind != L1_TO_L2 or message.status != retryables.FUNDS_DEPOSITED_ON_CHILD:
                continue
            state = self.refresh_ticket(message.id)
            alert = retryables.expiry_alert(state, self.clock(), self.alert_window)
            if alert is None:
                continue
            if auto_keepalive and state.timeout is not None and state.timeout > self.clock():
                new_timeout = self.keepalive(message.id)
                alert = f"{alert}; kept alive until {new_timeout}"
            out.append((message.id, alert))
        return out

    def refresh(self) -> list[Message]:
        """Refresh every message not in a final state; returns all messages."""
        for message in self.store.messages():
            if message.kind == L1_TO_L2 and message.status not in retryables.FINAL:
                self.refresh_ticket(message.id)
            elif message.kind == L2_TO_L1 and message.status != outbox.EXECUTED:
                self.refresh_send(message.id)
        return self.store.messages()
