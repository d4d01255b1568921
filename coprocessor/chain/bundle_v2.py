"""Proof bundle v2: reads at any blocks, tied to one anchor by header links and
EIP-2935 hops (docs/formats.md, section 1b).

A v2 bundle is a v1 bundle whose headers need not be consecutive, plus ``hops``:
``{"from": h, "to": n}`` says that the history contract's slot ``n % 8191`` read at
block ``h`` (an ordinary storage read of the bundle) holds the hash of block ``n``.
Accounts, storage entries and the node pool follow the v1 rules (the v1 parser
checks them); :func:`verify_bundle_v2` adds the header and hop rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.chain.bundle import (
    EMPTY_TRIE_NODE,
    AccountRead,
    Bundle,
    ProofAtBlock,
    StorageRead,
    VerifiedBundle,
    check_anchor,
    node_pool,
    parse_bundle,
    proven_account,
    verify_reads,
)
from coprocessor.chain.headers import Header, decode_header, verify_chain
from coprocessor.chain.hexutil import hexstr, to_bytes
from coprocessor.chain.history import (
    HISTORY_ADDRESS,
    HistoryRuleError,
    activation,
    check_activation,
    check_range,
    check_value,
    history_slot,
)
from coprocessor.chain.mpt import NodePool
from coprocessor.chain.proofs import (
    claimed_int,
    parse_slot_key,
)
from coprocessor.errors import UserInputError, VerificationError
from coprocessor.jsonfile import load_json

FORMAT = "coproc-bundle"
VERSION = 2
_TOP_KEYS = ("format", "version", "chain_id", "anchor", "headers", "hops", "accounts", "nodes")


@dataclass(frozen=True)
class BundleV2:
    """A parsed (not yet verified) v2 bundle: the v1 parts and the hops."""

    base: Bundle
    #: (from, to), strictly ascending by ``to``
    hops: tuple[tuple[int, int], ...]

    def to_json(self) -> dict[str, Any]:
        """The bundle file's JSON object (keys in the order of the format)."""
        base = self.base.to_json()
        return {
            "format": FORMAT,
            "version": VERSION,
            "chain_id": base["chain_id"],
            "anchor": base["anchor"],
            "headers": base["headers"],
            "hops": [{"from": s, "to": t} for s, t in self.hops],
            "accounts": base["accounts"],
            "nodes": base["nodes"],
        }


@dataclass(frozen=True)
class VerifiedBundleV2(VerifiedBundle):
    """A v2 bundle every rule of which held (usable wherever a verified v1 bundle
    is: ``header(n)`` and the reads)."""

    hops: tuple[tuple[int, int], ...] = ()

    def chain(self) -> list[dict[str, Any]]:
        """How each header is tied to the anchor (``coproc inspect bundle``)."""
        by_target = {t: s for s, t in self.hops}
        out = []
        for header in reversed(self.headers):
            if header is self.anchor:
                link: dict[str, Any] = {"anchor": True}
            elif header.number in by_target:
                link = {"hop_from": by_target[header.number]}
            else:
                link = {"parent_of": header.number + 1}
            out.append({"number": header.number, "hash": hexstr(header.hash), **link})
        return out


# ----------------------------------------------------------------------------- parsing


def _nonneg_int(value: object, where: str) -> int:
    if type(value) is not int or value < 0:
        raise UserInputError(f"{where}: expected a non-negative integer", rule="v2_hops_shape")
    return value


def _parse_hops(raw: object) -> tuple[tuple[int, int], ...]:
    if not isinstance(raw, list):
        raise UserInputError("bundle.hops: expected a list", rule="v2_hops_shape")
    hops: list[tuple[int, int]] = []
    for i, item in enumerate(raw):
        where = f"bundle.hops[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"from", "to"}:
            raise UserInputError(
                f"{where}: expected an object with exactly 'from' and 'to'", rule="v2_hops_shape"
            )
        hop = (_nonneg_int(item["from"], f"{where}.from"), _nonneg_int(item["to"], f"{where}.to"))
        if hops and hop[1] <= hops[-1][1]:
            raise UserInputError(
                f"{where}: hops are not strictly ascending by 'to'", rule="v2_hops_shape"
            )
        hops.append(hop)
    return tuple(hops)


