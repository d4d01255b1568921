"""The indexer's fast reader of ``eth_getProof`` answers (``coproc_native.proof_part``,
``ProofAssembler.reader``) against the Python way of reading the same HTTP body
(``json.loads``, the client's envelope checks, ``_check_answer_matches`` and
``storage_claims``), on real anvil answers and on mutations of them: whatever the fast
reader takes, the Python way takes too and reads the same; whatever it does not take
goes the Python way (which names the fault)."""

from __future__ import annotations

import asyncio
import json
import random
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coprocessor.chain import native
from coprocessor.chain.bundle import ProofAtBlock, VerifiedBundle, build_bundle
from coprocessor.chain.headers import encode_header_json
from coprocessor.dev.devnet import AnvilNode, rpc_call
from coprocessor.errors import CoprocessorError, VerificationError
from coprocessor.index.assembler import NativePart, ProofAssembler
from coprocessor.index.indexer import IndexStats, Read, _check_answer_matches, index_block
from coprocessor.index.rpc import RpcClient, _result_of, merge_proof_chunks
from coprocessor.index.store import Store

CONTRACT = "0x00000000000000000000000000000000c0ffee0b"
EOA = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"  # anvil dev account #1
#: 12 keys of which 6 hold values: proofs of inclusion and of absence
SLOTS = [(i * 5 + 1).to_bytes(32, "big") for i in range(12)]
REQUEST_ID = 41

mod = native.module()
pytestmark = pytest.mark.skipif(mod is None, reason="coproc_native is not built")


@pytest.fixture(scope="module")
def block(anvil: AnvilNode) -> int:
    for i, slot in enumerate(SLOTS[::2]):
        word = (i + 1000).to_bytes(32, "big")
        rpc_call(anvil.rpc, "anvil_setStorageAt", [CONTRACT, "0x" + slot.hex(), "0x" + word.hex()])
    rpc_call(anvil.rpc, "anvil_mine", ["0x1"])
    return int(rpc_call(anvil.rpc, "eth_blockNumber"), 16)


