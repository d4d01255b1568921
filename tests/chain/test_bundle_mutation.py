"""Mutation tests of bundle v1 (docs/formats.md §1): ANY single-character change to
any 0x-hex string of a real bundle makes ``verify_bundle`` raise CoprocessorError,
and so does reordering, duplicating, dropping or adding a trie node. Each rejection
carries the code (docs/formats.md §6) of a rule that covers the changed value: the
expected codes follow from what was changed, not from the code under test.

Two real bundles: one indexed from anvil (an account with several slots including an
empty one, an EOA with empty storage, an absent account, three headers = 2
ancestors) and one built from mainnet block 21,925,176 (shared vectors).
Each is checked by hypothesis (random position and replacement character, fixed
seed) and by an exhaustive sweep (every hex digit of every string changed once).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_paths import Path_, hex_strings, replaced

from coprocessor.chain.bundle import ProofAtBlock, build_bundle, verify_bundle
from coprocessor.chain.headers import encode_header_json
from coprocessor.chain.keccak import keccak256
from coprocessor.dev.devnet import AnvilNode, rpc_call
from coprocessor.errors import CoprocessorError
from coprocessor.index.indexer import Read, index_block
from coprocessor.index.rpc import RpcClient
from coprocessor.index.store import Store

CONTRACT = "0x00000000000000000000000000000000c0ffee02"
EOA = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"  # anvil dev account #1
ABSENT = "0x00000000000000000000000000000000deadbee2"
VALUES = {0: 1, 1: 0xFF, 2: 2**256 - 1, 7: 0x1234, 0x20: 9, 2**160 + 3: 77}
READ_SLOTS = [0, 1, 2, 4, 7, 0x20, 2**160 + 3]  # slot 4 is empty


def rejected_in_place(obj: Any, path: Path_, value: Any) -> str | None:
    """Like ``rejection(replaced(...))`` without copying the bundle (the sweep's speed)."""
    target = obj
    for key in path[:-1]:
        target = target[key]
    original = target[path[-1]]
    target[path[-1]] = value
    try:
        return rejection(obj)
    finally:
        target[path[-1]] = original


def rejection(obj: Any) -> str | None:
    """The rule code verification rejects ``obj`` with; None if it verifies. A rejection
    without a code fails the test (every rule of the format has one)."""
    try:
        verify_bundle(obj)
    except CoprocessorError as exc:
        assert exc.code is not None, f"rejected without a rule code: {exc}"
        return exc.code
    return None


def rejected(obj: Any) -> bool:
    return rejection(obj) is not None


#: codes a changed header may break: its decoding (RLP, shape, field sizes), the chain
#: links (its number or hash), or the anchor (if it is the last header)
HEADER_CODES = {"R001", "H001", "H002", "H003", "H004", "B008", "B009"}
#: a changed node hashes elsewhere: the pool order breaks, or a walk misses the node
NODE_CODES = {"B017", "T001"}
HEX_CODE = "B005"  # rule 6: lowercase 0x-hex, sizes, canonical quantities


def expected_codes(path: Path_, pos: int, new: str) -> set[str]:
    """The codes a bundle with ``new`` at ``pos`` of the string at ``path`` may be
    rejected with (formats.md §1 and §6): what the changed value is covered by."""
    if pos < 2 or new not in HEX:
        return {HEX_CODE}
    last = path[-1]
    if path[0] == "headers":
        return HEADER_CODES
    if path[0] == "nodes":
        return NODE_CODES
    if path == ("anchor", "hash"):
        return {"B008"}
    if last in ("address", "address_hash"):
        return {"B012"}
    if last in ("slot", "slot_hash"):
        return {"B014"}
    # quantities: a leading digit changed to 0 is non-canonical
    leading = {HEX_CODE} if pos == 2 and new == "0" else set()
    if last == "value":
        return {"B016"} | leading
    assert path[-2] == "account", path
    return {"B013"} | leading


def slot_hex(slot: int) -> str:
    return "0x" + slot.to_bytes(32, "big").hex()


@pytest.fixture(scope="module")
def anvil_bundle(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    for slot, value in VALUES.items():
        rpc_call(anvil.rpc, "anvil_setStorageAt", [CONTRACT, slot_hex(slot), slot_hex(value)])
    rpc_call(anvil.rpc, "anvil_setNonce", [CONTRACT, "0x3"])
    rpc_call(anvil.rpc, "anvil_mine", ["0x3"])
    block = int(rpc_call(anvil.rpc, "eth_blockNumber"), 16) - 2

    def slots(*numbers: int) -> tuple[bytes, ...]:
        return tuple(n.to_bytes(32, "big") for n in numbers)

    reads = [
        Read(bytes.fromhex(ABSENT[2:]), slots(1)),
        Read(bytes.fromhex(EOA[2:]), slots(0)),
        Read(bytes.fromhex(CONTRACT[2:]), slots(*READ_SLOTS)),
    ]
    store = Store(tmp_path_factory.mktemp("mutation") / "store.sqlite")

    async def index() -> Any:
        async with RpcClient(anvil.rpc) as rpc:
            return await index_block(rpc, store, block, reads, ancestors=2)

    try:
        verified = asyncio.run(index())
    finally:
        store.close()
    bundle = verified.bundle.to_json()
    # the bundle is what anvil says (independent of the code under test)
    assert len(bundle["headers"]) == 3
    by_address = {a["address"]: a for a in bundle["accounts"]}
    assert by_address[ABSENT]["account"] is None
    assert by_address[EOA]["account"]["storage_root"] == "0x" + keccak256(b"\x80").hex()
    contract = by_address[CONTRACT]
    assert contract["account"]["nonce"] == "0x3"
    for entry in contract["storage"]:
        word = rpc_call(anvil.rpc, "eth_getStorageAt", [CONTRACT, entry["slot"], hex(block)])
        assert int(entry["value"], 16) == int(word, 16) == VALUES.get(int(entry["slot"], 16), 0)
    assert len(contract["storage"]) == len(READ_SLOTS)
    return dict(bundle)


@pytest.fixture(scope="module")
def mainnet_bundle(shared_vectors: Path) -> dict[str, Any]:
    header = json.loads((shared_vectors / "headers" / "cancun_21925176.json").read_text())
    raw = encode_header_json(header)
    assert "0x" + keccak256(raw).hex() == header["hash"]
    proofs = [
        json.loads(p.read_text())
        for p in sorted((shared_vectors / "proofs").glob("cancun_21925176_*.json"))
    ]
    assert len(proofs) == 2
    verified = build_bundle(1, [raw], [ProofAtBlock(21925176, p["proof"]) for p in proofs])
    bundle = verified.bundle.to_json()
    assert bundle["anchor"]["hash"] == header["hash"]
    balances = {p["proof"]["address"].lower(): int(p["proof"]["balance"], 16) for p in proofs}
    assert {a["address"]: int(a["account"]["balance"], 16) for a in bundle["accounts"]} == balances
    return bundle


@pytest.fixture(params=["anvil", "mainnet"])
def bundle(request: pytest.FixtureRequest) -> dict[str, Any]:
    obj: dict[str, Any] = request.getfixturevalue(f"{request.param}_bundle")
    verify_bundle(obj)  # the unmutated bundle verifies
    return obj


HEX = "0123456789abcdef"
OTHER_CHARS = "ABCDEFXg z\u00e9\x00-"


@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_single_character_change_is_rejected(bundle: dict[str, Any], data: Any) -> None:
    strings = list(hex_strings(bundle))
    path, text = data.draw(st.sampled_from(strings), label="string")
    pos = data.draw(st.integers(0, len(text) - 1), label="position")
    new = data.draw(
        st.sampled_from(HEX + OTHER_CHARS).filter(lambda c: c != text[pos]), label="char"
    )
    mutated = text[:pos] + new + text[pos + 1 :]
    code = rejection(replaced(bundle, path, mutated))
    assert code in expected_codes(path, pos, new), (path, pos, text[pos], new, code)


def test_every_hex_digit_change_is_rejected(bundle: dict[str, Any]) -> None:
    """Each digit of each string changed to the next hex digit: every digit of short
    strings, every third digit of long ones (header and node RLP; the offset rotates
    so that each digit position mod 3 is hit), to keep the run short."""
    wrong = []
    count = 0
    seen: set[str] = set()
    for n, (path, text) in enumerate(hex_strings(bundle)):
        step = 3 if len(text) > 200 else 1
        for pos in range(2 + n % step, len(text), step):
            new = HEX[(HEX.index(text[pos]) + 1) % 16]
            count += 1
            code = rejected_in_place(bundle, path, text[:pos] + new + text[pos + 1 :])
            seen.add(str(code))
            if code not in expected_codes(path, pos, new):
                wrong.append((path, pos, code))
    assert count > 1000
    assert wrong == []
    # the sweep reaches the rules of every part of the bundle
    assert {"B008", "B012", "B013", "B014", "B016", "B017"} <= seen, seen
    assert "H004" in seen or len(bundle["headers"]) == 1
    verify_bundle(bundle)  # restored


def test_nodes_reordered_duplicated_or_dropped_are_rejected(bundle: dict[str, Any]) -> None:
    nodes = bundle["nodes"]
    assert len(nodes) >= 3
    for i in range(len(nodes) - 1):
        swapped = [*nodes[:i], nodes[i + 1], nodes[i], *nodes[i + 2 :]]
        assert rejection(replaced(bundle, ("nodes",), swapped)) == "B017", f"swap {i}"
    assert rejection(replaced(bundle, ("nodes",), nodes[::-1])) == "B017"
    for i in range(len(nodes)):
        duplicated = [*nodes[: i + 1], nodes[i], *nodes[i + 1 :]]
        assert rejection(replaced(bundle, ("nodes",), duplicated)) == "B017", f"duplicate {i}"
        dropped = nodes[:i] + nodes[i + 1 :]
        assert rejection(replaced(bundle, ("nodes",), dropped)) == "T001", f"drop {i}"


def test_extra_unused_node_is_rejected(
    bundle: dict[str, Any], anvil_bundle: dict[str, Any], mainnet_bundle: dict[str, Any]
) -> None:
    """A valid trie node from the other bundle, inserted in hash order (so only the
    "every node is used" rule can catch it)."""
    other = mainnet_bundle if bundle is anvil_bundle else anvil_bundle
    nodes = bundle["nodes"]
    for extra in (other["nodes"][0], other["nodes"][-1]):
        assert extra not in nodes
        ordered = sorted([*nodes, extra], key=lambda n: keccak256(bytes.fromhex(n[2:])))
        assert rejection(replaced(bundle, ("nodes",), ordered)) == "B019"


def test_headers_reordered_or_dropped_are_rejected(anvil_bundle: dict[str, Any]) -> None:
    headers = anvil_bundle["headers"]
    assert rejection(replaced(anvil_bundle, ("headers",), headers[::-1])) == "H003"
    assert rejection(replaced(anvil_bundle, ("headers",), [headers[0], headers[2]])) == "H003"
    # anchor dropped
    assert rejection(replaced(anvil_bundle, ("headers",), headers[:2])) == "B008"
    assert rejection(replaced(anvil_bundle, ("headers",), [*headers, headers[2]])) == "H003"
    assert rejection(replaced(anvil_bundle, ("headers",), [])) == "B007"


def all_paths(obj: Any, path: Path_ = ()) -> Iterator[Path_]:
    """Every path of a JSON value (containers and leaves), the root excluded."""
    if path:
        yield path
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from all_paths(value, (*path, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from all_paths(value, (*path, i))


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.sampled_from(["0x", "0x0", "0x00", "0X1", "0x" + "00" * 32, "0x" + "11" * 20]),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["hash", "number", "proof"]), st.integers(0, 3), max_size=2),
)


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_value_of_another_type_is_a_clear_error(bundle: dict[str, Any], data: Any) -> None:
    """Structural damage (any value, container or leaf, replaced by another JSON
    value, or a key removed) is a CoprocessorError, never another exception."""
    paths = list(all_paths(bundle))
    path = data.draw(st.sampled_from(paths), label="path")
    if data.draw(st.booleans(), label="remove") and isinstance(path[-1], str):
        mutated = copy.deepcopy(bundle)
        target = mutated
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    else:
        mutated = replaced(bundle, path, data.draw(JSON_VALUES, label="value"))
    try:
        verified = verify_bundle(mutated)
    except CoprocessorError as exc:
        assert exc.code is not None, exc  # every rejection names its rule
        return
    assert_still_true(bundle, mutated, path, verified)


def assert_still_true(bundle: dict[str, Any], mutated: Any, path: Path_, verified: Any) -> None:
    """What may verify after a change: nothing changed, or a change the format says
    is not provable (``chain_id``, rule 5), or a read moved to another block of the
    chain with the same state root (then its claims are true there too)."""
    if mutated == bundle or path == ("chain_id",):
        return
    assert len(path) == 3 and path[0] == "accounts" and path[2] == "block", path
    original = verify_bundle(bundle)
    old_block = bundle["accounts"][path[1]]["block"]
    new_block = mutated["accounts"][path[1]]["block"]
    assert verified.header(new_block).state_root == original.header(old_block).state_root


@pytest.mark.parametrize("field", ["chain_id", "block"])
def test_unprovable_or_equivalent_integer_changes(anvil_bundle: dict[str, Any], field: str) -> None:
    """The two integers verification cannot pin: chain_id (rule 5: the contract
    checks it; only its uint64 range is enforced) and a read's block when a
    neighbouring block has the same state root. Every other value is rejected."""
    path: Path_ = ("chain_id",) if field == "chain_id" else ("accounts", 0, "block")
    numbers = [h.number for h in verify_bundle(anvil_bundle).headers]
    for value in [0, 1, 5, 31337, 2**64, *numbers, max(numbers) + 1]:
        mutated = replaced(anvil_bundle, path, value)
        try:
            verified = verify_bundle(mutated)
        except CoprocessorError as exc:
            if field == "chain_id":
                assert value >= 2**64  # journal v1's uint64 (rule 5)
                assert exc.code == "B006"
            else:
                assert value != anvil_bundle["accounts"][0]["block"]
                # not a header's block, or the claims do not hold at that block
                assert exc.code in {"B010", "T001", "B013", "B019"}, exc
            continue
        assert_still_true(anvil_bundle, mutated, path, verified)


@pytest.mark.parametrize("version", [True, 1.0, "1", [1], 2, 0])
def test_version_must_be_the_integer_1(anvil_bundle: dict[str, Any], version: Any) -> None:
    """JSON ``true`` and ``1.0`` equal 1 in Python but are not the version 1."""
    assert rejection(replaced(anvil_bundle, ("version",), version)) == "B002"


def test_an_extra_key_anywhere_is_rejected(bundle: dict[str, Any]) -> None:
    """Unknown keys carry data no verification covers (the Rust reader refuses them
    too): added to any object of the bundle, they are rejected."""
    objects: list[Path_] = [()]
    objects += [p for p in all_paths(bundle) if isinstance(_at(bundle, p), dict)]
    assert len(objects) >= 6
    for path in objects:
        mutated = copy.deepcopy(bundle)
        _at(mutated, path)["note"] = "0x00"
        assert rejection(mutated) == "B003", path


def _at(obj: Any, path: Path_) -> Any:
    for key in path:
        obj = obj[key]
    return obj


@pytest.mark.parametrize(
    ("path", "value", "message", "code"),
    [
        (("accounts", 0, "storage", 1, "value"), "0x0ff", "leading zeros", "B005"),
        (("accounts", 0, "storage", 1, "value"), "0x", "empty quantity", "B005"),
        (("accounts", 0, "storage", 1, "value"), "0x1" + "0" * 64, "more than 256 bits", "B005"),
        (("accounts", 0, "storage", 1, "slot"), "0x" + "00" * 31, "expected 32 bytes", "B005"),
        (("accounts", 0, "storage", 1, "slot_hash"), "0x" + "ab" * 32, "slot_hash is", "B014"),
        (("accounts", 0, "storage", 1, "value"), "0xFF", "not lowercase 0x-hex", "B005"),
        (("nodes", 3), "0xabc", "odd number of hex digits", "B005"),
        (("nodes", 3), "0XABCD", "not lowercase 0x-hex", "B005"),
        (("headers", 0), "0x1", "odd number of hex digits", "B005"),
    ],
)
def test_a_malformed_string_is_named_where_it_is(
    anvil_bundle: dict[str, Any], path: Path_, value: str, message: str, code: str
) -> None:
    """The parser's fast paths (plainly well-formed entries, nodes and headers) leave
    anything else to the checks that name the place and the fault."""
    where = {
        "value": "accounts[0].storage[1]",
        "slot": "accounts[0].storage[1]",
        "slot_hash": "accounts[0].storage[1]",
        3: "nodes[3]",
        0: "headers[0]",
    }[path[-1]]
    with pytest.raises(CoprocessorError) as caught:
        verify_bundle(replaced(anvil_bundle, path, value))
    text = str(caught.value)
    assert message in text
    assert where in text
    assert caught.value.code == code and text.startswith(f"[{code}] ")
