"""The Rocky bot end to end on the devnet (``coproc demo-rocky``, docs/rocky.md): the
pool's tick series of the past day is indexed, proven (dev mode), verified on the L2
oracle, sent L2 -> L1 through ArbSys and the Outbox, and the L1 vault swaps in the
predicted direction; a stale result and results not from the L2ResultSender are refused
on L1 by the vault (through the real Outbox).

Independent checks: the features against ticks read straight from the node's storage at
the sampled blocks and aggregated by the fractions oracle (tests/series_oracle.py); the
Python score against the guest's journal (two implementations); the swap's direction
against the vault's token balances and the pool's tick on L1."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import pytest
from eth_utils.abi import function_signature_to_4byte_selector
from series_oracle import oracle
from web3 import Web3
from web3.exceptions import ContractCustomError

from bridge import outbox
from bridge.chain import connect, dev_account
from bridge.devnet import load
from bridge.service import Bridge
from coprocessor.cli.rocky_demo import (
    RockyRun,
    deploy_vault,
    relay_result,
    run_rocky,
    stop_rocky_devnet,
    wait_confirmed,
)
from coprocessor.dev import rocky
from coprocessor.onchain import contracts

STALE = "VaultStale(uint64,uint256,uint64)"
UNAUTHORIZED = "VaultUnauthorized(address,address)"


def _selector(signature: str) -> str:
    return "0x" + function_signature_to_4byte_selector(signature).hex()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RockyRun, dict[str, Any]]]:
    data = Path(tmp_path_factory.mktemp("rocky"))
    try:
        run = run_rocky(data, keep=True)
        yield run, load(data / "rocky")
    finally:
        stop_rocky_devnet(data / "rocky")


@pytest.fixture(scope="module")
def bridge(demo: tuple[RockyRun, dict[str, Any]]) -> Bridge:
    run, info = demo
    return Bridge.from_devnet(info, Path(run.data_dir))


def _refusal(bridge: Bridge, info: dict[str, Any], message: str) -> str:
    """Execute ``message`` in the real Outbox as an eth_call; the revert's selector."""
    wait_confirmed(bridge, message)
    stored = bridge.store.message(message)
    assert stored is not None
    send = outbox.L2ToL1Message.from_json(stored.data)
    box = outbox.outbox_contract(bridge.l1, info["contracts"]["outbox"])
    proof = outbox.proof_for(bridge.l1, bridge.l2, box, send)
    with pytest.raises(ContractCustomError) as err:
        outbox.execute_call(box, send, proof).call({"from": dev_account(2).address})
    return "0x" + cast(str, err.value.data)[2:10]


def test_the_vault_acted_on_the_proven_score(demo: tuple[RockyRun, dict[str, Any]]) -> None:
    run, _ = demo
    assert run.dev_mode and run.cycles > 0
    assert run.journal_score == run.python_score == run.oracle_score == run.vault_score
    assert run.vault_block == run.block == rocky.HEAD
    assert 0 <= run.journal_score <= 10_000
    assert run.ok


def test_the_features_are_the_ticks_of_the_day(demo: tuple[RockyRun, dict[str, Any]]) -> None:
    """Ticks read from the node's storage at each sampled block (decoded here as an
    int24), converted to Q16 by hand and aggregated by the fractions oracle."""
    run, info = demo
    l1 = connect(info["l1"]["rpc"])
    blocks = [rocky.HEAD - rocky.EVERY * (rocky.SAMPLES - 1 - i) for i in range(rocky.SAMPLES)]
    ticks = []
    for number in blocks:
        word = bytes(l1.eth.get_storage_at(Web3.to_checksum_address(run.pool), 0, number))
        ticks.append(int.from_bytes(word[32 - 23 : 32 - 20], "big", signed=True))
    assert len(set(ticks)) > 10  # the price moved along the day
    xs = [int(Fraction(t * 65536, 100)) for t in ticks]  # trunc toward zero
    now, mean = xs[-1], oracle("mean", xs)
    expected = [now, mean, *(oracle(op, xs) for op in ("slope", "change", "stdev")), now - mean]
    assert run.features == expected