def _body(anvil: AnvilNode, address: str, slots: list[bytes], block: int) -> bytes:
    """The HTTP body anvil answers, byte for byte, as the client asks it."""
    payload = {
        "jsonrpc": "2.0",
        "id": REQUEST_ID,
        "method": "eth_getProof",
        "params": [address, ["0x" + s.hex() for s in slots], hex(block)],
    }
    request = urllib.request.Request(
        anvil.rpc, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body: bytes = response.read()
    return body


@pytest.fixture(scope="module")
def bodies(anvil: AnvilNode, block: int) -> dict[str, tuple[bytes, bytes, list[bytes]]]:
    """name: (body, address, slots) for a contract with slots, an EOA without."""
    return {
        "contract": (_body(anvil, CONTRACT, SLOTS, block), bytes.fromhex(CONTRACT[2:]), SLOTS),
        "eoa": (_body(anvil, EOA, [], block), bytes.fromhex(EOA[2:]), []),
    }


def _fast(body: bytes, request_id: int, address: bytes, slots: list[bytes]) -> Any:
    assert mod is not None
    pool: dict[bytes, bytes] = {}
    got = mod.proof_part(body, request_id, "0x" + address.hex(), b"".join(slots), pool)
    if got is None:
        assert pool == {}  # untouched when the answer is not taken
        return None
    account, claims = got
    return json.loads(account), claims, pool


def _python(body: bytes, request_id: int, address: bytes, slots: list[bytes]) -> Any:
    """The Python way, as the client and the indexer read an answer; None when it
    refuses (or leaves the answer to the Python bundle builder)."""
    assert mod is not None
    try:
        result = _result_of(json.loads(body), request_id, "eth_getProof")
        if not isinstance(result, dict):
            return None
        _check_answer_matches(Read(address, tuple(slots)), slots, result)
        pool: dict[bytes, bytes] = {}
        claims = mod.storage_claims(result.get("storageProof", []), pool)
    except (ValueError, CoprocessorError, mod.NativeError, TypeError):
        return None
    return {k: v for k, v in result.items() if k != "storageProof"}, claims, pool


def test_real_answers_are_read_alike(bodies: dict[str, tuple[bytes, bytes, list[bytes]]]) -> None:
    for name, (body, address, slots) in bodies.items():
        fast = _fast(body, REQUEST_ID, address, slots)
        assert fast is not None, name  # the fast path is taken for what nodes send
        assert fast == _python(body, REQUEST_ID, address, slots), name
    body, address, slots = bodies["contract"]
    account, claims, pool = _fast(body, REQUEST_ID, address, slots)
    assert [c[0] for c in claims] == SLOTS
    assert sum(1 for c in claims if any(c[2])) == 6
    assert len(pool) > 3
    assert account["address"].lower() == CONTRACT


def _structural(rng: random.Random, body: bytes) -> bytes:
    """A JSON-level change of the kind a lying or odd node makes."""
    try:
        answer = json.loads(body)
        result = answer["result"]
        entries = result["storageProof"]
        assert isinstance(entries, list) and all(isinstance(e, dict) for e in entries)
    except (ValueError, TypeError, KeyError, AssertionError):
        return body  # an earlier change left no such JSON: nothing to change here
    choice = rng.randrange(14)
    if choice == 0:
        answer["id"] = REQUEST_ID + 1
    elif choice == 1:
        answer["error"] = {"code": -32000, "message": "no"}
    elif choice == 2:
        answer["error"] = None
    elif choice == 3:
        result["extra"] = "0x1"
    elif choice == 4:
        del result[rng.choice(sorted(result))]
    elif choice == 5 and len(entries) > 1:
        i, j = rng.sample(range(len(entries)), 2)
        entries[i], entries[j] = entries[j], entries[i]
    elif choice == 6 and entries:
        entries[rng.randrange(len(entries))]["key"] = entries[0]["key"].upper().replace("0X", "0x")
    elif choice == 7 and entries:
        entry = entries[rng.randrange(len(entries))]
        entry["key"] = "0x" + entry["key"][2:].lstrip("0")
    elif choice == 8 and entries:
        entries[rng.randrange(len(entries))]["value"] = rng.choice([7, "0x", "7", "0x" + "f" * 65])
    elif choice == 9 and entries:
        del entries[rng.randrange(len(entries))]
    elif choice == 10 and entries:
        entries.append(dict(entries[0]))
    elif choice == 11 and isinstance(result.get("address"), str):
        result["address"] = result["address"].upper().replace("0X", "0x")
    elif choice == 12:
        answer["result"] = rng.choice([None, [], "0x"])
    else:
        text = json.dumps(answer, indent=rng.choice([None, 1]), sort_keys=rng.random() < 0.5)
        return text.encode()
    return json.dumps(answer).encode()


def _bytewise(rng: random.Random, body: bytes) -> bytes:
    """A change of one byte anywhere: a flip, a deletion or an insertion."""
    i = rng.randrange(len(body))
    byte = rng.choice(b'0123456789abcdefABCDEFxX"{}[],: \\u\x00\xff')
    kind = rng.randrange(3)
    if kind == 0:
        return body[:i] + bytes([byte]) + body[i + 1 :]
    if kind == 1:
        return body[:i] + body[i + 1 :]
    return body[:i] + bytes([byte]) + body[i:]


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(["contract", "eoa"]))
def test_mutated_answers_never_read_differently(
    bodies: dict[str, tuple[bytes, bytes, list[bytes]]], seed: int, name: str
) -> None:
    rng = random.Random(seed)
    body, address, slots = bodies[name]
    for _ in range(rng.randrange(1, 3)):
        body = (_structural if rng.random() < 0.5 else _bytewise)(rng, body)
    fast = _fast(body, REQUEST_ID, address, slots)
    if fast is not None:
        assert fast == _python(body, REQUEST_ID, address, slots)


def test_answers_for_another_request_or_account_are_not_taken(
    bodies: dict[str, tuple[bytes, bytes, list[bytes]]],
) -> None:
    body, address, slots = bodies["contract"]
    assert _fast(body, REQUEST_ID + 1, address, slots) is None
    assert _fast(body, REQUEST_ID, bytes.fromhex(EOA[2:]), slots) is None
    assert _fast(body, REQUEST_ID, address, slots[:-1]) is None
    assert _fast(body, REQUEST_ID, address, [slots[1], slots[0], *slots[2:]]) is None


