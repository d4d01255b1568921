"""Small helpers over a web3 connection: connect with a chain-id check, wrap transport
failures into :class:`~coprocessor.errors.RpcError`, anvil-only calls, dev keys."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import Web3Exception

from coprocessor.errors import ChainMismatchError, RpcError

T = TypeVar("T")

#: anvil's dev mnemonic (public knowledge; local chains only)
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def connect(url: str, expected_chain_id: int | None = None, timeout: float = 30.0) -> Web3:
    """A web3 handle on ``url``; checks the chain id when one is expected."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
    chain_id = rpc(lambda: w3.eth.chain_id, f"{url}: eth_chainId")
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainMismatchError(f"{url} serves chain id {chain_id}, expected {expected_chain_id}")
    return w3


def rpc(fn: Callable[[], T], what: str) -> T:
    """Run one web3 call; transport and node errors become ``RpcError`` (one line)."""
    try:
        return fn()
    except (requests.RequestException, OSError) as exc:
        raise RpcError(f"{what}: node unreachable ({exc.__class__.__name__})") from None
    except (Web3Exception, ValueError) as exc:
        raise RpcError(f"{what}: {_one_line(exc)}", getattr(exc, "args", None)) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__


def raw_request(w3: Web3, method: str, params: list[Any]) -> Any:
    """A JSON-RPC call web3 has no method for (``anvil_*``, ``evm_*``)."""
    answer = rpc(lambda: w3.provider.make_request(method, params), method)  # type: ignore[arg-type]
    if "error" in answer:
        raise RpcError(f"{method}: {answer['error'].get('message', answer['error'])}")
    return answer.get("result")


@cache
def dev_account(index: int) -> LocalAccount:
    """anvil's dev account ``index`` (from the public dev mnemonic)."""
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(
        DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}"
    )
    return account


ALIAS_OFFSET = 0x1111000000000000000000000000000000001111


def l1_to_l2_alias(address: str) -> str:
    """Arbitrum's L1→L2 alias: address + 0x1111…1111 mod 2^160."""
    value = (int(address, 16) + ALIAS_OFFSET) % 2**160
    return Web3.to_checksum_address(f"0x{value:040x}")
