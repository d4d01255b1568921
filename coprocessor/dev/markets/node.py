"""A small synchronous JSON-RPC client for building the devnet markets: batches,
transactions sent from impersonated accounts (anvil ``--auto-impersonate``), receipts
checked. Build-time only; the indexer has its own client (coprocessor/index/rpc.py)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode

from coprocessor.chain.keccak import keccak256
from coprocessor.errors import ToolError

#: gas given to every transaction (the node's block gas limit is raised to fit many)
TX_GAS = 6_000_000
#: transactions mined per block (the node's gas limit fits them all at TX_GAS each)
TXS_PER_BLOCK = 150
#: the block gas limit the market node runs with
BLOCK_GAS_LIMIT = 1_000_000_000


def selector(signature: str) -> bytes:
    """The 4-byte function selector of ``name(type,...)``."""
    return keccak256(signature.encode())[:4]


def arg_types(signature: str) -> list[str]:
    """The argument types of ``name(type,...)`` (tuples kept whole)."""
    inner = signature[signature.index("(") + 1 : -1]
    types, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            types.append(inner[start:i])
            start = i + 1
    if inner:
        types.append(inner[start:])
    return types


def calldata(signature: str, *args: Any) -> str:
    """``0x`` calldata for a call of ``signature`` with ``args``."""
    return "0x" + (selector(signature) + encode(arg_types(signature), list(args))).hex()


def hex_address(value: bytes | str) -> str:
    """A lowercase ``0x`` address."""
    return value.lower() if isinstance(value, str) else "0x" + value.hex()


@dataclass(frozen=True)
class Tx:
    """One transaction to send: ``to=None`` deploys ``data``."""

    sender: str
    to: str | None
    data: str
    label: str = ""
    must_succeed: bool = True


class Node:
    """One anvil endpoint."""

    def __init__(self, url: str, timeout: float = 600.0) -> None:
        self.url = url
        self.timeout = timeout
        self._id = 0
        #: next nonce by sender (automine is off: the node would reuse a pending nonce)
        self._nonces: dict[str, int] = {}

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Results of several calls in one HTTP request (errors raise ToolError)."""
        if not calls:
            return []
        body = []
        for method, params in calls:
            self._id += 1
            body.append({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            answers = {a["id"]: a for a in json.loads(response.read())}
        results = []
        for item, (method, _params) in zip(body, calls, strict=True):
            answer = answers[item["id"]]
            if "error" in answer:
                raise ToolError(f"{method}: {answer['error'].get('message', answer['error'])}")
            results.append(answer["result"])
        return results

    def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call."""
        return self.batch([(method, list(params))])[0]

    def block_number(self) -> int:
        """The head block number."""
        return int(self.call("eth_blockNumber"), 16)

    def view(
        self,
        to: str,
        signature: str,
        returns: Sequence[str],
        *args: Any,
        block: int | str = "latest",
    ) -> tuple[Any, ...]:
        """An ``eth_call`` decoded as ``returns``."""
        tag = hex(block) if isinstance(block, int) else block
        raw = self.call("eth_call", {"to": to, "data": calldata(signature, *args)}, tag)
        return tuple(decode(list(returns), bytes.fromhex(raw[2:])))

    def views(
        self,
        requests: Sequence[tuple[str, str, Sequence[str], tuple[Any, ...]]],
        block: int | str = "latest",
        chunk: int = 200,
    ) -> list[tuple[Any, ...] | None]:
        """Many ``eth_call``s in batches; a reverted call gives ``None``."""
        tag = hex(block) if isinstance(block, int) else block
        out: list[tuple[Any, ...] | None] = []
        for start in range(0, len(requests), chunk):
            part = requests[start : start + chunk]
            body = [
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "eth_call",
                    "params": [{"to": to, "data": calldata(sig, *args)}, tag],
                }
                for i, (to, sig, _r, args) in enumerate(part)
            ]
            request = urllib.request.Request(
                self.url,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answers = {a["id"]: a for a in json.loads(response.read())}
            for i, (_to, _sig, returns, _args) in enumerate(part):
                answer = answers[i]
                if "error" in answer:
                    out.append(None)
                else:
                    out.append(tuple(decode(list(returns), bytes.fromhex(answer["result"][2:]))))
        return out

    def send(self, txs: Sequence[Tx]) -> list[dict[str, Any]]:
        """Send transactions and mine them (automine is off), ``TXS_PER_BLOCK`` per
        block in order; returns their receipts; a failed transaction that must
        succeed raises."""
        receipts: list[dict[str, Any]] = []
        for start in range(0, len(txs), TXS_PER_BLOCK):
            receipts += self._send_block(txs[start : start + TXS_PER_BLOCK])
        return receipts

    def _send_block(self, txs: Sequence[Tx]) -> list[dict[str, Any]]:
        calls: list[tuple[str, list[Any]]] = []
        unknown = sorted({tx.sender for tx in txs} - set(self._nonces))
        counts = self.batch([("eth_getTransactionCount", [a, "latest"]) for a in unknown])
        self._nonces.update({a: int(n, 16) for a, n in zip(unknown, counts, strict=True)})
        for tx in txs:
            nonce = self._nonces[tx.sender]
            self._nonces[tx.sender] = nonce + 1
            body: dict[str, Any] = {
                "from": tx.sender,
                "data": tx.data,
                "gas": hex(TX_GAS),
                "nonce": hex(nonce),
            }
            if tx.to is not None:
                body["to"] = tx.to
            calls.append(("eth_sendTransaction", [body]))
        hashes = []
        for start in range(0, len(calls), 200):
            hashes += self.batch(calls[start : start + 200])
        self.call("evm_mine")
        receipts = []
        for start in range(0, len(hashes), 200):
            receipts += self.batch(
                [("eth_getTransactionReceipt", [h]) for h in hashes[start : start + 200]]
            )
        for tx, receipt in zip(txs, receipts, strict=True):
            if receipt is None:
                raise ToolError(f"{tx.label or 'transaction'} was not mined")
            if tx.must_succeed and int(receipt["status"], 16) != 1:
                raise ToolError(f"{tx.label or 'transaction'} reverted{self._reason(tx)}")
        return receipts

    def _reason(self, tx: Tx) -> str:
        """The revert reason of ``tx`` replayed on the head state (best effort)."""
        body: dict[str, Any] = {"from": tx.sender, "data": tx.data}
        if tx.to is not None:
            body["to"] = tx.to
        try:
            self.call("eth_call", body, "latest")
        except ToolError as exc:
            return f" ({exc})"
        return ""

    def deploy(
        self, sender: str, bytecode: str, ctor: str = "", *args: Any, label: str = ""
    ) -> str:
        """Deploy one contract (constructor signature like ``(address,uint256)``)."""
        data = bytecode + (encode(arg_types("x" + ctor), list(args)).hex() if ctor else "")
        receipt = self.send([Tx(sender, None, data, label or "deploy")])[0]
        return str(receipt["contractAddress"]).lower()