def test_index_block_reads_every_part_natively(
    anvil: AnvilNode, block: int, tmp_path: Path
) -> None:
    """Against a real node the fast path is the path taken (and stores what anvil
    says)."""
    read = Read(bytes.fromhex(CONTRACT[2:]), tuple(SLOTS))
    stats = IndexStats()
    store = Store(tmp_path / "s.sqlite")

    async def run() -> Any:
        async with RpcClient(anvil.rpc) as rpc:
            return await index_block(rpc, store, block, [read], stats=stats)

    verified = asyncio.run(run())
    store.close()
    assert stats.extra["parts_read_natively"] == 1
    assert stats.extra.get("parts_read_by_python", 0) == 0
    for entry in verified.bundle.accounts[0].storage:
        word = rpc_call(
            anvil.rpc, "eth_getStorageAt", [CONTRACT, "0x" + entry.slot.hex(), hex(block)]
        )
        assert entry.value == int(word, 16)


def test_a_part_left_to_python_is_checked_there(
    bodies: dict[str, tuple[bytes, bytes, list[bytes]]],
) -> None:
    """An answer for other keys than asked: not taken by the fast reader, and the
    Python way names the fault."""
    body, address, slots = bodies["contract"]
    answer = json.loads(body)
    answer["result"]["storageProof"][0]["key"] = "0x" + "ab" * 32
    lied = json.dumps(answer).encode()
    assert _fast(lied, REQUEST_ID, address, slots) is None
    with pytest.raises(CoprocessorError, match="other keys than asked"):
        _check_answer_matches(Read(address, tuple(slots)), slots, json.loads(lied)["result"])


# ----------------------------------------------------------------------------- assembler


def _parts(anvil: AnvilNode, block: int) -> list[bytes]:
    """The contract's keys asked in two parts (6 keys each): their answer bodies."""
    return [_body(anvil, CONTRACT, SLOTS[i : i + 6], block) for i in (0, 6)]


def _reference(anvil: AnvilNode, block: int, bodies: list[bytes]) -> VerifiedBundle:
    header = encode_header_json(rpc_call(anvil.rpc, "eth_getBlockByNumber", [hex(block), False]))
    answers = [json.loads(body)["result"] for body in bodies]
    return build_bundle(
        anvil.chain_id, [header], [ProofAtBlock(block, merge_proof_chunks(answers))]
    )


def _assembled(anvil: AnvilNode, block: int, parts: list[Any]) -> Any:
    header = encode_header_json(rpc_call(anvil.rpc, "eth_getBlockByNumber", [hex(block), False]))
    assembler = ProofAssembler([block])
    read = assembler.reader(0, bytes.fromhex(CONTRACT[2:]))
    assert read is not None
    for i, part in enumerate(parts):
        if isinstance(part, bytes):  # a body: through the reader, which must take it
            got = read(part, REQUEST_ID, tuple(SLOTS[6 * i : 6 * i + 6]))
            assert isinstance(got, NativePart)
            assembler.add(0, i, got)
        else:
            assembler.add(0, i, part)
    prepared = assembler.finish(anvil.chain_id, [header])
    verified = prepared.verify() if isinstance(prepared, native.Pending) else prepared
    return prepared, verified


def test_parts_read_in_rust_build_the_reference_bundle(anvil: AnvilNode, block: int) -> None:
    bodies = _parts(anvil, block)
    reference = _reference(anvil, block, bodies)
    prepared, verified = _assembled(anvil, block, bodies)
    assert isinstance(prepared, native.Pending)  # built from the parts read in Rust
    assert verified.bundle == reference.bundle
    assert verified.to_json() == reference.to_json()


def test_a_part_python_reads_sends_all_parts_the_python_way(anvil: AnvilNode, block: int) -> None:
    """One part read in Rust, the other with JSON integers as values (which only the
    Python builder takes): the whole bundle is built by Python from both answers, the
    Rust part decoded from its body."""
    bodies = _parts(anvil, block)
    reference = _reference(anvil, block, bodies)
    second = json.loads(bodies[1])["result"]
    for entry in second["storageProof"]:
        entry["value"] = int(entry["value"], 16)
    prepared, verified = _assembled(anvil, block, [bodies[0], second])
    assert isinstance(prepared, VerifiedBundle)  # built and verified by Python
    assert verified.bundle == reference.bundle


def test_a_lie_in_a_part_read_in_rust_is_rejected(anvil: AnvilNode, block: int) -> None:
    """A value the proof does not prove, in a well-formed body the reader takes: the
    Rust core rejects the bundle, and the Python reference names the slot."""
    bodies = _parts(anvil, block)
    answer = json.loads(bodies[1])
    answer["result"]["storageProof"][0]["value"] = "0x2a"
    with pytest.raises(VerificationError, match="claimed value"):
        _assembled(anvil, block, [bodies[0], json.dumps(answer).encode()])
