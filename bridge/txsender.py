"""Crash-safe transaction sending: a SQLite-backed nonce manager per key.

Rules (each one is a test in tests/test_bridge_txsender.py):

- An *intent* is identified by a caller-chosen ``key``; submitting the same key again
  returns the existing intent (a restart finishes it, never sends it twice).
- A nonce is allocated and the signed transaction written to SQLite in one write
  transaction, *before* the broadcast: a crash after that point loses nothing, the
  next :meth:`TxSender.poll` re-broadcasts the stored bytes. Nonces are allocated as
  ``max(chain's latest count, last nonce in the store + 1)``: no gaps, and
  ``UNIQUE (chain_id, sender, nonce)`` forbids two intents sharing a nonce.
- A transaction the node forgot (dropped from its pool) is re-broadcast; one pending
  longer than ``bump_after`` seconds is replaced with the same nonce and fees raised
  by ``bump_percent`` (every attempt is kept: whichever gets mined is the receipt).
- An intent is ``mined`` when one of its attempts has a receipt and ``confirmed`` once
  that receipt is ``confirmations`` blocks deep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError

from bridge.chain import rpc
from bridge.store import BridgeStore
from coprocessor.errors import RpcError, ToolError, UserInputError
from coprocessor.sqlite import from_int64, to_int64

PENDING, MINED, CONFIRMED = "pending", "mined", "confirmed"
#: seconds a used nonce may lack a receipt of ours before it counts as taken by others
FOREIGN_NONCE_GRACE = 5.0


@dataclass(frozen=True)
class TxRecord:
    """One intent as stored."""

    key: str
    chain_id: int
    sender: str
    nonce: int
    status: str
    tx_hash: str | None
    block_number: int | None
    receipt_status: int | None
    attempts: int

    @property
    def succeeded(self) -> bool:
        """Mined (or confirmed) with receipt status 1."""
        return self.status in (MINED, CONFIRMED) and self.receipt_status == 1


class TxSender:
    """Sends and follows transactions of one key on one chain."""

    def __init__(
        self,
        w3: Web3,
        store: BridgeStore,
        account: LocalAccount,
        *,
        confirmations: int = 1,
        bump_after: float = 30.0,
        bump_percent: int = 20,
        gas_margin_percent: int = 25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if confirmations < 1:
            raise UserInputError("confirmations must be at least 1")
        self.w3 = w3
        self.store = store
        self.account = account
        self.sender = account.address
        self.chain_id = rpc(lambda: w3.eth.chain_id, "eth_chainId")
        self.confirmations = confirmations
        self.bump_after = bump_after
        self.bump_percent = bump_percent
        self.gas_margin_percent = gas_margin_percent
        self.clock = clock
        self._nonce_used_since: dict[str, float] = {}

    # ------------------------------------------------------------------ submit

    def submit(
        self, key: str, to: str | None, data: bytes, value: int = 0, gas: int | None = None
    ) -> TxRecord:
        """Create the intent ``key`` (or return the existing one) and broadcast it."""
        existing = self.record(key)
        if existing is not None:
            self._check_same(key, to, data, value)
            return existing
        if gas is None:
            call: dict[str, Any] = {"from": self.sender, "data": HexBytes(data), "value": value}
            if to is not None:
                call["to"] = Web3.to_checksum_address(to)
            estimate = rpc(lambda: self.w3.eth.estimate_gas(call), f"{key}: eth_estimateGas")  # type: ignore[arg-type]
            gas = estimate * (100 + self.gas_margin_percent) // 100
        max_fee, tip = self._fees()
        chain_nonce = rpc(lambda: self.w3.eth.get_transaction_count(self.sender, "latest"), "nonce")
        now = self.clock()
        with self.store.write() as db:
            row = db.execute(
                "SELECT MAX(nonce) FROM txs WHERE chain_id = ? AND sender = ?",
                (to_int64(self.chain_id), self.sender),
            ).fetchone()
            nonce = max(chain_nonce, (row[0] + 1) if row[0] is not None else 0)
            tx = self._tx(nonce, to, data, value, gas, max_fee, tip)
            signed = self.account.sign_transaction(tx)
            tx_hash = "0x" + bytes(signed.hash).hex()
            db.execute(
                "INSERT INTO txs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    to_int64(self.chain_id),  # a uint64; SQLite's INTEGER is signed
                    self.sender,
                    nonce,
                    to,
                    data,
                    str(value),
                    gas,
                    PENDING,
                    tx_hash,
                    None,
                    None,
                    now,
                    now,
                ),
            )
            db.execute(
                "INSERT INTO tx_attempts VALUES (?,?,?,?,?,?)",
                (key, tx_hash, bytes(signed.raw_transaction), max_fee, tip, now),
            )
        self._broadcast(bytes(signed.raw_transaction))
        record = self.record(key)
        assert record is not None
        return record

    def _check_same(self, key: str, to: str | None, data: bytes, value: int) -> None:
        row = self.store.db.execute(
            "SELECT to_address, data, value FROM txs WHERE key = ?", (key,)
        ).fetchone()
        if row and (row[0], bytes(row[1]), int(row[2])) != (to, data, value):
            raise UserInputError(f"intent {key} exists with other contents")

    def _tx(
        self, nonce: int, to: str | None, data: bytes, value: int, gas: int, max_fee: int, tip: int
    ) -> dict[str, Any]:
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
            "value": value,
            "data": HexBytes(data),
        }
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        return tx

    def _fees(self) -> tuple[int, int]:
        """EIP-1559 fees: tip = the node's suggestion, max fee = 2 × base fee + tip."""
        block = rpc(lambda: self.w3.eth.get_block("latest"), "eth_getBlockByNumber")
        base = int(block.get("baseFeePerGas", 0) or 0)
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except (Web3RPCError, ValueError):
            tip = 10**9
        return 2 * base + tip, tip

    def _broadcast(self, raw: bytes) -> None:
        """Send stored bytes; 'already known' and 'nonce too low' are not failures
        here (the receipt lookup decides what happened)."""
        try:
            self.w3.eth.send_raw_transaction(raw)
        except (Web3RPCError, ValueError) as exc:
            text = str(exc).lower()
            if any(s in text for s in ("already known", "nonce too low", "already imported")):
                return
            if "underpriced" in text:
                return  # a replacement the node refused: the next bump goes higher
            raise RpcError(f"eth_sendRawTransaction: {str(exc).splitlines()[0][:200]}") from None
        except OSError as exc:  # requests' errors are OSErrors
            # the request may or may not have reached the node: poll() finds out
            raise RpcError(
                f"eth_sendRawTransaction: node unreachable ({exc.__class__.__name__})"
            ) from None

    # ------------------------------------------------------------------ follow

    def record(self, key: str) -> TxRecord | None:
        """The stored intent ``key``."""
        row = self.store.db.execute(
            "SELECT key, chain_id, sender, nonce, status, tx_hash, block_number, receipt_status,"
            " (SELECT COUNT(*) FROM tx_attempts a WHERE a.key = t.key) FROM txs t WHERE key = ?",
            (key,),
        ).fetchone()
        return TxRecord(row[0], from_int64(row[1]), *row[2:]) if row else None

    def pending_keys(self) -> list[str]:
        """Intents of this sender on this chain not yet confirmed, by nonce."""
        rows = self.store.db.execute(
            "SELECT key FROM txs WHERE chain_id = ? AND sender = ? AND status != ? ORDER BY nonce",
            (to_int64(self.chain_id), self.sender, CONFIRMED),
        )
        return [r[0] for r in rows]

    def poll(self) -> list[TxRecord]:
        """Advance every unconfirmed intent of this key once (receipts, confirmations,
        re-broadcasts of dropped transactions, gas bumps of stuck ones)."""
        out = []
        for key in self.pending_keys():
            out.append(self._advance(key))
        return out

    def _attempts(self, key: str) -> list[tuple[str, bytes, int, int, float]]:
        rows = self.store.db.execute(
            "SELECT tx_hash, raw, max_fee, tip, sent_at FROM tx_attempts WHERE key = ?"
            " ORDER BY sent_at, max_fee",
            (key,),
        )
        return [(r[0], bytes(r[1]), r[2], r[3], r[4]) for r in rows]

    def _advance(self, key: str) -> TxRecord:
        record = self.record(key)
        assert record is not None
        attempts = self._attempts(key)
        head = rpc(lambda: self.w3.eth.block_number, "eth_blockNumber")
        for tx_hash, _raw, _fee, _tip, _at in attempts:
            receipt = self._receipt(tx_hash)
            if receipt is not None:
                depth = head - int(receipt["blockNumber"]) + 1
                status = CONFIRMED if depth >= self.confirmations else MINED
                self._mark(key, status, tx_hash, int(receipt["blockNumber"]), receipt["status"])
                record = self.record(key)
                assert record is not None
                return record
        if record.status != PENDING:
            # it had a receipt before and has none now: a reorg took it out; send again
            self._mark(key, PENDING, record.tx_hash, None, None)
        chain_nonce = rpc(lambda: self.w3.eth.get_transaction_count(self.sender, "latest"), "nonce")
        if chain_nonce > record.nonce:
            # our nonce is used but none of our attempts has a receipt: either the node
            # has not indexed the receipt yet (anvil can lag a moment behind its nonce
            # count), or a foreign transaction took the nonce (after a grace period)
            first = self._nonce_used_since.setdefault(key, time.monotonic())
            if time.monotonic() - first < FOREIGN_NONCE_GRACE:
                return record
            raise ToolError(
                f"{key}: nonce {record.nonce} of {self.sender} was used by a transaction "
                "this store did not send"
            )
        latest_hash, latest_raw, _, _, latest_at = attempts[-1]
        if self.clock() - latest_at >= self.bump_after:
            self.bump(key)
        elif not self._known(latest_hash):
            self._broadcast(latest_raw)  # dropped from the pool: send the same bytes again
        record = self.record(key)
        assert record is not None
        return record

    def bump(self, key: str) -> str:
        """Replace the intent's transaction (same nonce) with fees raised by
        ``bump_percent`` (at least the node's current fees); returns the new hash."""
        row = self.store.db.execute(
            "SELECT nonce, to_address, data, value, gas FROM txs WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            raise UserInputError(f"no transaction intent {key}")
        nonce, to, data, value, gas = row[0], row[1], bytes(row[2]), int(row[3]), row[4]
        attempts = self._attempts(key)
        _, _, old_fee, old_tip, _ = max(attempts, key=lambda a: a[2])
        fee_now, tip_now = self._fees()
        factor = 100 + self.bump_percent
        tip = max(tip_now, -(-old_tip * factor // 100), old_tip + 1)
        max_fee = max(fee_now, -(-old_fee * factor // 100), old_fee + 1, tip)
        signed = self.account.sign_transaction(self._tx(nonce, to, data, value, gas, max_fee, tip))
        tx_hash = "0x" + bytes(signed.hash).hex()
        now = self.clock()
        with self.store.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO tx_attempts VALUES (?,?,?,?,?,?)",
                (key, tx_hash, bytes(signed.raw_transaction), max_fee, tip, now),
            )
            db.execute("UPDATE txs SET tx_hash = ?, updated = ? WHERE key = ?", (tx_hash, now, key))
        self._broadcast(bytes(signed.raw_transaction))
        return tx_hash

    def _receipt(self, tx_hash: str) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        except (Web3RPCError, ValueError, OSError) as exc:
            raise RpcError(f"eth_getTransactionReceipt: {str(exc).splitlines()[0][:200]}") from None

    def _known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
            return True
        except TransactionNotFound:
            return False

    def _mark(
        self, key: str, status: str, tx_hash: str | None, block: int | None, rstatus: int | None
    ) -> None:
        with self.store.write() as db:
            db.execute(
                "UPDATE txs SET status = ?, tx_hash = ?, block_number = ?, receipt_status = ?,"
                " updated = ? WHERE key = ?",
                (status, tx_hash, block, rstatus, self.clock(), key),
            )

    def wait(self, key: str, timeout: float = 60.0, interval: float = 0.1) -> Any:
        """Poll until ``key`` is confirmed; returns its receipt (raises ToolError on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            # earlier intents of this key first: a lower nonce left unsent by a crash
            # would hold this one back
            for other in self.pending_keys():
                if other == key:
                    break
                self._advance(other)
            record = self._advance(key)
            if record.status == CONFIRMED:
                assert record.tx_hash is not None
                return self._receipt(record.tx_hash)
            if time.monotonic() > deadline:
                raise ToolError(f"{key}: not confirmed within {timeout:g}s ({record.status})")
            time.sleep(interval)

    def send_and_wait(
        self, key: str, to: str | None, data: bytes, value: int = 0, timeout: float = 60.0
    ) -> Any:
        """:meth:`submit` then :meth:`wait`; raises ToolError if the transaction reverted."""
        self.submit(key, to, data, value)
        receipt = self.wait(key, timeout)
        if receipt["status"] != 1:
            raise ToolError(f"{key}: transaction {receipt['transactionHash'].hex()} reverted")
        return receipt
