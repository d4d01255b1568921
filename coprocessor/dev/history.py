"""A long devnet history (docs/formats.md, bundle v2): anvil with EIP-2935 and values
that change along the way, built once per machine and cached outside the clone.

anvil mines a few hundred empty blocks per second, but it keeps the state of only
the last blocks in memory (each state carries the 8,191 filled slots of the history
contract, about a megabyte). So the builder mines with ``--prune-history`` and, at
each *checkpoint* block, takes the head state (``anvil_dumpState``) and converts it
into anvil's historical-state form; the saved file is anvil's own exit dump (blocks,
head state, the last states) plus those checkpoint states. Loaded with
``--load-state``, the node answers ``eth_getProof`` at every checkpoint and at the
last few blocks, and ``eth_getBlockByNumber`` at every block.

Values: a contract at :data:`VALUE_CONTRACT` stores the calldata word in slot 0; a
transaction writes a new value every :data:`WRITE_EVERY` blocks. The manifest
records each write (block, value), the checkpoints and the build time.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

from coprocessor.chain.keccak import keccak256
from coprocessor.dev.build_cache import BuiltChain, ensure_built, load_built
from coprocessor.dev.devnet import AnvilNode, rpc_call, start_anvil, stop_pid
from coprocessor.errors import ToolError

#: the cache key: change it whenever the chain the builder makes changes
VERSION = "coproc-history-v1"
#: head block of the built chain (the anchor of the deep reads)
HEAD = 64_000
#: a state every this many blocks (and at :data:`EXTRA_CHECKPOINTS`)
CHECKPOINT_EVERY = 1_000
#: blocks behind the head that also get a state (1 hour and 1 day at 12 s)
EXTRA_CHECKPOINTS = (300, 7_200)
#: a value write every this many blocks
WRITE_EVERY = 250
#: runtime code: ``sstore(0, calldataload(0))``
VALUE_CODE = bytes.fromhex("5f355f5500")
VALUE_CONTRACT = bytes.fromhex("00000000000000000000000000000000c0ffee01")
#: anvil's first dev account (unlocked on every anvil)
SENDER = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
#: states anvil keeps in memory while mining (older ones are dropped)
KEEP_STATES = 16
#: one anvil_mine / anvil_dumpState can take long on a busy machine
LONG_CALL = 600.0


def cache_root() -> Path:
    """``$COPROC_CACHE`` (as the Rust build), else the user's cache folder."""
    return Path(os.environ.get("COPROC_CACHE") or Path.home() / ".cache" / "coproc")


def history_dir(root: Path | None = None) -> Path:
    """Where the history of this :data:`VERSION` lives."""
    return (root or cache_root()) / "history" / VERSION


def value_at_write(index: int) -> int:
    """The value of the ``index``-th write (a deterministic walk, never zero)."""
    digest = keccak256(VERSION.encode() + index.to_bytes(8, "big"))
    return 10**18 + int.from_bytes(digest[:6], "big")


def checkpoints(head: int = HEAD) -> tuple[int, ...]:
    """Blocks whose state the built node keeps (besides the last few)."""
    blocks = set(range(CHECKPOINT_EVERY, head + 1, CHECKPOINT_EVERY))
    blocks.update(head - k for k in EXTRA_CHECKPOINTS if head - k > 0)
    return tuple(sorted(blocks))


class History(BuiltChain):
    """A built history: the anvil state file and what the builder recorded."""

    def value_at(self, block: int) -> int:
        """Slot 0 of :data:`VALUE_CONTRACT` at ``block`` (from the recorded writes)."""
        value = 0
        for written, written_value in self.manifest["writes"]:
            if int(written) <= block:
                value = int(written_value)
        return value


def _historical_state(accounts: dict[str, Any]) -> dict[str, Any]:
    """anvil's head-state dump (``anvil_dumpState`` accounts) in the form of its
    preserved historical states. Code is left out (its hash stays): proofs need
    only nonce, balance, code hash and storage."""
    out_accounts: dict[str, Any] = {}
    storage: dict[str, Any] = {}
    for address, account in accounts.items():
        code = bytes.fromhex(str(account["code"])[2:])
        out_accounts[address] = {
            "balance": account["balance"],
            "nonce": int(account["nonce"]),
            "code_hash": "0x" + keccak256(code).hex(),
            "code": None,
        }
        storage[address] = {
            hex(int(slot, 16)): hex(int(value, 16)) for slot, value in account["storage"].items()
        }
    return {"accounts": out_accounts, "storage": storage, "block_hashes": {}}


def _call(node: AnvilNode, method: str, params: list[Any] | None = None) -> Any:
    return rpc_call(node.rpc, method, params, timeout=LONG_CALL)


def _mine_to(node: AnvilNode, target: int) -> None:
    head = int(_call(node, "eth_blockNumber"), 16)
    if target > head:
        _call(node, "anvil_mine", [hex(target - head)])


