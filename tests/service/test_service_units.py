"""Unit tests of the service's parts that need no chain: the job queue (leases,
fencing, retries with backoff, idempotency, atomic stages), the keystore signer,
configuration errors, metrics rendering and the sampler."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from service_backends import default_store

from coprocessor.errors import UserInputError
from coprocessor.onchain import eip712
from coprocessor.service.config import load_config
from coprocessor.service.jobs import JobDB, LeaseLost
from coprocessor.service.metrics import Histogram, Registry
from coprocessor.service.sampling import Sampler
from coprocessor.service.signer import Signer, load_keystore, write_keystore
from coprocessor.service.store.protocol import ServiceDB

REQ = {"subject": "0x" + "11" * 20, "model": "m", "block": "latest", "mode": "signed",
       "destination": "none"}  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ServiceDB]:
    """The suite's default service database (``--service-backend``), empty."""
    store = default_store(tmp_path)
    yield store
    store.close()


def test_lease_expiry_and_fencing(db: ServiceDB) -> None:
    job, created = db.submit(REQ, None, now=100.0)
    assert created
    a = db.claim("worker-a", 10, now=100.0)
    assert a is not None and a.id == job.id
    assert db.claim("worker-b", 10, now=105.0) is None  # leased
    b = db.claim("worker-b", 10, now=111.0)  # a's lease ran out (a crashed)
    assert b is not None and b.id == job.id
    with pytest.raises(LeaseLost), db.tx():
        db.advance(a, "worker-a", "indexing", {})
    with db.tx():
        db.advance(b, "worker-b", "indexing", {"x": 1})
    got = db.get(job.id)
    assert got is not None and got.state == "indexing" and got.data == {"x": 1}
    assert list(got.timestamps) == ["queued", "indexing"]


def test_a_stage_commits_all_or_nothing(db: ServiceDB) -> None:
    job, _ = db.submit(REQ, None)
    claimed = db.claim("w", 30)
    assert claimed is not None
    with pytest.raises(RuntimeError), db.tx():
        db.advance(claimed, "w", "scoring", {"score": 1})
        db.publish(job.id, "signed", 0, "{}")
        raise RuntimeError("crash in the middle of the stage")
    got = db.get(job.id)
    assert got is not None and got.state == "queued" and got.data == {}
    assert db.feed_after(0) == []


def test_retries_back_off_then_fail(db: ServiceDB) -> None:
    job, _ = db.submit(REQ, None)
    delays = []
    for _attempt in range(3):
        claimed = db.claim("w", 30, now=10**10)
        assert claimed is not None
        before = claimed.next_run_at
        alive = db.retry_later(claimed, "w", "node down", 1.0, 3.0, max_attempts=4)
        assert alive
        again = db.get(job.id)
        assert again is not None and again.error == "node down"
        delays.append(round(again.next_run_at - before))
    assert db.claim("w", 30) is None  # not before its time
    assert [d > 0 for d in delays] == [True] * 3
    gaps = [(db.get(job.id) or job).attempts]
    assert gaps == [3]
    last = db.claim("w", 30, now=10**10)
    assert last is not None
    assert not db.retry_later(last, "w", "node down", 1.0, 3.0, max_attempts=4)
    final = db.get(job.id)
    assert final is not None and final.state == "failed"
    assert final.error == "node down (after 4 attempts)"


def test_backoff_doubles_and_caps(db: ServiceDB) -> None:
    """The wait set by each retry: the next run time less the time of the update (both
    from the store's clock: this host's for SQLite, the server's for PostgreSQL)."""
    job, _ = db.submit(REQ, None)
    waits = []
    for _ in range(5):
        claimed = db.claim("w", 30, now=time.time() + 10**6)
        assert claimed is not None
        db.retry_later(claimed, "w", "e", 1.0, 5.0, max_attempts=10)
        stored = db.get(job.id)
        assert stored is not None
        waits.append(round(stored.next_run_at - stored.updated_at, 3))
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_idempotency_keys(db: ServiceDB) -> None:
    first, created = db.submit(REQ, "k:1")
    again, created_again = db.submit(dict(REQ), "k:1")
    assert created and not created_again and again.id == first.id
    with pytest.raises(ValueError):
        db.submit({**REQ, "block": 5}, "k:1")
    other, _ = db.submit(REQ, "k:2")
    assert other.id != first.id
    assert db.counts()["queued"] == 2


def test_schema_version_is_checked(tmp_path: Path) -> None:
    from coprocessor.errors import StoreError

    db = JobDB(tmp_path / "s.sqlite")
    db.conn.execute("UPDATE svc_meta SET value = '99' WHERE key = 'schema'")
    db.close()
    with pytest.raises(StoreError, match="schema 99"):
        JobDB(tmp_path / "s.sqlite")


