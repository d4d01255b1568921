"""Shared pieces of the bridge tests: a two-chain devnet in a temp data dir (real
anvils, real nitro-contracts, emulated ArbOS) and the relay run in a thread."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bridge.chain import connect
from bridge.devnet import up_l2
from bridge.relay import Relay
from bridge.store import BridgeStore
from coprocessor.dev.devnet import Devnet


class RelayThread:
    """The devnet relay stepping in a background thread (its own connections)."""

    def __init__(
        self,
        info: dict[str, Any],
        data_dir: Path,
        confirm_delay: float = 0.0,
        interval: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.info, self.data_dir = info, data_dir
        self.confirm_delay, self.interval, self.clock = confirm_delay, interval, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[BaseException] = []
        self.steps = 0

    def make(self) -> Relay:
        l1 = connect(self.info["l1"]["rpc"])
        l2 = connect(self.info["l2"]["rpc"])
        store = BridgeStore.in_dir(self.data_dir)
        return Relay(
            l1,
            l2,
            self.info["contracts"],
            store,
            confirm_delay=self.confirm_delay,
            clock=self.clock,
        )

    def _run(self) -> None:
        relay = self.make()
        while not self._stop.is_set():
            try:
                relay.step()
                self.steps += 1
            except BaseException as exc:  # surfaced by the test through .errors
                self.errors.append(exc)
            self._stop.wait(self.interval)
        relay.store.close()

    def __enter__(self) -> RelayThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@contextlib.contextmanager
def two_chain_devnet(data: Path) -> Iterator[dict[str, Any]]:
    """A fresh two-chain devnet (no relay process) in ``data``; stopped afterwards."""
    net = Devnet(data)
    try:
        net.up()
        yield up_l2(net, relay=False)
    finally:
        net.down()
