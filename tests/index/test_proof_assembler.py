"""``ProofAssembler``, eth_getProof answers parsed part by part as they
arrive, against the Python reference ``build_bundle`` of the joined answers (real
anvil answers); and ``index_block``, which asks ``KEYS_PER_CALL`` keys per call,
against a node that lies in one later part only: rejected, nothing stored."""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bundle_checks import same_verified
from lying_proxy import LyingProxy, flip_hex, mutate, stored_rows

from coprocessor.chain import native
from coprocessor.chain.bundle import ProofAtBlock, VerifiedBundle, build_bundle
from coprocessor.chain.headers import encode_header_json
from coprocessor.chain.keccak import keccak256
from coprocessor.dev.devnet import AnvilNode, rpc_call
from coprocessor.errors import RpcError, UserInputError, VerificationError
from coprocessor.index.assembler import ProofAssembler, join_parts
from coprocessor.index.indexer import KEYS_PER_CALL, Read, index_block
from coprocessor.index.rpc import RpcClient, merge_proof_chunks
from coprocessor.index.store import Store

CONTRACT = "0x00000000000000000000000000000000c0ffee0a"
EOA = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"  # anvil dev account #1
EOA2 = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"  # anvil dev account #2
ABSENT = "0x00000000000000000000000000000000deadbee8"
#: slots with a value; the reads ask more slots than these (proofs of absence too)
VALUES = {i * 13 + 5: i + 1 for i in range(40)}
SLOTS = 2 * KEYS_PER_CALL + 100  # three parts at the indexer's KEYS_PER_CALL
SMALL_PART = 9  # keys per call in the assembler tests: several parts per account

Parts = list[tuple[int, int, dict[str, Any]]]  # (job, part, answer)


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


@pytest.fixture(scope="module")
def chain(anvil: AnvilNode) -> int:
    for slot, value in VALUES.items():
        rpc_call(anvil.rpc, "anvil_setStorageAt", [CONTRACT, hex(slot), "0x" + _word(value).hex()])
    rpc_call(anvil.rpc, "anvil_mine", ["0x1"])
    return int(rpc_call(anvil.rpc, "eth_blockNumber"), 16)


def _reads() -> list[tuple[bytes, list[bytes]]]:
    contract_slots = [_word(s) for s in sorted(set(VALUES) | set(range(0, 600, 7)))]
    random.Random(7).shuffle(contract_slots)  # parts of any key range, in any order
    return [
        (bytes.fromhex(CONTRACT[2:]), contract_slots),
        (bytes.fromhex(EOA[2:]), [_word(0)]),
        (bytes.fromhex(ABSENT[2:]), [_word(1), _word(2)]),
        (bytes.fromhex(EOA2[2:]), []),  # the account alone: one part without keys
    ]


@pytest.fixture(scope="module")
def fetched(anvil: AnvilNode, chain: int) -> tuple[list[bytes], Parts]:
    """Header RLP and every part's answer, as a real anvil gives them."""

    async def fetch() -> tuple[list[bytes], Parts]:
        async with RpcClient(anvil.rpc) as rpc:
            header = await rpc.get_block(chain)
            parts: Parts = []
            for job, (address, slots) in enumerate(_reads()):
                calls = rpc.proof_calls(address, slots, chain, SMALL_PART)
                answers = await asyncio.gather(*(call for _, call in calls))
                parts += [(job, i, answer) for i, answer in enumerate(answers)]
        return [encode_header_json(header)], parts

    headers, parts = asyncio.run(fetch())
    assert max(p for job, p, _ in parts if job == 0) >= 4  # several parts for the contract
    return headers, parts


def _assemble(chain: int, parts: Parts, seed: int) -> ProofAssembler:
    assembler = ProofAssembler([chain] * len(_reads()))
    shuffled = list(parts)
    random.Random(seed).shuffle(shuffled)  # parts arrive in any order
    for job, part, answer in shuffled:
        assembler.add(job, part, answer)
    return assembler


def _joined(chain: int, parts: Parts) -> list[ProofAtBlock]:
    by_job: dict[int, dict[int, dict[str, Any]]] = {}
    for job, part, answer in parts:
        by_job.setdefault(job, {})[part] = answer
    return [
        ProofAtBlock(chain, merge_proof_chunks([answers[i] for i in sorted(answers)]))
        for _, answers in sorted(by_job.items())
    ]


def test_parts_in_any_order_build_the_reference_bundle(
    anvil: AnvilNode, chain: int, fetched: tuple[list[bytes], Parts]
) -> None:
    headers, parts = fetched
    reference = build_bundle(anvil.chain_id, headers, _joined(chain, parts))
    for seed in range(5):
        pending = _assemble(chain, parts, seed).finish(anvil.chain_id, headers)
        assert isinstance(pending, native.Pending)
        same_verified(pending.verify(), reference)
    contract = reference.bundle.accounts[0]
    assert contract.address.hex() == CONTRACT[2:]
    values = {int.from_bytes(s.slot, "big"): s.value for s in contract.storage}
    assert {k: v for k, v in values.items() if v} == VALUES
    for slot in (5, 18, 7):  # what anvil itself says
        word = rpc_call(anvil.rpc, "eth_getStorageAt", [CONTRACT, hex(slot), hex(chain)])
        assert values[slot] == int(word, 16)


