"""Posting proven results on-chain, exactly once.

Destination ``l1``: ``RiskOracle.submit(journal, seal)`` on the L1 (the deployment of
``coprocessor.onchain.contracts``). The transaction is signed locally and recorded (nonce,
hash, raw bytes) in the ``posts`` table *before* it is broadcast; after a crash the
worker looks up that hash and, if it never landed, re-broadcasts the *same* bytes —
so at most one transaction per job can ever be mined. If its nonce was taken by
another transaction meanwhile, the recorded one can never be mined and is replaced.
The oracle also refuses a second use of a request id (``RiskOracleRequestReplayed``).

Destination ``l2``: an :class:`L2Poster` (``l2posting.BridgeL2Poster``) first makes sure
the L2 block-hash store holds the journal's anchor (bridge push, idempotent and
resumable), then submits with the same protocol; without one configured the service
refuses l2 requests with a clear error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.types import Nonce, TxParams

from coprocessor.chain.keccak import keccak256
from coprocessor.errors import ToolError, VerificationError
from coprocessor.onchain import contracts


@dataclass(frozen=True)
class Prepared:
    """A signed, not yet broadcast transaction."""

    sender: str
    nonce: int
    tx_hash: str
    raw_tx: str


@dataclass(frozen=True)
class Landed:
    """A mined transaction."""

    tx_hash: str
    block_number: int
    ok: bool


class Poster(Protocol):
    """What the posting stage needs from a destination chain."""

    #: the account that signs and pays
    sender: str

    def request_used(self, request_id: bytes) -> bool: ...

    def pending_count(self) -> int:
        """The chain's pending transaction count of ``sender`` (its next nonce)."""
        ...

    def prepare(self, journal: bytes, seal: bytes, nonce: int | None = None) -> Prepared:
        """Sign (not send) the submission with ``nonce`` (None: ``pending_count()``)."""
        ...

    def broadcast(self, raw_tx: str) -> None: ...

    def landed(self, tx_hash: str, wait: float) -> Landed | None: ...

    def nonce_taken(self, sender: str, nonce: int) -> bool: ...


class L2Poster(Poster, Protocol):
    """A poster for the L2 RiskOracle (same contract, L1 block hashes bridged)."""

    def ensure_anchor(self, number: int, block_hash: str) -> dict[str, Any]:
        """Make L2 hold ``block_hash`` for L1 block ``number`` before a submit (idempotent,
        resumable after a crash); returns what was done (JSON)."""
        ...


def _message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else exc.__class__.__name__


