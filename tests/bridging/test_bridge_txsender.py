"""The nonce manager against a real anvil with automining off, driven by a hypothesis
state machine: send / mine / drop / replace (gas bump) / restart (a new process on the
same SQLite file). Invariants: nonces of the key are contiguous from its first one (no
gaps), no nonce belongs to two intents, a resubmitted key keeps its nonce; and at the
end every intent is mined exactly once, the chain's nonce equal to the intent count."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from web3 import Web3

from bridge.chain import raw_request
from bridge.store import BridgeStore
from bridge.txsender import CONFIRMED, TxSender
from coprocessor.dev.devnet import AnvilNode, start_anvil, stop_pid
from coprocessor.errors import UserInputError

SINK = "0x000000000000000000000000000000000000dEaD"


@pytest.fixture(scope="module")
def manual_anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    node = start_anvil(
        "nonce", tmp_path_factory.mktemp("nonce"), persist=False, extra_args=("--no-mining",)
    )
    try:
        yield node
    finally:
        stop_pid(node.pid)


class Clock:
    """A fake clock the machine advances (bumps are decided on it)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class NonceMachine(RuleBasedStateMachine):
    node: AnvilNode

    @initialize()
    def setup(self) -> None:
        self.w3 = Web3(Web3.HTTPProvider(self.node.rpc))
        self.account = Account.create()
        raw_request(self.w3, "anvil_setBalance", [self.account.address, hex(10**21)])
        self.dir = Path(tempfile.mkdtemp())
        self.clock = Clock()
        self.store = BridgeStore(self.dir / "bridge.sqlite")
        self.sender = self._sender()
        self.keys: list[str] = []
        self.counter = itertools.count()
        self.first_nonce = self.w3.eth.get_transaction_count(self.account.address)

    def _sender(self) -> TxSender:
        return TxSender(self.w3, self.store, self.account, bump_after=30, clock=self.clock)

    def _nonces(self) -> list[int]:
        rows = self.store.db.execute(
            "SELECT nonce FROM txs WHERE sender = ? ORDER BY nonce", (self.account.address,)
        )
        return [r[0] for r in rows]

    @rule(value=st.integers(0, 1000))
    def send(self, value: int) -> None:
        key = f"k{next(self.counter)}"
        record = self.sender.submit(key, SINK, b"", value, gas=21_000)
        self.keys.append(key)
        assert self.sender.submit(key, SINK, b"", value, gas=21_000).nonce == record.nonce

    @precondition(lambda self: bool(self.keys))
    @rule(index=st.integers(0, 50))
    def resubmit_other_contents(self, index: int) -> None:
        key = self.keys[index % len(self.keys)]
        with pytest.raises(UserInputError):
            self.sender.submit(key, SINK, b"\x01", 0, gas=30_000)

    @rule()
    def mine(self) -> None:
        raw_request(self.w3, "evm_mine", [])
        self.sender.poll()

    @rule(index=st.integers(0, 50))
    def drop(self, index: int) -> None:
        """The node forgets a pending transaction (pool eviction)."""
        pending = [k for k in self.keys if self.sender.record(k).status != CONFIRMED]  # type: ignore[union-attr]
        if not pending:
            return
        record = self.sender.record(pending[index % len(pending)])
        assert record is not None and record.tx_hash is not None
        raw_request(self.w3, "anvil_dropTransaction", [record.tx_hash])

    @rule(index=st.integers(0, 50))
    def replace(self, index: int) -> None:
        """A stuck transaction gets a gas bump (same nonce, higher fees)."""
        pending = [k for k in self.keys if self.sender.record(k).status != CONFIRMED]  # type: ignore[union-attr]
        if not pending:
            return
        self.clock.now += 31
        key = pending[index % len(pending)]
        before = self.sender.record(key)
        self.sender.bump(key)
        after = self.sender.record(key)
        assert before is not None and after is not None
        assert after.nonce == before.nonce and after.attempts == before.attempts + 1

    @rule()
    def restart(self) -> None:
        """The process dies and starts again on the same file."""
        self.store.close()
        self.store = BridgeStore(self.dir / "bridge.sqlite")
        self.sender = self._sender()

    @invariant()
    def no_gaps_no_shared_nonces(self) -> None:
        if not hasattr(self, "store"):
            return
        nonces = self._nonces()
        assert nonces == list(range(self.first_nonce, self.first_nonce + len(nonces)))

    def teardown(self) -> None:
        if not hasattr(self, "store"):
            return
        # settle: keep mining and polling until every intent is confirmed
        for _ in range(3 + 2 * len(self.keys)):
            raw_request(self.w3, "evm_mine", [])
            self.sender.poll()
            if all(self.sender.record(k).status == CONFIRMED for k in self.keys):  # type: ignore[union-attr]
                break
        for key in self.keys:
            record = self.sender.record(key)
            assert record is not None and record.status == CONFIRMED, key
            tx = self.w3.eth.get_transaction(record.tx_hash)  # type: ignore[arg-type]
            assert tx["nonce"] == record.nonce
        # exactly once: the chain used one nonce per intent, no more
        assert self.w3.eth.get_transaction_count(self.account.address) == self.first_nonce + len(
            self.keys
        )
        self.store.close()


def test_nonce_manager_state_machine(manual_anvil: AnvilNode) -> None:
    NonceMachine.node = manual_anvil
    NonceMachine.TestCase.settings = settings(
        max_examples=15,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    NonceMachine.TestCase().runTest()
