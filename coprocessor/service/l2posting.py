"""Destination ``l2``: receipts go to the RiskOracle on the Arbitrum chain.

The L2 oracle checks a journal's anchor against the L1 block hashes bridged into the
``L2BlockHashStore``, so posting a job is two steps:

1. **anchor**: if the store does not hold the anchor's hash yet, push it
   (``bridge.service.Bridge.push_blockhash``: ``L1BlockHashPusher.push`` → retryable
   ticket → L2 store) and wait until L2 holds exactly the job's anchor hash. The L1
   transaction goes through the bridge's nonce manager with the idempotency key
   ``push-blockhash:<l1 chain>:<N>`` in ``<data dir>/bridge.sqlite``: a crash anywhere
   resumes the same push (same signed bytes), never sends a second one. ``BLOCKHASH(N)``
   exists on L1 only from block N + 1 on, so an anchor that is still the L1 head is
   waited for (``l2_anchor_wait_seconds``), then the stage is retried.
2. **submit**: ``RiskOracle.submit(journal, seal)`` on L2 through the service's own
   exactly-once protocol (``posting``: the signed transaction is recorded in the
   ``posts`` table before it is broadcast; the same bytes are resent after a crash).
   :class:`posting.L1Poster` does this against any chain; here it points at L2.

Keys: the poster key pays for the L2 submit; the L1 push is signed by
``$COPROC_BRIDGE_KEY`` (``bridge_key_env``), or by the poster key when that is unset and
the service does not also post to an L1 oracle with it (the two nonce managers must not
share an account).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from bridge.chain import connect, rpc
from bridge.networks import Network, from_config, from_devnet
from bridge.service import Bridge
from bridge.store import BridgeStore
from coprocessor.errors import ToolError, UserInputError
from coprocessor.onchain import contracts
from coprocessor.service import posting
from coprocessor.service.config import ServiceConfig


def load_network(config: ServiceConfig, data_dir: Path) -> tuple[Network, str, str]:
    """(network, L1 RPC, L2 RPC) from ``l2_network``: ``devnet`` (the two-chain devnet
    recorded in ``l2_devnet_dir``, default the service's data directory) or the path of
    a bridge network config (the format of ``coproc bridge --config``)."""
    if config.l2_network == "devnet":
        from bridge.devnet import load

        info = load(Path(config.l2_devnet_dir) if config.l2_devnet_dir else data_dir)
        return from_devnet(info), str(info["l1"]["rpc"]), str(info["l2"]["rpc"])
    return from_config(Path(config.l2_network))


class BridgeL2Poster:
    """:class:`posting.L2Poster` over the bridge (blocking; call from a thread)."""

    def __init__(
        self,
        network: Network,
        l1_rpc: str,
        l2_rpc: str,
        bridge_dir: Path,
        poster_key: bytes,
        pusher_key: bytes,
        *,
        anchor_wait: float = 30.0,
        push_timeout: float = 120.0,
    ) -> None:
        for name in ("l1_block_hash_pusher", "l2_block_hash_store", "l2_risk_oracle"):
            if name not in network.contracts:
                raise UserInputError(f"config l2_network: {network.name} has no {name} address")
        self.network = network
        self.l1 = connect(l1_rpc, network.l1_chain_id)
        self.l2 = connect(l2_rpc, network.l2_chain_id)
        self.bridge_dir = bridge_dir
        self.anchor_wait = anchor_wait
        self.push_timeout = push_timeout
        self.oracle_address = network.contracts["l2_risk_oracle"]
        self._submit = posting.L1Poster(l2_rpc, self.oracle_address, poster_key)
        self.sender = self._submit.sender
        self._pusher: LocalAccount = Account.from_key(pusher_key)
        self._store = contracts.at(
            self.l2, "L2BlockHashStore", network.contracts["l2_block_hash_store"]
        )

    def __repr__(self) -> str:
        return (
            f"BridgeL2Poster(network={self.network.name}, sender={self.sender}, "
            f"pusher={self._pusher.address}, oracle={self.oracle_address})"
        )

    # ------------------------------------------------------------------ Poster

    def request_used(self, request_id: bytes) -> bool:
        return self._submit.request_used(request_id)

    def pending_count(self) -> int:
        return self._submit.pending_count()

    def prepare(self, journal: bytes, seal: bytes, nonce: int | None = None) -> posting.Prepared:
        return self._submit.prepare(journal, seal, nonce)

    def prepare_call(self, name: str, *args: Any, nonce: int | None = None) -> posting.Prepared:
        return self._submit.prepare_call(name, *args, nonce=nonce)

    def broadcast(self, raw_tx: str) -> None:
        self._submit.broadcast(raw_tx)

    def landed(self, tx_hash: str, wait: float) -> posting.Landed | None:
        return self._submit.landed(tx_hash, wait)

    def nonce_taken(self, sender: str, nonce: int) -> bool:
        return self._submit.nonce_taken(sender, nonce)

    @property
    def chain_id(self) -> int:
        """The L2's chain id (where ``submit`` goes)."""
        return self._submit.chain_id

    # ------------------------------------------------------------------ anchor

    def anchor_on_l2(self, number: int) -> str:
        """The hash the L2 store holds for L1 block ``number`` (zero if none)."""
        value = rpc(lambda: self._store.functions.blockHashOf(number).call(), "L2 blockHashOf")
        return "0x" + bytes(value).hex()

    def ensure_anchor(self, number: int, block_hash: str) -> dict[str, Any]:
        """Make the L2 store hold ``block_hash`` for L1 block ``number`` (push it if
        needed); returns what was done: ``{"block", "status", "ticket"?}``."""
        want = block_hash.lower()
        if self.anchor_on_l2(number) == want:
            return {"block": number, "status": "ALREADY_ON_L2"}
        self._wait_past(number)
        # one store connection per call: SQLite connections stay in their thread
        store = BridgeStore.in_dir(self.bridge_dir)
        try:
            bridge = Bridge(self.network, self.l1, self.l2, store, self._pusher)
            try:
                message = bridge.push_blockhash(number, timeout=self.push_timeout)
            except sqlite3.IntegrityError:  # another process created the same intent
                raise ToolError(f"push of block {number} started concurrently; retrying") from None
            got = self.anchor_on_l2(number)
            if got != want:
                # L1's hash of the block is not the job's anchor: it was reorged meanwhile
                # (the worker's canonical check sends the job back to indexing)
                raise ToolError(f"L2 holds {got} for block {number}, the job's anchor is {want}")
            out: dict[str, Any] = {"block": number, "status": str(message.get("status"))}
            ticket = str(message.get("id", ""))
            if ticket.startswith("0x"):
                out["ticket"] = ticket
        finally:
            store.close()
        return out

    def _wait_past(self, number: int) -> None:
        """BLOCKHASH(N) is readable on L1 from block N + 1 on: wait for that block."""
        deadline = time.monotonic() + self.anchor_wait
        while True:
            head = int(rpc(lambda: self.l1.eth.block_number, "L1 head"))
            if head > number:
                return
            if time.monotonic() > deadline:
                raise ToolError(
                    f"anchor block {number} is still the L1 head: its hash can be pushed "
                    "from the next block on (retrying)"
                )
            time.sleep(0.25)


def build(config: ServiceConfig, data_dir: Path, poster_key: bytes | None) -> BridgeL2Poster:
    """The l2 poster the configuration asks for (``l2_network`` is set)."""
    import os

    from coprocessor.chain.hexutil import to_bytes

    if poster_key is None:
        raise UserInputError(
            f"config: l2_network is set but ${config.poster_key_env} (poster key) is not"
        )
    raw = os.environ.get(config.bridge_key_env)
    if raw:
        pusher_key = to_bytes(raw if raw.startswith("0x") else "0x" + raw, "bridge key", 32)
    elif config.oracle:
        raise UserInputError(
            f"config: with both oracle (l1) and l2_network set, ${config.bridge_key_env} "
            "must hold a key of its own for L1 anchor pushes"
        )
    else:
        pusher_key = poster_key
    network, l1_rpc, l2_rpc = load_network(config, data_dir)
    poster = BridgeL2Poster(
        network,
        l1_rpc,
        l2_rpc,
        data_dir,
        poster_key,
        pusher_key,
        anchor_wait=config.l2_anchor_wait_seconds,
        push_timeout=config.l2_push_timeout_seconds,
    )
    if (
        Web3.to_checksum_address(poster.sender)
        == Web3.to_checksum_address(Account.from_key(pusher_key).address)
        and config.oracle
    ):
        raise UserInputError("config: the bridge key must differ from the poster key")
    return poster