def test_keystore_signer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = bytes(range(1, 33))
    path = tmp_path / "ks.json"
    address = write_keystore(path, key, "correct horse")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert key.hex() not in path.read_text()
    with pytest.raises(UserInputError):
        write_keystore(path, key, "again")  # never overwritten
    monkeypatch.delenv("PW", raising=False)
    with pytest.raises(UserInputError, match="PW is not set"):
        load_keystore(path, "PW")
    monkeypatch.setenv("PW", "wrong password")
    with pytest.raises(UserInputError) as err:
        load_keystore(path, "PW")
    assert "wrong password or corrupt" in str(err.value)
    assert "wrong password\n" not in str(err.value) and key.hex() not in str(err.value)
    monkeypatch.setenv("PW", "correct horse")
    signer = Signer(load_keystore(path, "PW"), 31337, "0x" + "22" * 20)
    assert signer.address == address == Account.from_key(key).address
    assert key.hex() not in repr(signer) and "correct horse" not in repr(signer)
    score = eip712.SignedScore(1, 10, "0x" + "33" * 20, b"\x01" * 32, b"\x02" * 32, 4242)
    sig = signer.sign(score)
    assert sig == signer.sign(score)  # deterministic: re-running a stage gives the same bytes
    assert eip712.recover(score, sig, 31337, "0x" + "22" * 20) == address


def test_config_errors(tmp_path: Path) -> None:
    assert load_config(None, {"workers": 3}).workers == 3
    bad_configs: list[tuple[dict[str, Any], str]] = [
        ({"nope": 1}, "unknown key"),
        ({"workers": "2"}, "must be a int"),
        ({"auth_required": 1}, "must be a bool"),
        ({"sampling_probability": 1.5}, r"\[0, 1\]"),
        ({"lease_seconds": 0}, "positive"),
    ]
    for bad, message in bad_configs:
        with pytest.raises(UserInputError, match=message):
            load_config(None, bad)
    path = tmp_path / "c.json"
    path.write_text("{")
    with pytest.raises(UserInputError, match="not valid JSON"):
        load_config(path)
    path.write_text(json.dumps([1]))
    with pytest.raises(UserInputError, match="object"):
        load_config(path)


def test_metrics_text_format() -> None:
    reg = Registry()
    c = reg.counter("x_total", "things")
    c.inc(kind='a"b')
    c.inc(2, kind='a"b')
    h = reg.histogram("lat_seconds", "latency")
    assert isinstance(h, Histogram)
    for v in (0.0005, 0.003, 0.003, 1000.0):
        h.observe(v, route="/r")
    text = reg.render()
    assert 'x_total{kind="a\\"b"} 3' in text
    buckets = re.findall(r'lat_seconds_bucket\{route="/r",le="([^"]+)"\} (\d+)', text)
    counts = [int(n) for _, n in buckets]
    assert counts == sorted(counts)  # cumulative
    assert dict(buckets)["0.001"] == "1" and dict(buckets)["0.005"] == "3"
    assert dict(buckets)["60"] == "3" and dict(buckets)["+Inf"] == "4"
    assert 'lat_seconds_count{route="/r"} 4' in text


def test_sampler() -> None:
    assert not any(Sampler(0.0, 1).pick() for _ in range(1000))
    assert all(Sampler(1.0, 1).pick() for _ in range(1000))
    s = Sampler(0.25, 42)
    picked = sum(s.pick() for _ in range(4000))
    assert 850 < picked < 1150


def test_serve_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from coprocessor.cli import main as cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("serve",))
    data = ["--data-dir", str(tmp_path / "d")]
    cases = [
        ["serve", "--config", str(tmp_path / "missing.json")],
        ["serve", "--port", "0"],
        ["serve", "--revoke-key", "nope"],
        ["serve"],  # no rpc_url
    ]
    for argv in cases:
        assert cli.main([*data, *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("coproc: error: ") and len(err.strip().splitlines()) == 1, err
    # keys: created, listed without secrets, revoked
    assert cli.main([*data, "serve", "--add-key", "bot", "--rate", "5"]) == 0
    key = capsys.readouterr().out.strip()
    assert re.fullmatch(r"cpk_[0-9a-f]{8}_[0-9a-f]{64}", key)
    assert cli.main([*data, "serve", "--list-keys"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["name"] for k in listed] == ["bot"] and key.split("_")[2] not in json.dumps(listed)
    assert cli.main([*data, "serve", "--revoke-key", listed[0]["id"]]) == 0
    capsys.readouterr()
    monkeypatch.setenv("COPROC_KEYSTORE_PASSWORD", "pw")
    ks = tmp_path / "op.json"
    assert cli.main([*data, "serve", "--new-keystore", str(ks)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["address"] == Account.from_key(load_keystore(ks, "COPROC_KEYSTORE_PASSWORD")).address
    assert cli.main([*data, "serve", "--new-keystore", str(ks)]) == 2  # never overwritten