def test_parts_of_ascending_keys_build_the_reference_bundle(anvil: AnvilNode, chain: int) -> None:
    """The indexer asks its keys in ascending order (the parts are then joined
    without sorting again): same bundle as the reference too."""
    address, slots = _reads()[0]

    async def fetch() -> tuple[list[bytes], Parts]:
        async with RpcClient(anvil.rpc) as rpc:
            header = await rpc.get_block(chain)
            calls = rpc.proof_calls(address, sorted(slots), chain, SMALL_PART)
            answers = await asyncio.gather(*(call for _, call in calls))
        return [encode_header_json(header)], [(0, i, a) for i, a in enumerate(answers)]

    headers, parts = asyncio.run(fetch())
    assembler = ProofAssembler([chain])
    for job, part, answer in reversed(parts):
        assembler.add(job, part, answer)
    pending = assembler.finish(anvil.chain_id, headers)
    assert isinstance(pending, native.Pending)
    same_verified(pending.verify(), build_bundle(anvil.chain_id, headers, _joined(chain, parts)))


def test_without_the_extension_python_builds_and_verifies(
    anvil: AnvilNode,
    chain: int,
    fetched: tuple[list[bytes], Parts],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COPROC_NATIVE", "0")
    headers, parts = fetched
    verified = _assemble(chain, parts, 0).finish(anvil.chain_id, headers)
    assert isinstance(verified, VerifiedBundle)
    same_verified(verified, build_bundle(anvil.chain_id, headers, _joined(chain, parts)))


def test_a_part_the_native_reader_does_not_take_goes_the_python_way(
    anvil: AnvilNode, chain: int, fetched: tuple[list[bytes], Parts]
) -> None:
    """JSON integers as values in one part: all of it is built and verified by
    build_bundle (an honest value passes, a lie is rejected)."""
    headers, parts = fetched
    reference = build_bundle(anvil.chain_id, headers, _joined(chain, parts))
    i = next(i for i, (job, part, _) in enumerate(parts) if job == 0 and part == 2)
    answer = copy.deepcopy(parts[i][2])
    for entry in answer["storageProof"]:
        entry["value"] = int(entry["value"], 16)
    changed = [*parts[:i], (0, 2, answer), *parts[i + 1 :]]
    verified = _assemble(chain, changed, 1).finish(anvil.chain_id, headers)
    assert isinstance(verified, VerifiedBundle)
    same_verified(verified, reference)
    answer["storageProof"][0]["value"] += 1
    with pytest.raises(VerificationError, match="claimed value"):
        _assemble(chain, changed, 1).finish(anvil.chain_id, headers)


@pytest.mark.parametrize("what", ["node", "value"])
def test_a_lie_in_one_part_is_rejected(
    anvil: AnvilNode, chain: int, fetched: tuple[list[bytes], Parts], what: str
) -> None:
    headers, parts = fetched
    i = next(i for i, (job, part, _) in enumerate(parts) if job == 0 and part == 3)
    answer = copy.deepcopy(parts[i][2])
    entry = answer["storageProof"][1]
    if what == "node":
        entry["proof"][-1] = flip_hex(entry["proof"][-1], -3)
    else:
        entry["value"] = hex(int(entry["value"], 16) + 1)
    lied = [*parts[:i], (0, 3, answer), *parts[i + 1 :]]
    with pytest.raises(VerificationError):
        prepared = _assemble(chain, lied, 2).finish(anvil.chain_id, headers)
        assert isinstance(prepared, native.Pending)
        prepared.verify()


def test_parts_disagreeing_on_the_account_are_refused(
    anvil: AnvilNode, chain: int, fetched: tuple[list[bytes], Parts]
) -> None:
    headers, parts = fetched
    i = next(i for i, (job, part, _) in enumerate(parts) if job == 0 and part == 1)
    answer = copy.deepcopy(parts[i][2])
    answer["accountProof"][0] = flip_hex(answer["accountProof"][0], 10)
    with pytest.raises(RpcError, match="disagree on the account proof"):
        _assemble(chain, [*parts[:i], (0, 1, answer), *parts[i + 1 :]], 3).finish(
            anvil.chain_id, headers
        )


def test_a_missing_or_repeated_part_is_an_error(
    anvil: AnvilNode, chain: int, fetched: tuple[list[bytes], Parts]
) -> None:
    headers, parts = fetched
    assembler = _assemble(chain, [p for p in parts if (p[0], p[1]) != (0, 1)], 4)
    with pytest.raises(ValueError, match="parts missing"):
        assembler.finish(anvil.chain_id, headers)
    job, part, answer = parts[0]
    with pytest.raises(ValueError, match="added twice"):
        assembler.add(job, part, answer)


# ----------------------------------------------------------------------------- index_block


@pytest.fixture
def proxy(anvil: AnvilNode) -> Iterator[LyingProxy]:
    with LyingProxy(anvil.rpc) as p:
        yield p


def _index(url: str, block: int, store: Store) -> Any:
    read = Read(bytes.fromhex(CONTRACT[2:]), tuple(_word(s) for s in range(SLOTS)))

    async def run() -> Any:
        async with RpcClient(url, retries=0) as rpc:
            return await index_block(rpc, store, block, [read])

    return asyncio.run(run())


def _in_last_part(lie: Any) -> Any:
    """Apply ``lie`` to the answer of the part asking the highest keys only."""
    last = "0x" + _word(SLOTS - 1).hex()

    def fn(result: Any, params: list[Any]) -> Any:
        return lie(result) if last in params[1] else result

    return fn


def test_index_block_asks_in_parts_and_stores_the_reference_rows(
    anvil: AnvilNode, chain: int, proxy: LyingProxy, tmp_path: Path
) -> None:
    store = Store(tmp_path / "s.sqlite")
    verified = _index(proxy.url, chain, store)
    asked = [
        len(p["params"][1])
        for p in proxy.requests
        if isinstance(p, dict) and p["method"] == "eth_getProof"
    ]
    assert sorted(asked) == [SLOTS - 2 * KEYS_PER_CALL, KEYS_PER_CALL, KEYS_PER_CALL]
    (read,) = verified.bundle.accounts
    assert len(read.storage) == SLOTS
    assert {int.from_bytes(s.slot, "big"): s.value for s in read.storage if s.value} == {
        k: v for k, v in VALUES.items() if k < SLOTS
    }
    nodes = set(store.db.conn.execute("SELECT hash, rlp FROM nodes").fetchall())
    assert nodes == {(keccak256(n), n) for n in verified.bundle.nodes}
    assert store.counts()["slots"] == SLOTS
    store.close()


@pytest.mark.parametrize(
    "lie",
    [
        lambda r: {
            **r,
            "storageProof": [{**r["storageProof"][0], "value": "0x5"}, *r["storageProof"][1:]],
        },
        lambda r: {
            **r,
            "storageProof": [
                {**e, "proof": [*e["proof"][:-1], flip_hex(e["proof"][-1], 7)]}
                for e in r["storageProof"]
            ],
        },
        lambda r: {**r, "storageProof": r["storageProof"][1:]},
        lambda r: {**r, "balance": "0x1"},
    ],
    ids=["value", "node", "dropped-key", "account-field"],
)
def test_a_lie_in_the_last_part_stores_nothing(
    anvil: AnvilNode, chain: int, proxy: LyingProxy, tmp_path: Path, lie: Any
) -> None:
    proxy.rule = mutate("eth_getProof", _in_last_part(lie))
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises((VerificationError, RpcError)):
        _index(proxy.url, chain, store)
    assert proxy.lies == 1
    store.close()
    assert set(stored_rows(tmp_path / "s.sqlite").values()) == {0}


@pytest.mark.parametrize("layout", ["ascending", "shuffled", "overlapping"])
def test_joined_parts_keep_claims_and_reads_in_step(layout: str) -> None:
    """What is verified (the claims) and what is emitted (the StorageReads) are the
    same sequence, sorted by slot, whichever way the parts' key ranges fall."""
    rng = random.Random(layout)
    slots = sorted(rng.sample(range(10_000), 60))
    if layout == "overlapping":
        slots += slots[:5]  # a key asked twice, in two parts
    if layout != "ascending":
        rng.shuffle(slots)
    parts = {}
    for i in range(0, len(slots), 9):
        claims = sorted((_word(s), keccak256(_word(s)), _word(s * 3)) for s in slots[i : i + 9])
        parts[i // 9] = (claims, native.storage_reads(claims))
    claims, reads, _ = join_parts(dict(reversed(parts.items())), {})
    assert [c[0] for c in claims] == sorted(_word(s) for s in slots)
    assert [(r.slot, r.key, _word(r.value)) for r in reads] == claims


def test_anchor_above_head_is_a_user_error(anvil: AnvilNode, chain: int, tmp_path: Path) -> None:
    """index_block asks the head only when a header is missing: an anchor above it
    is still the user's error, named as such, with nothing stored."""
    head = int(rpc_call(anvil.rpc, "eth_blockNumber"), 16)
    store = Store(tmp_path / "s.sqlite")

    async def run() -> Any:
        async with RpcClient(anvil.rpc) as rpc:
            read = Read(bytes.fromhex(CONTRACT[2:]), (_word(5),))
            return await index_block(rpc, store, chain, [read], ancestors=head - chain + 5)

    with pytest.raises(UserInputError, match=f"anchor block {head + 5} is above head {head}"):
        asyncio.run(run())
    store.close()
    assert set(stored_rows(tmp_path / "s.sqlite").values()) == {0}
