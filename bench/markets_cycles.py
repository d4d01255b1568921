"""zkVM guest cycles (RISC Zero executor, the real guest) of protocol reads
(docs/formats.md §3c) on the simulated markets: one Aave v3 account with 3 reserves
and one Morpho Blue position, each from the one bundle ``coproc index --spec`` writes
for it, and what dominates.

Rows per protocol, all over the same bundle:

- **bundle only**: a spec of one balance read of a contract the bundle holds: the
  guest verifies the whole bundle (headers, every account and slot proof) and reads
  one value: the cost of verification;
- **one field**: the protocol read behind one feature (``health_factor``): the slots'
  keccak mapping keys, the lookups and the protocol's fixed-point math, on top;
- **every field**: every field of the read as features (one read shared by all).

The difference between the first two rows is the protocol read itself.
Run: ``.venv/bin/python -m bench.markets_cycles`` (builds the markets first if the
machine has none: about 20 minutes).
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from bench.common import table
from bench.guest_cycles import model
from coprocessor.chain.bundle import load_bundle, verify_bundle
from coprocessor.cli.main import main as coproc
from coprocessor.dev.devnet import stop_pid
from coprocessor.dev.markets.cache import ensure_built, load_meta, start_markets
from coprocessor.scoring import features
from coprocessor.scoring.protocol_spec import AAVE_ACCOUNT_FIELDS, MORPHO_FIELDS
from coprocessor.scoring.protocol_values import ProtocolValues
from coprocessor.zk import prover

#: the sampled block the reads are made at
REASON = "end"
Cycles = dict[str, int]
#: keccak256's rate in bytes: a node of n bytes takes n // RATE + 1 permutations
RATE = 136


def spec(name: str, reads: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    feats = [{"name": n, "read": r, "min": 0, "max": 2**31 - 1} for n, r in reads]
    return {"format": "coproc-features", "version": 1, "name": name, "features": feats}


def index(rpc: str, work: Path, spec_obj: dict[str, Any], subject: str, block: int) -> Path:
    """``coproc index --spec --subject --block`` into ``work/bundle.json``."""
    work.mkdir()
    (work / "spec.json").write_text(json.dumps(spec_obj))
    out = work / "bundle.json"
    argv = ["--data-dir", str(work / "data"), "index", "--rpc", rpc, "--spec"]
    argv += [
        str(work / "spec.json"),
        "--subject",
        subject,
        "--block",
        str(block),
        "--out",
        str(out),
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        if coproc(argv) != 0:
            raise SystemExit(f"coproc index failed for {subject}")
    return out


def execute(work: Path, name: str, bundle: Path, spec_obj: dict[str, Any], subject: str) -> Any:
    """The guest's cycles for ``spec_obj`` over ``bundle`` (a 1-input model per feature)."""
    d = work / name
    d.mkdir()
    (d / "spec.json").write_text(json.dumps(spec_obj))
    (d / "model.json").write_text(json.dumps(model(len(spec_obj["features"]), 0)))
    request = prover.ProveRequest(bundle, d / "model.json", d / "spec.json", subject)
    return prover.execute(request)["cycles"]


def aave_reserves(bundle: Path, spec_obj: dict[str, Any], subject: str, block: int) -> int:
    """How many reserves the account's read covered (from the bundle, by Python)."""
    verified = verify_bundle(load_bundle(bundle))
    reads = {(a.block, a.address): a for a in verified.bundle.accounts}
    feat = features.normalize(spec_obj).features[0]
    assert isinstance(feat, features.ReadFeature) and not isinstance(feat.read, features.Source)
    values = ProtocolValues(verified, reads, {})
    values.value(feat.read, block, subject, feat.name)
    (account,) = values.results.values()
    return len(getattr(account, "positions", ()))


def row(
    label: str,
    spec_obj: dict[str, Any],
    shape: list[object],
    c: dict[str, int],
    base: dict[str, int],
) -> list[object]:
    extra = c["user"] - base["user"]
    size = len(features.canonical_bytes(features.normalize(spec_obj)))
    cycles = [f"{c['user']:,}", f"{c['total']:,}", c["segments"], f"{extra:+,} user"]
    return [label, *shape, f"{size:,}", *cycles]


def main() -> None:
    directory = ensure_built()
    meta = load_meta(directory)
    block = next(s["block"] for s in meta["samples"] if s["reason"] == REASON)
    with tempfile.TemporaryDirectory(prefix="bench-markets-cycles-") as tmp:
        work = Path(tmp)
        anvil = start_markets(directory, work / "anvil")
        try:
            rows = run(anvil.rpc, work, meta, block)
        finally:
            stop_pid(anvil.pid)
    header = ["request", "pool nodes", "node bytes", "keccak-f of nodes", "accounts", "slots"]
    header += ["spec bytes", "user cycles", "total cycles"]
    header += ["segments", "vs bundle only"]
    print(table(f"Protocol reads in the guest (block {block})", header, rows))


def run(rpc: str, work: Path, meta: dict[str, Any], block: int) -> list[list[object]]:
    rows: list[list[object]] = []
    aave = {"kind": "protocol", "protocol": "aave-v3.0", "provider": meta["aave"]["provider"]}
    both = [b for b in meta["borrowers"] if b["protocol"] == "aave" and len(b["collateral"]) == 2]
    m_user = next(b for b in meta["borrowers"] if b["protocol"] == "morpho")
    market = meta["morpho"]["markets"][m_user["market"]]
    morpho = {
        "kind": "protocol",
        "protocol": "morpho-blue-1.0.0",
        "morpho": meta["morpho"]["morpho"],
        "morpho_code_hash": meta["code_hashes"]["morpho"],
        "market_id": market["id"],
        "irm_code_hash": meta["code_hashes"]["irm"],
    }
    cases = [
        ("Aave v3 account", aave, AAVE_ACCOUNT_FIELDS, meta["aave"]["pool"], both),
        ("Morpho position", morpho, MORPHO_FIELDS, meta["morpho"]["morpho"], [m_user]),
    ]
    for label, read, fields, contract, candidates in cases:
        one = spec(f"{label} one", [("health_factor", {**read, "field": "health_factor"})])
        every = spec(f"{label} every", [(f, {**read, "field": f}) for f in fields])
        baseline = spec(f"{label} bundle", [("balance", {"kind": "balance", "address": contract})])
        for k, borrower in enumerate(candidates):
            subject = borrower["address"]
            bundle = index(rpc, work / f"{label}-{k}".replace(" ", "-"), every, subject, block)
            if read is morpho or aave_reserves(bundle, one, subject, block) == 3:
                break
        else:
            raise SystemExit("no Aave borrower with 3 reserves at the block")
        doc = json.loads(bundle.read_text())
        slots = sum(len(a["storage"]) for a in doc["accounts"])
        node_bytes = [len(n) // 2 - 1 for n in doc["nodes"]]
        blocks = sum(n // RATE + 1 for n in node_bytes)  # keccak-f permutations per node
        shape = [len(doc["nodes"]), f"{sum(node_bytes):,}", blocks, len(doc["accounts"]), slots]
        base = execute(bundle.parent, "base", bundle, baseline, subject)
        for name, spec_obj in (("one field", one), ("every", every)):
            c = execute(bundle.parent, name, bundle, spec_obj, subject)
            what = f"{len(fields)} fields" if name == "every" else name
            rows.append(row(f"{label}: {what}", spec_obj, shape, c, base))
        rows.insert(len(rows) - 2, row(f"{label}: bundle only", baseline, shape, base, base))
    return rows


if __name__ == "__main__":
    main()
