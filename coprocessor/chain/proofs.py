"""EIP-1186 account and storage proofs (``eth_getProof``).

Two verifiers with one result: :func:`verify_proof_response` checks one
``eth_getProof`` answer with the ``trie`` package (``HexaryTrie.get_from_proof``,
the reference), and ``bundle.py`` walks a shared node pool (``mpt.NodePool``,
each node hashed once). Tests assert they agree on every vector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rlp.exceptions import DecodingError
from trie.exceptions import BadTrieProof
from trie.hexary import HexaryTrie

from coprocessor.chain.hexutil import hexstr, quantity, to_bytes
from coprocessor.chain.keccak import keccak256
from coprocessor.chain.rlpdepth import decode_bounded
from coprocessor.errors import UserInputError, VerificationError


@dataclass(frozen=True)
class Account:
    """The four fields of an account leaf in the state trie."""

    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes

    def to_json(self) -> dict[str, str]:
        """Bundle / verify-bundle JSON form."""
        return {
            "nonce": quantity(self.nonce),
            "balance": quantity(self.balance),
            "storage_root": hexstr(self.storage_root),
            "code_hash": hexstr(self.code_hash),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], where: str) -> Account:
        """Parse the bundle JSON form (strict quantities, exact sizes)."""
        from coprocessor.chain.hexutil import to_quantity

        if not isinstance(obj, Mapping):
            raise UserInputError(f"{where}: expected an object")
        return cls(
            nonce=to_quantity(obj.get("nonce"), f"{where}.nonce"),
            balance=to_quantity(obj.get("balance"), f"{where}.balance"),
            storage_root=to_bytes(obj.get("storage_root"), f"{where}.storage_root", 32),
            code_hash=to_bytes(obj.get("code_hash"), f"{where}.code_hash", 32),
        )


def _canonical_int(raw: object, what: str, rule: str) -> int:
    if not isinstance(raw, bytes) or raw[:1] == b"\x00" or len(raw) > 32:
        raise VerificationError(f"{what}: not a canonical integer", rule=rule)
    return int.from_bytes(raw, "big")


_ACCOUNT = "account_leaf"


def decode_account(leaf: bytes, where: str) -> Account:
    """Decode an account leaf value: ``rlp([nonce, balance, storageRoot, codeHash])``."""
    try:
        items = decode_bounded(leaf, where)
    except DecodingError as exc:
        raise VerificationError(
            f"{where}: account leaf is not valid RLP ({exc})", rule="rlp_canonical"
        ) from None
    if not isinstance(items, list) or len(items) != 4:
        raise VerificationError(f"{where}: account leaf does not have 4 fields", rule=_ACCOUNT)
    nonce_raw, balance_raw, storage_root, code_hash = items
    if not (isinstance(storage_root, bytes) and len(storage_root) == 32):
        raise VerificationError(f"{where}: account storageRoot is not 32 bytes", rule=_ACCOUNT)
    if not (isinstance(code_hash, bytes) and len(code_hash) == 32):
        raise VerificationError(f"{where}: account codeHash is not 32 bytes", rule=_ACCOUNT)
    return Account(
        nonce=_canonical_int(nonce_raw, f"{where}: nonce", _ACCOUNT),
        balance=_canonical_int(balance_raw, f"{where}: balance", _ACCOUNT),
        storage_root=storage_root,
        code_hash=code_hash,
    )


def decode_storage_value(leaf: bytes | None, where: str) -> int:
    """A storage leaf holds ``rlp(value)`` with the value's minimal big-endian bytes;
    an absent leaf is zero. A stored zero is never a leaf."""
    if leaf is None:
        return 0
    try:
        raw = decode_bounded(leaf, where)
    except DecodingError as exc:
        raise VerificationError(
            f"{where}: storage leaf is not valid RLP ({exc})", rule="rlp_canonical"
        ) from None
    value = _canonical_int(raw, f"{where}: storage value", "storage_leaf")
    if value == 0:
        raise VerificationError(f"{where}: storage leaf stores zero", rule="storage_leaf")
    return value


def get_from_proof(root: bytes, key: bytes, nodes: Sequence[bytes], where: str) -> bytes | None:
    """The ``trie`` package's proof check (naive reference): value or ``None``."""
    try:
        decoded = [decode_bounded(node, where, strict=False) for node in nodes]
        value = HexaryTrie.get_from_proof(root, keccak256(key), decoded)  # type: ignore[no-untyped-call]
    except (BadTrieProof, DecodingError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise VerificationError(f"{where}: proof does not verify ({exc})") from None
    return bytes(value) if value else None


@dataclass(frozen=True)
class VerifiedProof:
    """What one verified ``eth_getProof`` answer proves."""

    address: bytes
    account: Account | None
    storage: dict[bytes, int]

    def to_json(self) -> dict[str, Any]:
        """verify-bundle / inspect JSON form."""
        return {
            "address": hexstr(self.address),
            "account": self.account.to_json() if self.account else None,
            "storage": {hexstr(k): quantity(v) for k, v in self.storage.items()},
        }


def parse_slot_key(value: object, where: str) -> bytes:
    """Storage keys are echoed as the caller passed them; left-pad to 32 bytes."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise UserInputError(f"{where}: expected hex")
    body = value[2:]
    if len(body) > 64:
        raise UserInputError(f"{where}: storage key longer than 32 bytes")
    return to_bytes("0x" + body.rjust(64, "0"), where, 32)


def verify_proof_response(proof: Mapping[str, Any], state_root: bytes) -> VerifiedProof:
    """Verify an ``eth_getProof`` result against a state root with the trie package.

    The account fields the node claims must equal the proven leaf (or the proven
    absence); every storage value must equal its proven leaf under the proven
    storage root.
    """
    _require_shape(proof)
    address = to_bytes(proof.get("address"), "proof.address", 20)
    where = f"account {hexstr(address)}"
    account_nodes = [
        to_bytes(n, f"{where} accountProof[{i}]") for i, n in enumerate(proof["accountProof"])
    ]
    leaf = get_from_proof(state_root, address, account_nodes, where)
    account = decode_account(leaf, where) if leaf is not None else None
    claimed = claimed_account(proof, where)
    if account is None:
        if claimed is not None and claimed not in ABSENT_CLAIMS:
            raise VerificationError(f"{where}: node claims an account the proof shows absent")
    elif claimed != account:
        raise VerificationError(f"{where}: claimed account fields differ from the proof")
    storage: dict[bytes, int] = {}
    root = account.storage_root if account else EMPTY_ROOT
    for i, entry in enumerate(proof.get("storageProof", [])):
        key = parse_slot_key(entry.get("key"), f"{where} storageProof[{i}].key")
        swhere = f"{where} slot {hexstr(key)}"
        nodes = [to_bytes(n, f"{swhere} proof[{j}]") for j, n in enumerate(entry["proof"])]
        value = decode_storage_value(get_from_proof(root, key, nodes, swhere), swhere)
        claimed_value = claimed_int(entry.get("value"), f"{swhere} value")
        if claimed_value != value:
            raise VerificationError(
                f"{swhere}: claimed value {hex(claimed_value)} != proven {hex(value)}"
            )
        storage[key] = value
    return VerifiedProof(address=address, account=account, storage=storage)


def _require_shape(proof: object) -> None:
    """The JSON types of an eth_getProof result (else a clear error, not a crash)."""
    if not isinstance(proof, Mapping) or not isinstance(proof.get("accountProof"), list):
        raise UserInputError("proof: expected an object with an accountProof list")
    entries = proof.get("storageProof", [])
    if not isinstance(entries, list):
        raise UserInputError("proof.storageProof: expected a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("proof"), list):
            raise UserInputError(f"proof.storageProof[{i}]: expected an object with a proof list")


def claimed_int(value: object, where: str) -> int:
    """An integer claimed by a node (hex quantity, lenient about leading zeros)."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        body = value[2:] or "0"
        try:
            return int(body, 16)
        except ValueError:
            pass
    raise UserInputError(f"{where}: not a hex quantity: {value!r:.60}")


def claimed_account(proof: Mapping[str, Any], where: str) -> Account | None:
    """The account fields an ``eth_getProof`` answer claims (None if it claims none)."""
    if "nonce" not in proof and "balance" not in proof:
        return None
    return Account(
        nonce=claimed_int(proof.get("nonce", "0x0"), f"{where} nonce"),
        balance=claimed_int(proof.get("balance", "0x0"), f"{where} balance"),
        storage_root=to_bytes(proof.get("storageHash"), f"{where} storageHash", 32),
        code_hash=to_bytes(proof.get("codeHash"), f"{where} codeHash", 32),
    )


EMPTY_ROOT = keccak256(b"\x80")
EMPTY_CODE = keccak256(b"")

#: how nodes describe an absent account (geth: empty root/code; others: zero hashes)
ABSENT_CLAIMS = (
    Account(0, 0, EMPTY_ROOT, EMPTY_CODE),
    Account(0, 0, b"\x00" * 32, b"\x00" * 32),
)