class L1Poster:
    """RiskOracle.submit on the L1 through web3 (blocking; call from a thread)."""

    def __init__(
        self, rpc_url: str, oracle: str, private_key: bytes, contract: str = "RiskOracle"
    ) -> None:
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        self.oracle = contracts.at(self.w3, contract, oracle)
        self._account = Account.from_key(private_key)
        self.sender = str(self._account.address)
        #: the chain the transactions go to (posting records are kept per chain)
        self.chain_id = int(self.w3.eth.chain_id)

    def __repr__(self) -> str:
        return f"L1Poster(sender={self.sender}, oracle={self.oracle.address})"

    def request_used(self, request_id: bytes) -> bool:
        return bool(self.oracle.functions.requestUsed(request_id).call())

    def pending_count(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.sender, "pending"))  # type: ignore[arg-type]

    def prepare(self, journal: bytes, seal: bytes, nonce: int | None = None) -> Prepared:
        return self.prepare_call("submit", journal, seal, nonce=nonce)

    def prepare_call(self, name: str, *args: Any, nonce: int | None = None) -> Prepared:
        """Sign (not send) ``RiskOracle.<name>(*args)`` (``submit``, ``submitBatch``,
        ``storeLeaves``) with ``nonce`` (None: the pending count); a call that would
        revert is a permanent error."""
        fn = self.oracle.functions[name](*args)
        if nonce is None:
            nonce = self.pending_count()
        call: Any = {
            "from": self.sender,
            "to": self.oracle.address,
            "data": fn._encode_transaction_data(),
        }
        try:
            # "pending": the anchor may be the head, whose hash BLOCKHASH only sees from
            # the next block on (where the transaction will be mined); a revert here is
            # a permanent error
            gas = self.w3.eth.estimate_gas(call, block_identifier="pending")
        except ContractLogicError as exc:
            reason = _error_name(self.oracle.abi, exc)
            raise VerificationError(f"RiskOracle.{name} would revert: {reason}") from None
        params: TxParams = {"from": self.sender, "nonce": Nonce(nonce), "gas": gas + gas // 5}
        tx = fn.build_transaction(params)
        signed = self._account.sign_transaction(tx)
        return Prepared(
            self.sender, nonce, "0x" + bytes(signed.hash).hex(), "0x" + signed.raw_transaction.hex()
        )

    def broadcast(self, raw_tx: str) -> None:
        try:
            self.w3.eth.send_raw_transaction(bytes.fromhex(raw_tx[2:]))
        except (ValueError, Web3RPCError) as exc:  # the node's JSON-RPC error
            text = _message(exc).lower()
            if "already known" in text or "already imported" in text:
                return
            if "nonce too low" in text:
                raise NonceTaken(_message(exc)) from None
            raise ToolError(f"broadcast failed: {_message(exc)}") from None

    def landed(self, tx_hash: str, wait: float) -> Landed | None:
        try:
            if wait > 0:
                receipt: Any = self.w3.eth.wait_for_transaction_receipt(
                    tx_hash,  # type: ignore[arg-type]
                    timeout=wait,
                    poll_latency=0.05,
                )
            else:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except Exception as exc:  # TransactionNotFound / TimeExhausted
            if exc.__class__.__name__ in ("TransactionNotFound", "TimeExhausted"):
                return None
            raise
        return Landed(tx_hash, int(receipt["blockNumber"]), receipt["status"] == 1)

    def nonce_taken(self, sender: str, nonce: int) -> bool:
        latest = self.w3.eth.get_transaction_count(sender, "latest")  # type: ignore[arg-type]
        return bool(latest > nonce)


class FulfilPoster(L1Poster):
    """``RiskRequests.fulfil(journal, seal)`` on the chain of a requests contract (L1 or
    the Arbitrum chain), with the same exactly-once protocol as ``submit``: the journal's
    request id is the on-chain request's, and a request that is no longer pending
    (fulfilled by anyone, refunded, or reorged away) counts as used."""

    def __init__(self, rpc_url: str, requests: str, private_key: bytes) -> None:
        super().__init__(rpc_url, requests, private_key, contract="RiskRequests")

    def __repr__(self) -> str:
        return f"FulfilPoster(sender={self.sender}, requests={self.oracle.address})"

    def request_used(self, request_id: bytes) -> bool:
        stored = self.oracle.functions.requestOf(request_id).call()
        return bool(int(stored[2]) != REQUEST_PENDING)

    def prepare(self, journal: bytes, seal: bytes, nonce: int | None = None) -> Prepared:
        return self.prepare_call("fulfil", journal, seal, nonce=nonce)


#: ``RiskRequests.Status.Pending``
REQUEST_PENDING = 1


def _error_name(abi: Any, exc: ContractLogicError) -> str:
    """The custom error's name (from the ABI) if the revert data carries a known one."""
    data = exc.data if isinstance(exc.data, str) else str(exc.args[0] if exc.args else "")
    selector = data[:10].lower()
    for item in abi:
        if item.get("type") == "error":
            sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            if "0x" + keccak256(sig.encode())[:4].hex() == selector:
                return f"{item['name']} ({data[:74]})"
    return _message(exc)


class NonceTaken(ToolError):
    """The recorded transaction's nonce was used by another transaction."""


class PostRecords(Protocol):
    """Where the transaction of each key is recorded before it is broadcast
    (``ServiceDB.post_records``: ``JobDB`` or ``store.posts.PgPostRecords``)."""

    def post_of(self, job_id: str) -> dict[str, Any] | None: ...

    def record_post(self, job_id: str, sender: str, nonce: int, tx_hash: str, raw: str) -> None: ...

    def forget_post(self, job_id: str) -> None: ...


@runtime_checkable
class NonceRecords(PostRecords, Protocol):
    """Records that also choose the nonce, one signer of a sender at a time across
    processes (``store.posts.PgPostRecords``)."""

    def sign_and_record(
        self,
        job_id: str,
        sender: str,
        pending_count: Callable[[], int],
        sign: Callable[[int], Prepared],
    ) -> Prepared | None: ...


async def post_exactly_once(
    records: PostRecords,
    key: str,
    poster: Poster,
    prepare: Callable[[int | None], Prepared],
    used: tuple[bytes, str] | None = None,
) -> Landed:
    """One transaction per ``key`` (the protocol of this module's docstring): the recorded
    one if any, re-broadcast as the same bytes after a crash, else a new one recorded
    before it is broadcast. ``prepare(nonce)`` signs with ``nonce`` (None: the chain's
    pending count); records that choose nonces (``NonceRecords``) pick it under their
    signer lock, so processes sharing a key never sign one nonce twice. ``used``: an id
    the contract refuses twice and what to call it (a transaction of someone else's that
    used it means ours must never be sent)."""
    for _ in range(3):
        record = records.post_of(key)
        if record is not None:
            landed = await asyncio.to_thread(poster.landed, record["tx_hash"], 0)
            if landed is not None:
                return landed
            try:
                await asyncio.to_thread(poster.broadcast, record["raw_tx"])
            except NonceTaken:
                landed = await asyncio.to_thread(poster.landed, record["tx_hash"], 0)
                if landed is not None:
                    return landed
                # our bytes can never be mined now: safe to prepare anew
                records.forget_post(key)
                continue
            landed = await asyncio.to_thread(poster.landed, record["tx_hash"], 60)
            if landed is None:
                raise ToolError(f"transaction {record['tx_hash']} not mined within 60 s")
            return landed
        if used is not None and await asyncio.to_thread(poster.request_used, used[0]):
            if records.post_of(key) is not None:
                continue  # another process of this service recorded and sent it meanwhile
            raise VerificationError(f"{used[1]} already used on-chain by another transaction")
        if isinstance(records, NonceRecords):
            await asyncio.to_thread(
                records.sign_and_record, key, poster.sender, poster.pending_count, prepare
            )
            continue  # recorded (here, or by another process meanwhile): the next round
            # broadcasts it like a recovered record
        prepared = await asyncio.to_thread(prepare, None)
        records.record_post(key, prepared.sender, prepared.nonce, prepared.tx_hash, prepared.raw_tx)
    raise ToolError("could not get a transaction mined (nonce taken repeatedly)")