def test_the_swap_went_the_predicted_way(demo: tuple[RockyRun, dict[str, Any]]) -> None:
    run, info = demo
    l1 = connect(info["l1"]["rpc"])
    pool = l1.eth.contract(
        address=Web3.to_checksum_address(run.pool),
        abi=[
            {
                "type": "function",
                "name": "token0",
                "stateMutability": "view",
                "inputs": [],
                "outputs": [{"name": "", "type": "address"}],
            }
        ],
    )
    token0 = pool.functions.token0().call().lower()
    tokens = {s: a.lower() for s, a in rocky.ensure_rocky().manifest["tokens"].items()}
    symbol0 = next(s for s, a in tokens.items() if a == token0)
    symbol1 = next(s for s in tokens if s != symbol0)
    bought, sold = (symbol0, symbol1) if run.predicted_up else (symbol1, symbol0)
    assert run.after[bought] > run.before[bought]
    assert run.after[sold] < run.before[sold]
    assert run.zero_for_one == (sold == symbol0)
    # buying token0 raises its price in token1: the tick goes up (down when selling)
    assert (run.tick_after > run.tick_before) == run.predicted_up


def test_results_not_from_the_l2_sender_are_refused(
    demo: tuple[RockyRun, dict[str, Any]], bridge: Bridge
) -> None:
    run, info = demo
    vault = contracts.at(bridge.l1, "RockyVault", run.vault)
    model = bytes.fromhex(run.model_hash[2:])
    pool = Web3.to_checksum_address(run.pool)
    stranger = dev_account(3).address
    # on L1 straight to the vault
    with pytest.raises(ContractCustomError) as err:
        vault.functions.receiveResult(pool, model, 10_000, run.block + 1).call({"from": stranger})
    assert "0x" + cast(str, err.value.data)[2:10] == _selector(UNAUTHORIZED)
    # through ArbSys and the real Outbox, sent by another L2 account than the sender
    data = vault.functions.receiveResult(
        pool, model, 10_000, bridge.l1.eth.block_number
    )._encode_transaction_data()
    arb_sys = outbox.arb_sys(bridge.l2)
    tx = arb_sys.functions.sendTxToL1(run.vault, data).transact({"from": stranger})
    receipt = bridge.l2.eth.wait_for_transaction_receipt(tx)
    sends = outbox.messages_in_receipt(bridge.l2, receipt)
    assert len(sends) == 1
    message = bridge.track_send(sends[0]).id
    assert _refusal(bridge, info, message) == _selector(UNAUTHORIZED)
    assert vault.functions.lastBlock().call() == run.block  # unchanged


def test_a_stale_result_is_refused(demo: tuple[RockyRun, dict[str, Any]], bridge: Bridge) -> None:
    """A second vault that never acted: the same verified score, once the L1 head is
    more than maxAgeBlocks past the score's block, is refused as stale."""
    run, info = demo
    model = bytes.fromhex(run.model_hash[2:])
    pool = Web3.to_checksum_address(run.pool)
    tokens = {
        s: Web3.to_checksum_address(a) for s, a in rocky.ensure_rocky().manifest["tokens"].items()
    }
    fresh = deploy_vault(bridge.l1, info["contracts"], pool, model, tokens, dev_account(1).address)
    max_age = fresh.functions.maxAgeBlocks().call()
    lag = bridge.l1.eth.block_number - run.block
    assert lag < max_age  # fresh before mining
    bridge.l1.provider.make_request("anvil_mine", [hex(max_age - lag + 1)])  # type: ignore[arg-type]
    message = relay_result(bridge, info["contracts"], fresh.address, pool, model)
    assert _refusal(bridge, info, message) == _selector(STALE)
    assert fresh.functions.lastBlock().call() == 0