def parse_bundle_v2(obj: object) -> BundleV2:
    """Parse v2 JSON strictly: the v1 parts by the v1 parser, then the hops."""
    if not isinstance(obj, Mapping):
        raise UserInputError("bundle: expected a JSON object", rule="bundle_types")
    if type(obj.get("version")) is not int or obj.get("version") != VERSION:
        raise UserInputError(
            f"bundle: version {obj.get('version')!r} is not {VERSION}", rule="bundle_version"
        )
    unknown = sorted(set(obj) - set(_TOP_KEYS))
    if unknown:
        raise UserInputError(f"bundle: unknown key {unknown[0]!r}", rule="bundle_keys")
    if "hops" not in obj:
        raise UserInputError("bundle: missing field 'hops'", rule="bundle_keys")
    v1_view = {k: v for k, v in obj.items() if k != "hops"}
    v1_view["version"] = 1
    return BundleV2(base=parse_bundle(v1_view), hops=_parse_hops(obj["hops"]))


def bundle_version(obj: object) -> int:
    """The version a bundle object states (1 or 2); anything else is refused."""
    version = obj.get("version") if isinstance(obj, Mapping) else None
    if type(version) is not int or version not in (1, 2):
        raise UserInputError(f"bundle: unsupported version {version!r}", rule="bundle_version")
    return version


def load_any_bundle(path: str | Path) -> Bundle | BundleV2:
    """Read a bundle file of either version."""
    obj = load_json(path, "bundle")
    if bundle_version(obj) == 2:
        return parse_bundle_v2(obj)
    return parse_bundle(obj)


# ----------------------------------------------------------------------------- verifying


def _headers(bundle: Bundle) -> dict[int, Header]:
    """Rule 1b.1: strictly ascending block numbers; the last is the anchor."""
    if not bundle.headers:
        raise VerificationError("bundle: no headers", rule="bundle_headers")
    headers: dict[int, Header] = {}
    previous = -1
    for i, raw in enumerate(bundle.headers):
        header = decode_header(raw, f"headers[{i}]")
        if header.number <= previous:
            raise VerificationError(
                f"headers[{i}]: block {header.number} after block {previous} "
                "(numbers must be strictly ascending)",
                rule="v2_headers_ascending",
            )
        previous = header.number
        headers[header.number] = header
    anchor = headers[previous]
    check_anchor(anchor, bundle.anchor_number, bundle.anchor_hash)
    return headers


def _history_read(bundle: Bundle, source: int, where: str) -> AccountRead:
    for read in bundle.accounts:
        if read.block == source and read.address == HISTORY_ADDRESS:
            if read.account is None:
                raise HistoryRuleError(
                    "hop_account", f"{where}: the history contract is absent at block {source}"
                )
            return read
    raise HistoryRuleError(
        "hop_account", f"{where}: no read of the history contract at block {source}"
    )


def _check_hop(
    bundle: Bundle, headers: Mapping[int, Header], hop: tuple[int, int], first: int | None
) -> None:
    """Rules 1b.2: one hop, on the claimed values (the reads are proven later)."""
    source, target = hop
    where = f"hop {source} -> {target}"
    for block in hop:
        if block not in headers:
            raise HistoryRuleError("hop_header", f"{where}: block {block} has no header")
    if target + 1 in headers:
        raise HistoryRuleError(
            "hop_tied",
            f"{where}: block {target + 1}'s header is in the bundle, so block "
            f"{target} is tied by its parent link, not by a hop",
        )
    check_range(source, target, where)
    check_activation(target, first, bundle.chain_id, where)
    read = _history_read(bundle, source, where)
    slot = history_slot(target)
    entry = next((s for s in read.storage if s.slot == slot), None)
    if entry is None:
        raise HistoryRuleError(
            "hop_slot", f"{where}: the read at block {source} has no slot {target % 8191}"
        )
    check_value(entry.value, headers[target], where)


