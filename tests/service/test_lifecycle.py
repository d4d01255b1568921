"""The job lifecycle table (coprocessor/service/lifecycle.py): its states are the strings
the database and the API always used, it is consistent (every active state has a stage,
every path ends in a final state), it gives the paths the worker always took, and
docs/api.md shows exactly what scripts/gen_lifecycle_doc.py renders from it."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from locations import REPO

from coprocessor.service import lifecycle
from coprocessor.service.jobs import JobDB
from coprocessor.service.lifecycle import FINAL, TABLE, State, next_state, path, row_of
from coprocessor.service.openapi import SCHEMAS

#: the values stored in jobs.state and shown by GET /v1/jobs/{id} before the table existed
STORED = (
    "queued", "indexing", "scoring", "signing", "proving", "batching", "posting", "done", "failed",
)  # fmt: skip
MODES = ("signed", "proven", "both")
DESTINATIONS = ("none", "l1", "l2")
DOC = REPO / "docs" / "api.md"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_lifecycle_doc", REPO / "scripts" / "gen_lifecycle_doc.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _requests() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every (request, data after signing) the lifecycle distinguishes."""
    return [
        ({"mode": m, "destination": d}, {"sampled": True} if s else {})
        for m, d, s in itertools.product(MODES, DESTINATIONS, (False, True))
    ]


class _Job:
    def __init__(self, state: str, request: dict[str, Any], data: dict[str, Any]) -> None:
        self.state, self.request, self.data = state, request, data


# ------------------------------------------------------------------ states


def test_states_are_the_stored_strings() -> None:
    assert [s.value for s in State] == list(STORED)
    assert SCHEMAS["Job"]["properties"]["state"]["enum"] == list(STORED)


def test_job_db_stores_and_reads_the_plain_strings(tmp_path: Path) -> None:
    db = JobDB(tmp_path / "service.sqlite")
    job, _ = db.submit({"mode": "signed", "destination": "none"}, None)
    raw = db.conn.execute("SELECT state, timestamps FROM jobs WHERE id = ?", (job.id,)).fetchone()
    assert raw[0] == "queued" and type(raw[0]) is str
    assert raw[1].startswith('{"queued":')
    assert job.state is State.QUEUED
    assert db.counts() == dict.fromkeys(STORED, 0) | {"queued": 1}
    db.close()


# ------------------------------------------------------------------ the table is consistent


def test_every_state_has_exactly_one_row_and_queued_comes_first() -> None:
    assert [r.state for r in TABLE].count(State.QUEUED) == 1
    assert sorted(r.state for r in TABLE) == sorted(State)
    assert TABLE[0].state is State.QUEUED


def test_final_states_are_done_and_failed_and_have_no_way_out() -> None:
    assert {State.DONE, State.FAILED} == FINAL
    for state in FINAL:
        row = row_of(state)
        assert row.stage is None and row.on_failure is None and row.on_reorg is None


def test_every_active_state_has_its_own_stage_and_a_failure_target() -> None:
    active = [r for r in TABLE if r.state not in FINAL]
    assert all(r.stage is not None for r in active)
    assert len({r.stage for r in active}) == len(active)
    assert all(r.on_failure in FINAL for r in active)
    assert tuple(r.state for r in active) == lifecycle.ACTIVE


def test_every_transition_target_is_a_state() -> None:
    for row in TABLE:
        for target in (row.on_failure, row.on_reorg):
            assert target is None or isinstance(target, State)
    for request, data in _requests():
        for state in path(request, data)[:-1]:
            assert isinstance(next_state(_Job(state, request, data)), State)


def _edges(request: dict[str, Any], data: dict[str, Any]) -> dict[State, set[State]]:
    """Every move a job of this request can make: success, failure, reorg."""
    edges: dict[State, set[State]] = {s: set() for s in State}
    states = path(request, data)
    for state, after in itertools.pairwise(states):
        edges[state].add(after)
    for row in TABLE:
        edges[row.state] |= {t for t in (row.on_failure, row.on_reorg) if t is not None}
    return edges


