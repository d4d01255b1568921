"""The operator's EIP-712 signer. The key lives in an encrypted keystore (eth-account
keystore JSON, scrypt/pbkdf2 + AES); the password comes from an environment variable.
Neither the password nor the key is ever logged, printed or put in an error message."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account

from coprocessor.errors import UserInputError
from coprocessor.jsonfile import load_json
from coprocessor.onchain import eip712


class Signer:
    """Signs SignedScore structs for one SignedScores deployment."""

    def __init__(self, private_key: bytes, chain_id: int, verifying_contract: str) -> None:
        self._key = private_key
        self.address = str(Account.from_key(private_key).address)
        self.chain_id = chain_id
        self.verifying_contract = verifying_contract

    def __repr__(self) -> str:  # never show the key
        return f"Signer(address={self.address}, chain_id={self.chain_id})"

    def sign(self, score: eip712.SignedScore) -> bytes:
        """65-byte signature ``r ‖ s ‖ v`` (deterministic: RFC 6979 nonces)."""
        return eip712.sign(score, self._key, self.chain_id, self.verifying_contract)


def load_keystore(path: str | Path, password_env: str) -> bytes:
    """Decrypt the keystore at ``path`` with the password in ``$password_env``."""
    password = os.environ.get(password_env)
    if password is None:
        raise UserInputError(f"keystore password: environment variable {password_env} is not set")
    keystore = load_json(path, "keystore")
    try:
        return bytes(Account.decrypt(keystore, password))
    except ValueError:
        # eth-account says "MAC mismatch" for a wrong password; say it without details
        raise UserInputError(f"keystore {path}: wrong password or corrupt keystore") from None
    except (KeyError, TypeError):
        raise UserInputError(f"keystore {path}: not an eth-account keystore") from None


def write_keystore(path: str | Path, private_key: bytes, password: str) -> str:
    """Encrypt ``private_key`` into a new keystore file (mode 0600); returns the address.
    Refuses to overwrite an existing file."""
    target = Path(path)
    if target.exists():
        raise UserInputError(f"keystore {target} already exists")
    keystore = Account.encrypt(private_key, password)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keystore, f)
    return str(Account.from_key(private_key).address)