def _check_tied(headers: Mapping[int, Header], hops: Sequence[tuple[int, int]]) -> None:
    """Rule 1b.3: every header but the anchor is tied to a newer proven one, by its
    child's parentHash or by a hop (checked newest first, so the newer one is
    already tied)."""
    targets = {t for _, t in hops}
    numbers = sorted(headers, reverse=True)
    for number in numbers[1:]:
        child = headers.get(number + 1)
        if child is not None:
            verify_chain([headers[number], child])
        elif number not in targets:
            raise HistoryRuleError(
                "hop_tied",
                f"block {number}: tied to the anchor neither by block {number + 1}'s "
                "header nor by a hop",
            )


def verify_bundle_v2(
    bundle: BundleV2 | Mapping[str, Any], *, first: int | None = None
) -> VerifiedBundleV2:
    """Apply every rule of bundle v2. ``first`` overrides the chain's activation."""
    if not isinstance(bundle, BundleV2):
        bundle = parse_bundle_v2(bundle)
    base = bundle.base
    first = activation(base.chain_id) if first is None else first
    headers = _headers(base)
    for hop in bundle.hops:
        _check_hop(base, headers, hop, first)
    _check_tied(headers, bundle.hops)
    pool, digests = node_pool(base.nodes)
    verify_reads(base, headers, pool)
    unused = pool.unused()
    if unused:
        raise VerificationError(
            f"nodes: {len(unused)} node(s) not used by any proof, first {hexstr(unused[0])}",
            rule="nodes_used",
        )
    return VerifiedBundleV2(
        bundle=base, headers=tuple(headers.values()), node_hashes=digests, hops=bundle.hops
    )


# ----------------------------------------------------------------------------- building


def build_bundle_v2(
    chain_id: int,
    headers: Sequence[bytes],
    hops: Iterable[tuple[int, int]],
    proofs: Iterable[ProofAtBlock],
    *,
    first: int | None = None,
) -> VerifiedBundleV2:
    """Assemble a v2 bundle from header RLPs (ascending, last = anchor), the hops and
    ``eth_getProof`` answers (the history contract's at each hop source among them),
    then verify it with :func:`verify_bundle_v2`."""
    if not headers:
        raise UserInputError("a bundle needs at least one header")
    decoded = {decode_header(raw, f"headers[{i}]").number: raw for i, raw in enumerate(headers)}
    roots = {n: decode_header(raw).state_root for n, raw in decoded.items()}
    items = list(proofs)
    pool = NodePool()
    seen: set[str] = set()

    def add(nodes: Iterable[str], what: str) -> None:
        for node in nodes:
            if node not in seen:
                seen.add(node)
                raw = to_bytes(node, what)
                if raw != EMPTY_TRIE_NODE:
                    pool.add(raw)

    for item in items:
        add(item.response.get("accountProof", []), "accountProof")
    reads: list[AccountRead] = []
    for item in items:
        if item.block not in roots:
            raise UserInputError(f"proof for block {item.block}, which is not among the headers")
        address, account, where = proven_account(pool, roots[item.block], item)
        storage = []
        for j, entry in enumerate(item.response.get("storageProof", [])):
            slot = parse_slot_key(entry.get("key"), f"{where} storageProof[{j}].key")
            value = claimed_int(entry.get("value"), f"{where} storageProof[{j}].value")
            storage.append(StorageRead(slot=slot, value=value))
            if account is not None:
                add(entry.get("proof", []), "storageProof")
        storage.sort(key=lambda s: s.slot)
        reads.append(AccountRead(item.block, address, account, tuple(storage)))
    reads.sort(key=lambda r: (r.block, r.address))
    ordered = [decoded[n] for n in sorted(decoded)]
    anchor = decode_header(ordered[-1])
    base = Bundle(
        chain_id=chain_id,
        anchor_number=anchor.number,
        anchor_hash=anchor.hash,
        headers=tuple(ordered),
        accounts=tuple(reads),
        nodes=tuple(pool.nodes[d] for d in sorted(pool.nodes)),
    )
    bundle = BundleV2(base=base, hops=tuple(sorted(hops, key=lambda hop: hop[1])))
    return verify_bundle_v2(bundle, first=first)


__all__ = [
    "BundleV2",
    "VerifiedBundleV2",
    "build_bundle_v2",
    "bundle_version",
    "load_any_bundle",
    "parse_bundle_v2",
    "verify_bundle_v2",
]
