"""Several real ``coproc serve`` processes on one PostgreSQL database (issue #18): an API
process (``--role api``: HTTP, no workers) and two worker processes (``--role worker``:
workers, serving only ``/healthz`` and ``/metrics``), each with a data directory of its
own as on separate hosts.
A set of jobs submitted to the API process (signed ones, and some also proven by the
real guest in ``coproc-host``, dev mode) is done by the workers, each job exactly once
(indexed by one process only, one feed event per kind), and every result equals the one
a single process on SQLite computes for the same requests. A key revoked
from the command line is refused by the running API process at its next request. A job
whose worker died right after indexing is finished by a worker on another "host" (its
own data directory, without the bundle file): it indexes the same bundle again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from locations import REPO
from pg_support import PostgresServer
from service_backends import Backend, make_backend
from service_support import (
    Chain,
    chain_fixture,
    expected_score,
    http,
    service_config,
    wait_for,
)

from coprocessor.dev.devnet import free_port
from coprocessor.zk import journal as journal_v1

COPROC = REPO / ".venv" / "bin" / "coproc"
JOBS = 12
#: jobs of the set that are also proven (mode ``both``; the rest ``signed``)
PROVEN = 3
#: what a result must have the same on both backends (ids and times differ, and so do
#: the journal's request id, made from the job id, and the seal over the journal)
SAME = ("subject", "model_hash", "feature_spec_hash", "chain_id", "block", "anchor", "score",
        "features", "signature", "signer", "image_id", "dev_mode")  # fmt: skip


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    yield from chain_fixture(tmp_path_factory.mktemp("svc-procs-chain"), "svc-procs")


class Serve:
    """One ``coproc serve`` process, its output in ``log``."""

    def __init__(
        self, config: Path, data: Path, log: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.log = log
        self.port = free_port()
        command = [str(COPROC), "--data-dir", str(data), "serve", "--config", str(config)]
        env = {**os.environ, "PYTHONPATH": str(REPO / "tests"), **(env or {})}
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [*command, "--port", str(self.port), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, line: str) -> None:
        def ready() -> bool:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            return self.log.exists() and line in self.log.read_text()

        wait_for(ready, 60, f"{self.log.name}: {line!r}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def add_key(config: Path, data: Path) -> tuple[str, dict[str, str]]:
    """A new API key (``coproc serve --add-key``): its id and the request headers."""
    key = subprocess.run(
        [str(COPROC), "--data-dir", str(data), "serve", "--config", str(config), "--add-key", "t"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    key_id = key.removeprefix("cpk_").split("_")[0]
    return key_id, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def submit(
    port: int, auth: dict[str, str], subjects: list[str], block: int, proven: int = 0
) -> list[str]:
    """One job per subject at ``block``, the first ``proven`` in mode ``both`` (signed and
    proven), the others ``signed``: their ids."""
    ids = []
    for i, subject in enumerate(subjects):
        mode = "both" if i < proven else "signed"
        request = {"subject": subject, "model": "svc-test", "block": block, "mode": mode}
        body = json.dumps(request).encode()
        status, _, answer = http("POST", f"http://127.0.0.1:{port}/v1/scores", body, auth)
        assert status == 202, answer
        ids.append(json.loads(answer)["id"])
    return ids


def results(port: int, auth: dict[str, str], subjects: list[str]) -> dict[str, dict[str, Any]]:
    """``GET /v1/scores/{subject}`` of each subject, the fields in ``SAME``."""
    out = {}
    for subject in subjects:
        url = f"http://127.0.0.1:{port}/v1/scores/{subject}?model=svc-test"
        status, _, body = http("GET", url, headers=auth)
        assert status == 200, body
        answer = json.loads(body)
        out[subject] = {k: answer[k] for k in SAME}
        if answer["journal"] is not None:  # proven: the journal's fields but the request id
            fields = journal_v1.decode(bytes.fromhex(answer["journal"][2:]))
            assert fields["requestId"] == answer["request_id"]
            out[subject]["journal"] = {k: v for k, v in fields.items() if k != "requestId"}
    return out


def wait_done(port: int, auth: dict[str, str], ids: list[str]) -> list[dict[str, Any]]:
    def all_done() -> list[dict[str, Any]] | None:
        jobs = []
        for job_id in ids:
            status, _, body = http("GET", f"http://127.0.0.1:{port}/v1/jobs/{job_id}", headers=auth)
            assert status == 200, body
            jobs.append(json.loads(body))
        assert not [j["error"] for j in jobs if j["state"] == "failed"]
        return jobs if all(j["state"] == "done" for j in jobs) else None

    found: list[dict[str, Any]] = wait_for(all_done, 120, "every job done")
    return found


def run_sqlite(chain: Chain, tmp: Path, subjects: list[str], block: int) -> dict[str, Any]:
    """The same requests through one ``coproc serve`` on SQLite: its results."""
    backend = make_backend("sqlite", tmp / "data", None)
    config = tmp / "service.json"
    cfg = service_config(chain, tmp, prover="zkvm", database_url=backend.database_url)
    config.write_text(json.dumps(cfg))
    _, auth = add_key(config, backend.data_dir)
    serve = Serve(config, backend.data_dir, tmp / "serve.log")
    try:
        serve.wait_ready("listening on")
        wait_done(serve.port, auth, submit(serve.port, auth, subjects, block, PROVEN))
        return results(serve.port, auth, subjects)
    finally:
        serve.stop()


def test_api_and_two_workers_on_postgres_do_each_job_once(
    chain: Chain, tmp_path: Path, pg_server: PostgresServer
) -> None:
    w3 = chain.w3
    subjects = [a.lower() for a in list(w3.eth.accounts)[:5]]
    subjects += ["0x" + f"{0xC0FFEE00 + i:040x}" for i in range(JOBS - len(subjects))]
    block = int(w3.eth.block_number)
    backend: Backend = make_backend("postgres", tmp_path / "api", pg_server.new_database())
    config = tmp_path / "service.json"
    cfg = service_config(
        chain, tmp_path, workers=2, prover="zkvm", database_url=backend.database_url
    )  # the real guest, dev mode (as tests/service/test_service_zkvm.py)
    config.write_text(json.dumps(cfg))
    key_id, auth = add_key(config, tmp_path / "api")
    api = Serve(config, tmp_path / "api", tmp_path / "api.log", "--role", "api")
    workers = [
        Serve(config, tmp_path / f"w{i}", tmp_path / f"w{i}.log", "--role", "worker")
        for i in range(2)
    ]
    try:
        api.wait_ready("api role: no workers")
        for worker in workers:
            worker.wait_ready("worker role, 2 workers; /healthz and /metrics on")
        worker_url = f"http://127.0.0.1:{workers[0].port}"
        assert http("GET", f"{worker_url}/healthz")[0] == 200
        assert (
            http("GET", f"{worker_url}/v1/scores/{subjects[0]}?model=svc-test", headers=auth)[0]
            == 404
        )  # no API on a worker
        started = time.monotonic()
        ids = submit(api.port, auth, subjects, block, PROVEN)
        jobs = wait_done(api.port, auth, ids)
        print(f"{JOBS} jobs through api + 2 workers: {time.monotonic() - started:.1f} s")
        on_postgres = results(api.port, auth, subjects)

        # each job was indexed by one process (its bundle file under that process's
        # data directory), and both workers took jobs; the API process indexed none
        indexed = [{p.name for p in (tmp_path / f"w{i}" / "jobs").glob("job_*")} for i in (0, 1)]
        print("jobs per worker:", [len(s) for s in indexed])
        # each worker's /metrics counts the stages it ran (per process)
        for worker, jobs_of in zip(workers, indexed, strict=True):
            text = http("GET", f"http://127.0.0.1:{worker.port}/metrics")[2].decode()
            assert f'coproc_jobs_finished_total{{state="done"}} {len(jobs_of)}' in text
        assert indexed[0].isdisjoint(indexed[1])
        assert indexed[0] | indexed[1] == set(ids)
        assert all(indexed)
        assert not (tmp_path / "api" / "jobs").exists()
        assert not any((tmp_path / d / "service.sqlite").exists() for d in ("api", "w0", "w1"))
        # the verified-data cache is the database's too (index/store_pg.py): no host
        # keeps a coproc.sqlite, and the workers' verified rows are in the chain_ tables
        assert not any((tmp_path / d / "coproc.sqlite").exists() for d in ("api", "w0", "w1"))
        ((headers, nodes, accounts),) = backend.rows(
            "SELECT (SELECT count(*) FROM chain_headers), (SELECT count(*) FROM chain_nodes),"
            " (SELECT count(*) FROM chain_accounts)"
        )
        assert headers > 0 and nodes > 0 and accounts > 0
        # one signed event per job and one proven event per proven job, nothing else
        feed = Counter(backend.rows("SELECT job_id, kind FROM feed"))
        assert feed == Counter(
            [(job_id, "signed") for job_id in ids] + [(job_id, "proven") for job_id in ids[:PROVEN]]
        )
        assert backend.states() == {"done": JOBS}
        for job, subject in zip(jobs, subjects, strict=True):
            assert job["score"] == expected_score(w3, subject, block)
        for job in jobs[:PROVEN]:  # the guest's score equals the signed one
            assert job["sampling"]["outcome"] == "match"
        assert all(on_postgres[s]["dev_mode"] is True for s in subjects[:PROVEN])

        # a key revoked by another process is refused at once (no cache to run out)
        subprocess.run(
            [str(COPROC), "--data-dir", str(tmp_path / "api"), "serve", "--config", str(config),
             "--revoke-key", key_id],
            check=True, capture_output=True,
        )  # fmt: skip
        status, _, _ = http("GET", f"http://127.0.0.1:{api.port}/v1/jobs/{ids[0]}", headers=auth)
        assert status == 401
    finally:
        for proc in (api, *workers):
            proc.stop()
    assert all(p.proc.returncode == 0 for p in (api, *workers))

    on_sqlite = run_sqlite(chain, tmp_path / "sqlite", subjects, block)
    assert on_postgres == on_sqlite


def test_a_job_indexed_on_another_host_is_finished_without_its_file(
    chain: Chain, tmp_path: Path, pg_server: PostgresServer
) -> None:
    w3 = chain.w3
    subject = list(w3.eth.accounts)[3].lower()
    block = int(w3.eth.block_number)
    backend = make_backend("postgres", tmp_path / "api", pg_server.new_database())
    config = tmp_path / "service.json"
    cfg = service_config(
        chain, tmp_path, workers=1, lease_seconds=1.5, database_url=backend.database_url
    )
    config.write_text(json.dumps(cfg))
    _, auth = add_key(config, tmp_path / "api")
    api = Serve(config, tmp_path / "api", tmp_path / "api.log", "--role", "api")
    # the first worker kills itself (SIGKILL) once its first job's indexing is committed
    first = Serve(
        config, tmp_path / "w0", tmp_path / "w0.log", "--role", "worker",
        env={"COPROC_FAULT_AT": "indexing.committed:1"},
    )  # fmt: skip
    second: Serve | None = None
    try:
        api.wait_ready("api role: no workers")
        first.wait_ready("worker role")
        (job_id,) = submit(api.port, auth, [subject], block)
        assert first.proc.wait(60) == -signal.SIGKILL
        assert backend.states() == {"scoring": 1}
        (bundle,) = (tmp_path / "w0" / "jobs" / job_id).glob("bundle-*.json")
        first_bundle = json.loads(bundle.read_text())
        bundle.unlink()  # the other host's disk: not reachable from here
        second = Serve(config, tmp_path / "w1", tmp_path / "w1.log", "--role", "worker")
        (job,) = wait_done(api.port, auth, [job_id])
        again = tmp_path / "w1" / "jobs" / job_id / bundle.name
        assert json.loads(again.read_text()) == first_bundle
        assert "bundle indexed again on this host" in second.log.read_text()
        assert job["score"] == expected_score(w3, subject, block)
        assert Counter(backend.rows("SELECT kind FROM feed")) == {("signed",): 1}
    finally:
        for proc in (api, first, *([second] if second else [])):
            proc.stop()
