"""The local chain: anvil (hardfork prague) on loopback, state persisted in the data dir.

``up`` starts a node (or reuses the running one, found through its recorded pid and
an answering RPC), ``status`` reports it, ``down`` stops it by its recorded pid.
The JSON it prints is the contract with other tools:
``{"l1": {"rpc": URL, "chain_id": N, "pid": P, "state": FILE}}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.errors import ToolError
from coprocessor.paths import foundry_tool

DEFAULT_CHAIN_ID = 31337
#: funded dev accounts (anvil's default is 10; the demo market uses accounts 10..)
DEV_ACCOUNTS = 24
#: the well-known first anvil dev account (mnemonic "test test ... junk"); local only
DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc_call(url: str, method: str, params: list[Any] | None = None, timeout: float = 2) -> Any:
    """A blocking JSON-RPC call (process management only; the indexer uses rpc.py)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    if "error" in answer:
        raise ToolError(f"{method}: {answer['error']}")
    return answer["result"]


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class AnvilNode:
    """One anvil process."""

    name: str
    rpc: str
    port: int
    chain_id: int
    pid: int
    state: str
    log: str

    def to_json(self) -> dict[str, Any]:
        """The devnet JSON entry of this node."""
        return {
            "rpc": self.rpc,
            "chain_id": self.chain_id,
            "port": self.port,
            "pid": self.pid,
            "state": self.state,
            "log": self.log,
        }

    def answers(self) -> bool:
        """Whether the node's RPC answers with the recorded chain id."""
        try:
            return int(rpc_call(self.rpc, "eth_chainId"), 16) == self.chain_id
        except (OSError, ValueError, ToolError, urllib.error.URLError):
            return False


def start_anvil(
    name: str,
    workdir: Path,
    *,
    chain_id: int = DEFAULT_CHAIN_ID,
    port: int | None = None,
    persist: bool = True,
    extra_args: tuple[str, ...] = (),
    timeout: float = 30.0,
) -> AnvilNode:
    """Start anvil detached (own session, survives the CLI), wait until it answers."""
    anvil = foundry_tool("anvil")
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    state = workdir / f"{name}.state.json"
    log = workdir / f"{name}.log"
    args = [
        str(anvil),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--hardfork",
        "prague",
        "--chain-id",
        str(chain_id),
        *(() if "--accounts" in extra_args else ("--accounts", str(DEV_ACCOUNTS))),
        *extra_args,
    ]
    if persist:
        args += ["--state", str(state), "--state-interval", "2"]
    with open(log, "ab") as log_file:
        proc = subprocess.Popen(
            args,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    node = AnvilNode(
        name, f"http://127.0.0.1:{port}", port, chain_id, proc.pid, str(state), str(log)
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise ToolError(f"anvil exited with code {proc.returncode}: {tail[0]}")
        if node.answers():
            return node
        time.sleep(0.1)
    proc.kill()
    raise ToolError(f"anvil did not answer on {node.rpc} within {timeout:g}s")


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM (anvil writes its state on exit), then SIGKILL if it lingers."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class Devnet:
    """The devnet recorded in ``<data dir>/devnet/devnet.json``."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "devnet"
        self.file = self.dir / "devnet.json"

    def _read(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.file.read_text()))
        except (OSError, ValueError):
            return None

    def _write(self, info: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        tmp.replace(self.file)

    def node(self, name: str = "l1") -> AnvilNode | None:
        """The recorded node if its process runs and its RPC answers."""
        info = self._read()
        if not info or name not in info:
            return None
        entry = info[name]
        try:
            node = AnvilNode(
                name,
                str(entry["rpc"]),
                int(entry["port"]),
                int(entry["chain_id"]),
                int(entry["pid"]),
                str(entry["state"]),
                str(entry["log"]),
            )
        except (KeyError, TypeError, ValueError):
            return None  # a damaged record: treat the node as not running
        if node.pid > 0 and pid_alive(node.pid) and node.answers():
            return node
        return None

    def up(self, chain_id: int = DEFAULT_CHAIN_ID, port: int | None = None) -> dict[str, Any]:
        """Start the L1 node, or reuse the running one."""
        node = self.node("l1")
        if node is None:
            node = start_anvil("l1", self.dir, chain_id=chain_id, port=port)
        info = self._read() or {}
        info["l1"] = node.to_json()
        self._write(info)
        return self.status()

    def status(self) -> dict[str, Any]:
        """Recorded nodes with a ``running`` flag each."""
        info = self._read() or {}
        out: dict[str, Any] = {}
        for name, entry in info.items():
            if isinstance(entry, dict) and "rpc" in entry:
                out[name] = dict(entry, running=self.node(name) is not None)
            else:
                out[name] = entry
        return out

    def down(self) -> dict[str, Any]:
        """Stop every recorded node by pid and forget them (state files stay)."""
        info = self._read() or {}
        stopped = []
        for name, entry in info.items():
            if isinstance(entry, dict) and "pid" in entry:
                stop_pid(int(entry["pid"]))
                stopped.append(name)
        with contextlib.suppress(FileNotFoundError):
            self.file.unlink()
        return {"stopped": stopped}