def _wait_mined(node: AnvilNode, tx: str, block: int) -> None:
    """Wait for the receipt of ``tx``; it must be in ``block``."""
    deadline = time.monotonic() + LONG_CALL
    while time.monotonic() < deadline:
        receipt = _call(node, "eth_getTransactionReceipt", [tx])
        if receipt is not None:
            if int(receipt["blockNumber"], 16) != block or receipt["status"] != "0x1":
                raise ToolError(f"history: the write planned for block {block} went elsewhere")
            return
        time.sleep(0.01)
    raise ToolError(f"history: the write of block {block} was not mined")


def _require_head(node: AnvilNode, block: int) -> None:
    head = int(_call(node, "eth_blockNumber"), 16)
    if head != block:
        raise ToolError(f"history: the head is {head}, expected {block}")


def _build(workdir: Path, head: int) -> dict[str, Any]:
    """Mine the chain in ``workdir``; returns the manifest (the state file is
    ``workdir/state.json``)."""
    started = time.monotonic()
    dump = workdir / "state.json"
    node = start_anvil(
        "history",
        workdir,
        persist=False,
        extra_args=(
            "--silent",
            "--prune-history",
            str(KEEP_STATES),
            "--preserve-historical-states",
            "--dump-state",
            str(dump),
        ),
        timeout=60.0,
    )
    writes: list[tuple[int, int]] = []
    states: list[tuple[str, dict[str, Any]]] = []
    try:
        _call(node, "anvil_setCode", ["0x" + VALUE_CONTRACT.hex(), "0x" + VALUE_CODE.hex()])
        marks = sorted(set(checkpoints(head)) | set(range(WRITE_EVERY, head + 1, WRITE_EVERY)))
        for mark in marks:
            if mark % WRITE_EVERY == 0:
                _mine_to(node, mark - 1)
                value = value_at_write(len(writes))
                data = "0x" + value.to_bytes(32, "big").hex()
                tx = _call(
                    node,
                    "eth_sendTransaction",
                    [{"from": SENDER, "to": "0x" + VALUE_CONTRACT.hex(), "data": data}],
                )
                _wait_mined(node, str(tx), mark)  # automine: the write is block ``mark``
                writes.append((mark, value))
            _mine_to(node, mark)
            if mark in checkpoints(head) and mark < head:
                _require_head(node, mark)
                raw = bytes.fromhex(str(_call(node, "anvil_dumpState"))[2:])
                _require_head(node, mark)
                accounts = json.loads(gzip.decompress(raw))["accounts"]
                block = _call(node, "eth_getBlockByNumber", [hex(mark), False])
                states.append((str(block["hash"]), _historical_state(accounts)))
        _mine_to(node, head)
        if int(_call(node, "eth_blockNumber"), 16) != head:
            raise ToolError("history: the node is not at the planned head")
    finally:
        stop_pid(node.pid, timeout=LONG_CALL)  # SIGTERM: anvil writes the dump
    mined = time.monotonic() - started
    try:
        saved = json.loads(dump.read_text())
    except (OSError, ValueError) as exc:
        raise ToolError(f"history: anvil wrote no usable dump ({exc})") from None
    saved["historical_states"] = list(saved.get("historical_states") or []) + [
        list(item) for item in states
    ]
    dump.write_text(json.dumps(saved))
    return {
        "version": VERSION,
        "head": head,
        "checkpoints": list(checkpoints(head)),
        "writes": [[b, v] for b, v in writes],
        "value_contract": "0x" + VALUE_CONTRACT.hex(),
        "build_seconds": round(time.monotonic() - started, 1),
        "mine_seconds": round(mined, 1),
        "state_bytes": dump.stat().st_size,
    }


def load_history(root: Path | None = None) -> History | None:
    """The cached history, or None if it was not built (or is incomplete)."""
    found = load_built(history_dir(root), VERSION)
    return None if found is None else History(*found)


def ensure_history(root: Path | None = None, head: int = HEAD) -> History:
    """The cached history, built first if missing (minutes, once per machine)."""
    built = ensure_built(
        history_dir(root), VERSION, lambda work: _build(work, head), ("history.log",)
    )
    return History(*built)


def start_history_node(history: History, workdir: Path) -> AnvilNode:
    """An anvil serving the built history (read-only: nothing is written back)."""
    return start_anvil(
        "history",
        workdir,
        persist=False,
        extra_args=("--silent", "--load-state", str(history.state)),
        timeout=300.0,
    )


__all__ = [
    "HEAD",
    "VALUE_CONTRACT",
    "VERSION",
    "History",
    "checkpoints",
    "ensure_history",
    "history_dir",
    "load_history",
    "start_history_node",
    "value_at_write",
]
