"""``coproc`` error paths, run as a subprocess of the installed console script:
one line on stderr starting with ``coproc: error:``, no traceback, exit 2 for user
errors and 1 for verification failures, and no output file written or changed."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lying_proxy import LyingProxy, flip_hex, mutate, stored_rows

from coprocessor.cli.main import main
from coprocessor.dev.devnet import AnvilNode, free_port, rpc_call

COPROC = Path(sys.executable).parent / "coproc"
CONTRACT = "0x00000000000000000000000000000000c0ffee04"
SENTINEL = "previous content\n"


@dataclass
class Result:
    code: int
    out: str
    err: str


def coproc(tmp_path: Path, *args: str) -> Result:
    env = dict(os.environ, COPROC_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [str(COPROC), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_error(result: Result, code: int, needle: str) -> None:
    assert result.code == code, (result.code, result.err)
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("coproc: error: "), lines[0]
    assert needle in lines[0], lines[0]
    assert result.out == ""


@pytest.fixture(scope="module")
def head(anvil: AnvilNode) -> int:
    rpc_call(anvil.rpc, "anvil_setStorageAt", [CONTRACT, "0x" + "00" * 31 + "01", "0x" + "ab" * 32])
    rpc_call(anvil.rpc, "anvil_mine", ["0x2"])
    return int(rpc_call(anvil.rpc, "eth_blockNumber"), 16)


def assert_nothing_written(out: Path, before: str | None = None) -> None:
    if before is None:
        assert not out.exists()
        assert not out.parent.exists() or list(out.parent.iterdir()) == []
    else:
        assert out.read_text() == before
        assert [p.name for p in out.parent.iterdir()] == [out.name]


def index_args(rpc: str, block: str, out: Path, *extra: str) -> list[str]:
    return ["index", "--rpc", rpc, "--block", block, "--out", str(out), *extra]


@dataclass
class Case:
    """One failing invocation and what it must print (each gets its own --out).
    ``spawn``: run the console script as a subprocess; otherwise ``cli.main``
    in-process (same code after start-up; the script's ~1 s start-up is paid only
    for a representative case of each kind)."""

    name: str
    args: list[str]
    code: int
    needle: str
    before: str | None = None  # content of --out before the run (None: no file)
    spawn: bool = False


def in_process(cwd: Path, *args: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--data-dir", str(cwd / "data"), *args])
    return Result(code, out.getvalue(), err.getvalue())


def run_cases(tmp_path: Path, cases: list[Case]) -> None:
    """Run every case, then check each: one error line, exit code, nothing written."""
    outs = []
    for case in cases:
        out = tmp_path / case.name / "outdir" / "bundle.json"
        out.parent.parent.mkdir(parents=True)  # the run's cwd
        if case.before is not None:
            out.parent.mkdir()
            out.write_text(case.before)
        outs.append(out)

    def run(case: Case, out: Path) -> Result:
        args = [
            str(out) if a == "{out}" else str(out.parent) if a == "{dir}" else a for a in case.args
        ]
        return (coproc if case.spawn else in_process)(out.parent.parent, *args)

    with ThreadPoolExecutor(max_workers=2) as pool:
        spawned = {
            case.name: pool.submit(run, case, out)
            for case, out in zip(cases, outs, strict=True)
            if case.spawn
        }
        results = [
            spawned[case.name].result() if case.spawn else run(case, out)
            for case, out in zip(cases, outs, strict=True)
        ]
    failures = []
    for case, out, result in zip(cases, outs, results, strict=True):
        try:
            assert_error(result, case.code, case.needle)
            assert_nothing_written(out, case.before)
        except AssertionError as exc:
            failures.append(f"{case.name}: {exc}")
    assert failures == []
    assert sum(c.spawn for c in cases) >= 3


def test_index_user_errors(anvil: AnvilNode, head: int, tmp_path: Path) -> None:
    n, a = str(head), ["--address", CONTRACT]
    latest = str(int(rpc_call(anvil.rpc, "eth_blockNumber"), 16))
    dead = f"http://127.0.0.1:{free_port()}"
    spawn = {"short-address", "non-numeric-slot", "block-above-head", "unreachable-rpc"}
    table: list[tuple[str, str, str, list[str], str]] = [
        ("short-address", "", n, ["--address", "0x12"], "--address 0x12: expected 20 bytes"),
        ("non-hex-address", "", n, ["--address", "0x" + "zz" * 20], "not hex"),
        ("unprefixed-address", "", n, ["--address", "c0ffee" * 7], "expected a 0x-prefixed"),
        ("non-numeric-slot", "", n, [*a, "--slot", "zz"], "--slot zz: not a decimal or 0x-hex"),
        ("empty-hex-slot", "", n, [*a, "--slot", "0x"], "--slot 0x"),
        ("slot-too-large", "", n, [*a, "--slot", str(2**256)], "out of the 256-bit range"),
        ("negative-slot", "", n, [*a, "--slot", "-1"], "out of the 256-bit range"),
        ("duplicate-slot", "", n, [*a, "--slot", "1", "--slot", "0x1"], "--slot given twice"),
        (
            "duplicate-address-case",
            "",
            n,
            [*a, "--address", "0x" + CONTRACT[2:].upper()],
            "--address given twice",
        ),
        ("negative-ancestors", "", n, [*a, "--ancestors", "-1"], "--ancestors must be >= 0"),
        ("block-above-head", "", str(head + 50), a, "above the node's head"),
        ("negative-block", "", "-3", a, "--block must be >= 0"),
        ("word-block", "", "soon", a, "--block: not a decimal"),
        ("ancestors-above-head", "", latest, [*a, "--ancestors", "3"], "above head"),
        ("unreachable-rpc", dead, "1", a, "cannot reach the node"),
    ]
    cases = [
        Case(
            name,
            ["index", "--rpc", rpc or anvil.rpc, "--block", block, "--out", "{out}", *extra],
            2,
            needle,
            spawn=name in spawn,
        )
        for name, rpc, block, extra, needle in table
    ]
    history = ["index", "--rpc", anvil.rpc, *a, "--out", "{dir}", "--blocks"]
    cases += [
        Case("range-reversed", [*history, "5..2"], 2, "FROM <= TO"),
        Case("range-no-dots", [*history, "7"], 2, "FROM..TO"),
        Case("range-above-head", [*history, f"1..{head + 10}"], 2, "above the node's head"),
        Case("range-every-0", [*history, "1..2", "--every", "0"], 2, "--every must be >= 1"),
        Case(
            "wrong-chain-id",
            ["index", "--rpc", anvil.rpc, "--block", n, *a, "--chain-id", "1", "--out", "{out}"],
            2,
            "serves chain id 31337, expected 1",
            before=SENTINEL,  # an earlier bundle at --out stays as it was
            spawn=True,
        ),
    ]
    run_cases(tmp_path, cases)


def test_lying_node_end_to_end(anvil: AnvilNode, head: int, tmp_path: Path) -> None:
    """A storage value lie through a real proxy: exit 1, previous file untouched,
    nothing in the store."""
    out = tmp_path / "outdir" / "bundle.json"
    out.parent.mkdir(parents=True)
    out.write_text(SENTINEL)

    def lie(result: Any, _params: list[Any]) -> Any:
        result["storageProof"][0]["value"] = "0x1"
        return result

    with LyingProxy(anvil.rpc) as proxy:
        proxy.rule = mutate("eth_getProof", lie)
        args = index_args(proxy.url, str(head), out, "--address", CONTRACT, "--slot", "1")
        result = coproc(tmp_path, *args)
    assert_error(result, 1, "claimed value 0x1 != proven")
    assert_nothing_written(out, SENTINEL)
    rows = stored_rows(tmp_path / "data" / "coproc.sqlite")
    assert "headers" in rows and set(rows.values()) == {0}, rows


@pytest.fixture(scope="module")
def good_bundle(anvil: AnvilNode, head: int, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("good")
    path = tmp / "bundle.json"
    block = head - 1
    args = index_args(anvil.rpc, str(block), path, "--address", CONTRACT, "--slot", "1")
    result = coproc(tmp, *args, "--ancestors", "1")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    real = rpc_call(anvil.rpc, "eth_getBlockByNumber", [hex(block), False])
    assert (summary["block"], summary["block_hash"]) == (block, real["hash"])
    verified = coproc(tmp, "verify-bundle", str(path))
    assert verified.code == 0, verified.err
    storage = json.loads(verified.out)["accounts"][0]["storage"]
    assert storage == {"0x" + "00" * 31 + "01": "0x" + "ab" * 32}
    return path


TAMPER: list[tuple[str, Callable[[dict[str, Any]], object], int, str]] = [
    ("value", lambda b: b["accounts"][0]["storage"][0].update(value="0x1"), 1, "claimed value"),
    ("header", lambda b: b["headers"].__setitem__(0, flip_hex(b["headers"][0], 300)), 1, ""),
    ("node", lambda b: b["nodes"].__setitem__(0, flip_hex(b["nodes"][0], 20)), 1, ""),
    ("dropped-node", lambda b: b["nodes"].pop(), 1, "missing trie node"),
    ("anchor", lambda b: b["anchor"].update(number=b["anchor"]["number"] + 1), 1, "anchor"),
    ("version", lambda b: b.update(version=3), 2, "unsupported version"),
    ("format", lambda b: b.update(format="other"), 2, "format"),
    ("address", lambda b: b["accounts"][0].update(address="0x1234"), 2, "expected 20 bytes"),
    ("uppercase", lambda b: b["anchor"].update(hash=b["anchor"]["hash"].upper()), 2, "lowercase"),
]


def test_verify_bundle_errors(good_bundle: Path, tmp_path: Path) -> None:
    text = good_bundle.read_text()
    cases = []
    for cut in (0, 1, len(text) // 2, len(text) - 3):
        broken = tmp_path / f"cut{cut}.json"
        broken.write_text(text[:cut])
        spawn = cut == len(text) // 2
        cases.append(
            Case(f"cut{cut}", ["verify-bundle", str(broken)], 2, "not valid JSON", spawn=spawn)
        )
    cases.append(Case("missing", ["verify-bundle", str(tmp_path / "nope.json")], 2, "cannot read"))
    for name, edit, code, needle in TAMPER:
        bundle = json.loads(text)
        edit(bundle)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bundle))
        spawn = name in ("value", "node")
        cases.append(Case(name, ["verify-bundle", str(path)], code, needle, spawn=spawn))
    run_cases(tmp_path, cases)


def test_inspect_header_mismatch_exits_1(anvil: AnvilNode, head: int, tmp_path: Path) -> None:
    block = rpc_call(anvil.rpc, "eth_getBlockByNumber", [hex(head), False])
    path = tmp_path / "header.json"
    path.write_text(json.dumps(block))
    good = coproc(tmp_path, "inspect", "header", str(path))
    assert good.code == 0 and json.loads(good.out)["matches"] is True
    block["gasUsed"] = hex(int(block["gasUsed"], 16) + 1)
    path.write_text(json.dumps(block))
    bad = coproc(tmp_path, "inspect", "header", str(path))
    assert bad.code == 1 and json.loads(bad.out)["matches"] is False


def test_unwritable_out_is_a_user_error(anvil: AnvilNode, head: int, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text(SENTINEL)
    args = ["index", "--rpc", anvil.rpc, "--block", str(head), "--address", CONTRACT]
    result = in_process(tmp_path, *args, "--out", str(tmp_path / "afile" / "b.json"))
    assert_error(result, 2, "cannot write")
    assert (tmp_path / "afile").read_text() == SENTINEL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "data"]


def test_inspect_proof_errors(shared_vectors: Path, tmp_path: Path) -> None:
    data = json.loads((shared_vectors / "proofs" / "cancun_21925176_miner_eoa.json").read_text())
    proof, root = data["proof"], data["block"]["stateRoot"]
    good = tmp_path / "good.json"
    good.write_text(json.dumps(proof))
    ok = in_process(tmp_path, "inspect", "proof", str(good), "--state-root", root)
    assert ok.code == 0 and json.loads(ok.out)["address"] == proof["address"].lower()
    edits: list[tuple[str, dict[str, Any], int, str]] = [
        ("storage-not-list", {"storageProof": "x"}, 2, "proof.storageProof: expected a list"),
        ("nodes-null", {"accountProof": None}, 2, "accountProof list"),
        ("entry-int", {"storageProof": [5]}, 2, "storageProof[0]"),
        ("entry-proof-null", {"storageProof": [{"key": "0x1", "proof": None}]}, 2, "proof list"),
        ("balance", {"balance": hex(int(proof["balance"], 16) + 1)}, 1, "claimed account"),
        ("node", {"accountProof": [flip_hex(proof["accountProof"][0], 9)]}, 1, "does not verify"),
    ]
    for name, change, code, needle in edits:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({**proof, **change}))
        result = in_process(tmp_path, "inspect", "proof", str(path), "--state-root", root)
        assert_error(result, code, needle)
    bad_root = in_process(tmp_path, "inspect", "proof", str(good), "--state-root", "0x12")
    assert_error(bad_root, 2, "--state-root: expected 32 bytes")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "99999"], "--port 99999: must be 1..65535"),
        (["--chain-id", "0"], "--chain-id 0"),
    ],
)
def test_devnet_up_bad_arguments(args: list[str], needle: str, tmp_path: Path) -> None:
    assert_error(in_process(tmp_path, "devnet", "up", *args), 2, needle)
    assert not (tmp_path / "data" / "devnet" / "devnet.json").exists()


@pytest.mark.parametrize("number", [-1, 1.5, True, None, [1], "0xzz"])
def test_inspect_header_malformed_number(number: Any, shared_vectors: Path, tmp_path: Path) -> None:
    header = json.loads((shared_vectors / "headers" / "prague_22431084.json").read_text())
    path = tmp_path / "header.json"
    path.write_text(json.dumps({**header, "number": number}))
    assert_error(in_process(tmp_path, "inspect", "header", str(path)), 2, "header.number")