def _reachable(edges: dict[State, set[State]], start: State) -> set[State]:
    seen, todo = {start}, [start]
    while todo:
        for after in edges[todo.pop()] - seen:
            seen.add(after)
            todo.append(after)
    return seen


def test_every_path_from_queued_ends_in_done_or_failed() -> None:
    for request, data in _requests():
        states = path(request, data)
        assert states[0] is State.QUEUED and states[-1] is State.DONE
        assert len(set(states)) == len(states)
        edges = _edges(request, data)
        for state in _reachable(edges, State.QUEUED):  # wherever a job gets, it can finish
            finals = _reachable(edges, state) & FINAL
            assert finals, f"{state} cannot reach a final state ({request}, {data})"
            assert (state in FINAL) == (not edges[state])


# ------------------------------------------------------------------ the worker's paths


def _expected(mode: str, destination: str, sampled: bool, batched: bool = False) -> list[str]:
    """The worker's rule before the table (written out here, not taken from the code):
    signing then proving for a receipt (or a sampled signed job; batching instead when
    the service batches receipts), then posting for a destination, then done."""
    states = ["queued", "indexing", "scoring", "signing"]
    if mode in ("proven", "both") and batched:
        states.append("batching")
    elif mode in ("proven", "both") or sampled:
        states.append("proving")
    if destination != "none":
        states.append("posting")
    return [*states, "done"]


@pytest.mark.parametrize(("mode", "destination", "sampled"), [
    ("signed", "none", False), ("signed", "none", True), ("proven", "none", False),
    ("both", "none", True), ("proven", "l1", False), ("both", "l2", False),
])  # fmt: skip
@pytest.mark.parametrize("batched", [False, True])
def test_paths_are_the_worker_rule(
    mode: str, destination: str, sampled: bool, batched: bool
) -> None:
    request = {"mode": mode, "destination": destination}
    data: dict[str, Any] = {"sampled": True} if sampled else {}
    if batched:
        data["batched"] = True
    want = _expected(mode, destination, sampled, batched)
    assert list(path(request, data)) == want
    for state, after in itertools.pairwise(want):
        assert next_state(_Job(state, request, data)) == after


def test_next_state_reads_the_data_the_stage_commits() -> None:
    request = {"mode": "signed", "destination": "none"}
    job = _Job("signing", request, {})
    assert next_state(job) == "done"
    assert next_state(job, {"sampled": True}) == "proving"


def test_reorg_sends_the_stages_after_scoring_back_to_indexing() -> None:
    reorg = {r.state.value: r.on_reorg for r in TABLE if r.on_reorg is not None}
    assert reorg == {
        "signing": "indexing", "proving": "indexing", "batching": "indexing", "posting": "indexing",
    }  # fmt: skip


# ------------------------------------------------------------------ docs/api.md


def test_api_doc_shows_what_the_generator_renders() -> None:
    gen = _script()
    committed = DOC.read_text()
    assert gen.splice(committed, gen.render()) == committed, "run scripts/gen_lifecycle_doc.py"
    assert gen.main(["--check"]) == 0


def test_api_doc_rendering_replaces_a_hand_edit_and_names_every_state() -> None:
    gen = _script()
    committed = DOC.read_text()
    edited = committed.replace("| `posting` | `post` |", "| `posting` | `submit` |")
    assert edited != committed
    assert gen.splice(edited, gen.render()) == committed
    section = committed[committed.index(gen.BEGIN) : committed.index(gen.END)]
    for state in STORED:
        assert f"| `{state}` |" in section
    assert "queued → indexing → scoring → signing → done" in section


def test_api_doc_without_markers_is_refused() -> None:
    gen = _script()
    with pytest.raises(gen.DocError, match="markers"):
        gen.splice("# no markers here\n", gen.render())
    with pytest.raises(gen.DocError, match="markers"):
        gen.splice(f"{gen.END}\n{gen.BEGIN}\n", gen.render())
