"""Hostile files through every command that reads one, as a subprocess of the
installed console script (a crash would be a signal exit, not an exception): one
line on stderr, ``coproc: error:``, exit 2, no traceback, nothing on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COPROC = Path(sys.executable).parent / "coproc"
BUNDLE = Path(__file__).resolve().parent.parent / "vectors" / "features" / "lending_bundle.json"

HOSTILE: dict[str, bytes] = {
    "deep": b"[" * 90_000 + b"]" * 90_000,  # the segfault (exit 139)
    "deep_objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "huge_integer": b'{"format": "coproc-bundle", "version": 1, "chain_id": ' + b"9" * 5001 + b"}",
    "duplicate_key": b'{"format": "x", "format": "coproc-bundle"}',
    "not_utf8": b'{"format": "\xff"}',
    "nan": b'{"version": NaN}',
}

#: (command, what the message names the file as); {f} is the hostile file
COMMANDS: list[tuple[list[str], str]] = [
    (["verify-bundle", "{f}"], "bundle"),
    (["inspect", "bundle", "{f}"], "bundle"),
    (["inspect", "header", "{f}"], ""),
    (["inspect", "proof", "{f}", "--state-root", "0x" + "00" * 32], ""),
    (["features", "--spec", "{f}"], "feature spec"),
    (["model", "inspect", "{f}"], "model"),
    (["model", "hash", "{f}"], "model"),
    (["verify-receipt", "--dev", "{f}"], "receipt"),
]


def run(tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COPROC_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run(
        [str(COPROC), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("coproc: error: "), proc.stderr[-2000:]
    assert needle in lines[0], lines[0]
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("command", "what"), COMMANDS, ids=lambda c: "-".join(c[:2]) if isinstance(c, list) else c
)
def test_every_reader_refuses_deep_json_in_one_line(
    tmp_path: Path, command: list[str], what: str
) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(HOSTILE["deep"])
    proc = run(tmp_path, [a.format(f=path) for a in command])
    assert_one_line_error(proc, 2, f"{what} {path}: nested deeper than".lstrip())


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_every_hostile_class_through_verify_bundle(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.json"
    path.write_bytes(HOSTILE[kind])
    proc = run(tmp_path, ["verify-bundle", str(path)])
    assert_one_line_error(proc, 2, f"bundle {path}: ")


def test_duplicate_keys_in_a_real_bundle_are_refused(tmp_path: Path) -> None:
    """A valid bundle with one key written twice (same value: only the spelling
    differs) no longer verifies."""
    bundle = json.loads(BUNDLE.read_text())["bundle"]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert run(tmp_path, ["verify-bundle", str(path)]).returncode == 0
    text = json.dumps(bundle)
    doubled = text.replace('"chain_id": ', f'"chain_id": {bundle["chain_id"]}, "chain_id": ', 1)
    path.write_text(doubled)
    assert_one_line_error(
        run(tmp_path, ["verify-bundle", str(path)]), 2, "duplicate key 'chain_id'"
    )


def test_a_deep_rlp_header_in_a_bundle_does_not_verify(tmp_path: Path) -> None:
    """The issue's 200,000 bytes of 0xcd as a header: exit 1 (data that does not verify)."""
    bundle = json.loads(BUNDLE.read_text())["bundle"]
    bundle["headers"][0] = "0x" + "cd" * 200_000
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert_one_line_error(run(tmp_path, ["verify-bundle", str(path)]), 1, "RLP lists nested deeper")


def test_service_config_with_duplicate_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"workers": 1, "workers": 2}')
    assert_one_line_error(run(tmp_path, ["serve", "--config", str(path)]), 2, "duplicate key")


def rlp_lists(depth: int) -> bytes:
    """``depth`` properly nested RLP lists around one empty string (lengths correct,
    so a decoder that follows them recurses ``depth`` deep)."""
    raw = b"\x80"
    for _ in range(depth):
        size = len(raw)
        if size < 56:
            raw = bytes([0xC0 + size]) + raw
        else:
            width = (size.bit_length() + 7) // 8
            raw = bytes([0xF7 + width]) + size.to_bytes(width, "big") + raw
    return raw


def test_deeply_nested_rlp_through_the_native_verifier(tmp_path: Path) -> None:
    """`coproc features` verifies with the Rust core when it is installed: a header of
    100,000 properly nested lists overflowed its stack (exit 139)."""
    bundle = json.loads(BUNDLE.read_text())["bundle"]
    bundle["headers"][0] = "0x" + rlp_lists(100_000).hex()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    spec = (
        Path(__file__).resolve().parent.parent.parent / "models" / "lending-risk-v1.features.json"
    )
    subject = "0x" + "00" * 19 + "aa"
    proc = run(
        tmp_path, ["features", "--spec", str(spec), "--bundle", str(path), "--subject", subject]
    )
    assert_one_line_error(proc, 1, "nested deeper than 16")
