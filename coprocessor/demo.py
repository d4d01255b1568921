"""The main job on embedded defaults (``make demo`` → ``coproc demo``).

Current scope (foundation): start the local chain, deploy the demo ERC20 compiled from
``contracts/src/demo`` by the project's forge/solcjs, create history (mints and
transfers over several blocks), then for each holder index ``balanceOf[holder]`` with
its account and storage proofs anchored a few blocks later, re-verify the bundle
offline, and check the proven balance against the contract's own ``balanceOf`` call at
that block. Later stages (features, model, zkVM receipt, bridge) extend this module.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.bundle import load_bundle, verify_bundle
from coprocessor.devnet import Devnet
from coprocessor.errors import ToolError
from coprocessor.indexer import Read, index_block, write_json_atomic
from coprocessor.paths import REPO_ROOT
from coprocessor.rpc import RpcClient
from coprocessor.slots import mapping_slot, slot_bytes
from coprocessor.store import Store

#: DemoToken's storage layout: balanceOf is the first state variable
BALANCE_SLOT = 0
ANCESTORS = 4


@dataclass(frozen=True)
class DemoRow:
    """One subject's line of the demo table."""

    subject: str
    block: int
    anchor: int
    proven_balance: int
    onchain_balance: int
    nodes: int
    bundle: str

    @property
    def ok(self) -> bool:
        """Proven value equals the contract's own answer."""
        return self.proven_balance == self.onchain_balance


def load_artifact(source: str, name: str) -> tuple[list[Any], str]:
    """(abi, bytecode) from forge's build output (never hand-copied)."""
    path = REPO_ROOT / "contracts" / "out" / source / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except OSError:
        raise ToolError(f"{path} missing: run `make setup` (it builds the contracts)") from None
    return data["abi"], data["bytecode"]["object"]


def _create_history(rpc_url: str) -> tuple[str, list[str], Any]:
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(rpc_url))
    abi, bytecode = load_artifact("DemoToken.sol", "DemoToken")
    accounts: list[str] = list(w3.eth.accounts[:5])
    owner, holders = accounts[0], accounts[1:]
    factory: Any = w3.eth.contract(abi=abi, bytecode=bytecode)
    tx = factory.constructor("Demo USD", "dUSD").transact({"from": owner})
    address = str(w3.eth.wait_for_transaction_receipt(tx)["contractAddress"])
    token: Any = w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
    for i, holder in enumerate(holders):
        token.functions.mint(holder, (i + 1) * 1_000 * 10**18).transact({"from": owner})
    for step in range(6):  # a little history: transfers in separate blocks
        sender, receiver = holders[step % 4], holders[(step + 1) % 4]
        token.functions.transfer(receiver, 10**18 * (step + 1)).transact({"from": sender})
    w3.provider.make_request("anvil_mine", [ANCESTORS + 1])  # type: ignore[arg-type]
    return address, holders, token


async def _index_all(
    rpc_url: str, store: Store, token: str, holders: list[str], out_dir: Path
) -> list[tuple[str, int, Any, Path]]:
    results = []
    async with RpcClient(rpc_url) as rpc:
        block = await rpc.block_number() - ANCESTORS
        for holder in holders:
            holder_bytes = bytes.fromhex(holder[2:])
            slot = slot_bytes(mapping_slot(BALANCE_SLOT, holder_bytes))
            reads = [Read(bytes.fromhex(token[2:]), (slot,)), Read(holder_bytes)]
            verified = await index_block(rpc, store, block, reads, ancestors=ANCESTORS)
            path = out_dir / f"bundle-{holder.lower()}.json"
            write_json_atomic(path, verified.bundle.to_json())
            results.append((holder, block, verified, path))
    return results


def run_demo(data_dir: Path) -> list[DemoRow]:
    """Run the demo; returns one row per subject."""
    info = Devnet(data_dir).up()
    rpc_url = info["l1"]["rpc"]
    token_address, holders, token = _create_history(rpc_url)
    store = Store(data_dir / "coproc.sqlite")
    try:
        results = asyncio.run(
            _index_all(rpc_url, store, token_address, holders, data_dir / "bundles")
        )
    finally:
        store.close()
    rows = []
    for holder, block, verified, path in results:
        again = verify_bundle(load_bundle(path)).to_json()  # offline, from the file
        token_read = next(a for a in again["accounts"] if a["address"] == token_address.lower())
        proven = int(next(iter(token_read["storage"].values())), 16)
        onchain = token.functions.balanceOf(holder).call(block_identifier=block)
        rows.append(
            DemoRow(
                subject=holder,
                block=block,
                anchor=verified.anchor.number,
                proven_balance=proven,
                onchain_balance=onchain,
                nodes=len(verified.bundle.nodes),
                bundle=str(path),
            )
        )
    return rows


def render_table(rows: list[DemoRow]) -> str:
    """The human table printed by ``coproc demo``."""
    header = f"{'subject':<44} {'block':>6} {'anchor':>6} {'proven dUSD':>14} {'matches':>8}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.subject:<44} {row.block:>6} {row.anchor:>6} "
            f"{row.proven_balance / 10**18:>14,.2f} {'yes' if row.ok else 'NO':>8}"
        )
    return "\n".join(lines)


def rows_json(rows: list[DemoRow]) -> list[dict[str, Any]]:
    """``coproc demo --json``."""
    return [
        {
            "subject": r.subject,
            "block": r.block,
            "anchor": r.anchor,
            "proven_balance": hex(r.proven_balance),
            "onchain_balance": hex(r.onchain_balance),
            "matches": r.ok,
            "nodes": r.nodes,
            "bundle": r.bundle,
        }
        for r in rows
    ]


__all__ = ["DemoRow", "load_artifact", "render_table", "rows_json", "run_demo"]
