"""End to end on the two-chain devnet: real anvils, Arbitrum's real Bridge/Inbox/Outbox
on L1, ArbOS emulated on L2 (docs/bridge.md), the relay in a thread.

Flows: push-blockhash (L1 pusher -> retryable -> relay -> L2 store), a receipt posted to
the L2 RiskOracle anchored on the bridged hash, and that result relayed back to an L1
consumer through ArbSys and the Outbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bridge_fixtures import RelayThread

from bridge import outbox, retryables
from bridge.chain import dev_account
from bridge.devnet import L2_CHAIN_ID, up_l2
from bridge.service import Bridge
from coprocessor import contracts
from coprocessor.devnet import Devnet


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    data = tmp_path_factory.mktemp("devnet2")
    net = Devnet(data)
    try:
        net.up()
        info = up_l2(net, relay=False)
        yield data, info
    finally:
        net.down()


@pytest.fixture()
def bridge(devnet: tuple[Path, dict[str, Any]]) -> Iterator[Bridge]:
    data, info = devnet
    b = Bridge.from_devnet(info, data)
    yield b
    b.store.close()


def test_devnet_json_has_both_chains_and_real_nitro_contracts(
    devnet: tuple[Path, dict[str, Any]], bridge: Bridge
) -> None:
    _, info = devnet
    assert info["l2"]["chain_id"] == L2_CHAIN_ID != info["l1"]["chain_id"]
    # the Bridge is the npm artifact's code behind a proxy, wired to its Inbox and Outbox
    b = bridge
    nitro_bridge = outbox.nitro_at(b.l1, "Bridge", info["contracts"]["bridge"])
    assert nitro_bridge.functions.allowedDelayedInboxes(info["contracts"]["inbox"]).call()
    assert nitro_bridge.functions.allowedOutboxes(info["contracts"]["outbox"]).call()
    assert nitro_bridge.functions.rollup().call() == dev_account(0).address
    # the emulators sit at the precompile addresses and answer like ArbOS
    assert outbox.arb_sys(b.l2).functions.arbChainID().call() == L2_CHAIN_ID
    assert retryables.retryable_tx(b.l2).functions.getLifetime().call() == 7 * 24 * 3600


def test_push_blockhash_reaches_l2_store(
    devnet: tuple[Path, dict[str, Any]], bridge: Bridge
) -> None:
    data, info = devnet
    bridge.l1.provider.make_request("anvil_mine", ["0x5"])  # type: ignore[arg-type]
    number = bridge.l1.eth.block_number - 2
    l1_hash = bytes(bridge.l1.eth.get_block(number)["hash"])
    with RelayThread(info, data) as relay:
        result = bridge.push_blockhash(number, timeout=30)
    assert not relay.errors, relay.errors
    assert result["status"] == retryables.REDEEMED
    store = contracts.at(bridge.l2, "L2BlockHashStore", info["contracts"]["l2_block_hash_store"])
    assert bytes(store.functions.blockHashOf(number).call()) == l1_hash
    # the ticket id is Nitro's submit-retryable hash; history went through the statuses
    statuses = [s for s, _, _ in bridge.store.history(result["id"])]
    assert statuses[0] == retryables.NOT_YET_CREATED and statuses[-1] == retryables.REDEEMED
    # a second push of the same block is a no-op that still exits well
    assert bridge.push_blockhash(number)["status"] == "ALREADY_ON_L2"
