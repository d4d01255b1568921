"""Faults on the two-chain devnet: an auto-redeem out of gas then a manual redeem, a
crash between send and confirmation, an RPC failing mid-flight, an expiring ticket
(fake clock, then real expiry), a relay restarted in the middle of a retry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from bridge_fixtures import RelayThread, two_chain_devnet
from hexbytes import HexBytes
from lying_proxy import LyingProxy, json_response
from web3.exceptions import Web3Exception
from web3.types import Wei

from bridge import retryables
from bridge.service import Bridge
from bridge.txsender import TxSender
from coprocessor.errors import RpcError, ToolError, UserInputError
from coprocessor.onchain import contracts


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    data = tmp_path_factory.mktemp("faults")
    with two_chain_devnet(data) as info:
        yield data, info


@pytest.fixture()
def bridge(devnet: tuple[Path, dict[str, Any]]) -> Iterator[Bridge]:
    data, info = devnet
    b = Bridge.from_devnet(info, data)
    yield b
    b.store.close()


def _fresh_block(b: Bridge) -> tuple[int, bytes]:
    b.l1.provider.make_request("anvil_mine", ["0x2"])  # type: ignore[arg-type]
    number = b.l1.eth.block_number - 1
    return number, bytes(b.l1.eth.get_block(number)["hash"])


def _stored(b: Bridge, info: dict[str, Any], number: int) -> bytes:
    store = contracts.at(b.l2, "L2BlockHashStore", info["contracts"]["l2_block_hash_store"])
    return bytes(store.functions.blockHashOf(number).call())


def _user_nonce(b: Bridge) -> int:
    return int(b.l1.eth.get_transaction_count(b.account.address))


def test_auto_redeem_out_of_gas_then_manual_redeem(
    devnet: tuple[Path, dict[str, Any]], bridge: Bridge
) -> None:
    data, info = devnet
    number, l1_hash = _fresh_block(bridge)
    with RelayThread(info, data) as relay:
        # 30k gas covers the intrinsic cost but not the store's SSTORE: the retry runs out
        with pytest.raises(ToolError, match="bridge redeem"):
            bridge.push_blockhash(number, gas_limit=30_000, timeout=20)
        ticket = bridge.store.messages()[-1].id
        state = bridge.refresh_ticket(ticket)
        assert state.status == retryables.FUNDS_DEPOSITED_ON_CHILD
        assert state.attempts == 1
        assert _stored(bridge, info, number) == bytes(32)
        final = bridge.redeem(ticket, gas=500_000, timeout=20)
    assert not relay.errors, relay.errors
    assert final.status == retryables.REDEEMED and final.attempts == 2
    assert _stored(bridge, info, number) == l1_hash
    statuses = [s for s, _, _ in bridge.store.history(ticket)]
    assert statuses == [
        retryables.NOT_YET_CREATED,
        retryables.FUNDS_DEPOSITED_ON_CHILD,
        retryables.REDEEMED,
    ]
    with pytest.raises(UserInputError):  # redeeming a redeemed ticket is a no-op...
        bridge.keepalive(ticket)
    assert bridge.redeem(ticket).status == retryables.REDEEMED  # ...and not an error


class Crash(BaseException):
    """Stands for the process dying (not an Exception: nothing catches it)."""


@pytest.mark.parametrize("where", ["before-broadcast", "before-confirmation"])
def test_crash_between_send_and_confirmation_finishes_once(
    devnet: tuple[Path, dict[str, Any]], where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, info = devnet
    first = Bridge.from_devnet(info, data)
    number, l1_hash = _fresh_block(first)
    nonce_before = _user_nonce(first)
    with RelayThread(info, data) as relay:
        with monkeypatch.context() as patch:
            target = "_broadcast" if where == "before-broadcast" else "wait"

            original = getattr(TxSender, target)
            user = first.account.address

            def crash(self: TxSender, *args: Any, **kwargs: Any) -> Any:
                if self.sender == user:  # the user's process dies, not the relay
                    raise Crash(where)
                return original(self, *args, **kwargs)

            patch.setattr(TxSender, target, crash)
            with pytest.raises(Crash):
                first.push_blockhash(number, timeout=20)
        first.store.close()
        # the restarted process runs the same command
        second = Bridge.from_devnet(info, data)
        result = second.push_blockhash(number, timeout=20)
    assert not relay.errors, relay.errors
    assert result["status"] == retryables.REDEEMED
    assert _stored(second, info, number) == l1_hash
    assert _user_nonce(second) == nonce_before + 1  # exactly one L1 transaction
    pushes = [m for m in second.store.messages() if m.data.get("purpose") == f"block {number}"]
    assert len(pushes) == 1
    second.store.close()


def test_rpc_failing_mid_flight(devnet: tuple[Path, dict[str, Any]], bridge: Bridge) -> None:
    data, info = devnet
    number, l1_hash = _fresh_block(bridge)
    nonce_before = _user_nonce(bridge)
    proxy = LyingProxy(info["l1"]["rpc"]).start()
    try:
        failing = [True]

        async def lose_answer(proxy: LyingProxy, request: web.Request, payload: Any) -> Any:
            """The transaction reaches the node; every answer is lost (HTTP 502), also
            on web3's own retries of the same bytes, until ``failing`` is cleared."""
            answer = await proxy.forward(payload)
            method = payload.get("method") if isinstance(payload, dict) else None
            if failing[0] and method == "eth_sendRawTransaction":
                proxy.lies += 1
                return web.Response(status=502, text="upstream trouble")
            return json_response(answer)

        proxy.rule = lose_answer
        via_proxy = dict(info, l1=dict(info["l1"], rpc=proxy.url))
        flaky = Bridge.from_devnet(via_proxy, data)
        with RelayThread(info, data) as relay:
            with pytest.raises(RpcError, match="eth_sendRawTransaction"):
                flaky.push_blockhash(number, timeout=20)
            failing[0] = False
            result = flaky.push_blockhash(number, timeout=20)  # the same command again
        assert not relay.errors, relay.errors
        assert proxy.lies >= 1
        assert result["status"] == retryables.REDEEMED
        assert _stored(bridge, info, number) == l1_hash
        assert _user_nonce(bridge) == nonce_before + 1
        flaky.store.close()
    finally:
        proxy.stop()


def test_relay_crash_mid_retry_runs_it_once(
    devnet: tuple[Path, dict[str, Any]], bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, info = devnet
    number, l1_hash = _fresh_block(bridge)
    relay = RelayThread(info, data).make()
    original = relay.store.put_state
    alias = (
        contracts.at(bridge.l2, "L2BlockHashStore", info["contracts"]["l2_block_hash_store"])
        .functions.aliasedPusher()
        .call()
    )

    def crash_after_retry(key: str, value: Any) -> None:
        if key.startswith("retry:") and not key.endswith(":pending"):
            raise Crash("after the retry, before the journal")
        original(key, value)

    key = f"push-blockhash:{bridge.network.l1_chain_id}:{number}"
    with pytest.raises(ToolError):  # nobody relays yet: the push waits, then gives up
        bridge.push_blockhash(number, timeout=0.5)
    assert bridge.l1_sender().record(key) is not None
    monkeypatch.setattr(relay.store, "put_state", crash_after_retry)
    alias_nonce = bridge.l2.eth.get_transaction_count(alias)
    with pytest.raises(Crash):
        relay.step()
    monkeypatch.undo()
    assert _stored(bridge, info, number) == l1_hash  # the retry did run
    restarted = RelayThread(info, data).make()
    restarted.step()
    assert bridge.l2.eth.get_transaction_count(alias) == alias_nonce + 1  # and only once
    ticket = bridge.store.messages()[-1].id
    assert bridge.refresh_ticket(ticket).status == retryables.REDEEMED
    relay.store.close()
    restarted.store.close()


def test_expiring_ticket_alert_with_fake_clock_then_expiry(
    devnet: tuple[Path, dict[str, Any]],
) -> None:
    data, info = devnet
    now = [0.0]
    bridge = Bridge.from_devnet(info, data, clock=lambda: now[0], alert_window=6 * 3600)
    number, _ = _fresh_block(bridge)
    with RelayThread(info, data) as relay, pytest.raises(ToolError):
        bridge.push_blockhash(number, gas_limit=30_000, timeout=20)
    assert not relay.errors
    ticket = bridge.store.messages()[-1].id
    timeout = bridge.refresh_ticket(ticket).timeout
    assert timeout is not None
    now[0] = timeout - 7 * 3600  # 7 h left: no alert yet
    bridge.refresh_ticket(ticket)
    assert bridge.alerts(ticket) == []
    now[0] = timeout - 3600  # 1 h left: alert, once
    bridge.refresh_ticket(ticket)
    bridge.refresh_ticket(ticket)
    alerts = bridge.alerts(ticket)
    assert len(alerts) == 1 and "expires in 3600s" in alerts[0]
    # the watcher reports it and, asked to, extends the ticket by one lifetime
    watched = bridge.watch_once(auto_keepalive=True)
    assert [t for t, _ in watched] == [ticket] and "kept alive" in watched[0][1]
    new_timeout = bridge.refresh_ticket(ticket).timeout
    assert new_timeout == timeout + 7 * 24 * 3600
    assert bridge.watch_once() == []  # 1 h + 7 days left: quiet again
    assert len(bridge.alerts(ticket)) == 1
    # really let it expire on L2: the status becomes EXPIRED and redeem is refused
    bridge.l2.provider.make_request("evm_increaseTime", [15 * 24 * 3600])  # type: ignore[arg-type]
    bridge.l2.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert bridge.refresh_ticket(ticket).status == retryables.EXPIRED
    with pytest.raises(UserInputError, match="EXPIRED"):
        bridge.redeem(ticket)
    bridge.store.close()


def test_no_auto_redeem_when_the_fee_is_below_the_l2_base_fee(
    devnet: tuple[Path, dict[str, Any]], bridge: Bridge
) -> None:
    data, info = devnet
    number, l1_hash = _fresh_block(bridge)
    pusher = contracts.at(bridge.l1, "L1BlockHashPusher", info["contracts"]["l1_block_hash_pusher"])
    l2_base = int(bridge.l2.eth.get_block("latest")["baseFeePerGas"])
    assert l2_base > 2
    # 2 wei/gas, below L2's base fee (1 is the Inbox's estimation sentinel: RetryableData)
    fees = retryables.RetryableFees(10**15, 200_000, 2)
    tx = pusher.functions.push(
        number, fees.max_submission_cost, fees.gas_limit, fees.max_fee_per_gas
    ).transact({"from": bridge.account.address, "value": Wei(fees.deposit)})
    receipt = bridge.l1.eth.wait_for_transaction_receipt(tx)
    ticket = bridge.track_retryables(receipt, purpose="low fee")[0].id
    relay = RelayThread(info, data).make()
    relay.step()
    state = bridge.refresh_ticket(ticket)
    assert (state.status, state.attempts) == (retryables.FUNDS_DEPOSITED_ON_CHILD, 0)
    with RelayThread(info, data):
        assert bridge.redeem(ticket, timeout=20).status == retryables.REDEEMED
    assert _stored(bridge, info, number) == l1_hash
    relay.store.close()


def test_creation_failed_is_reported(devnet: tuple[Path, dict[str, Any]], bridge: Bridge) -> None:
    """L2 refuses a submission whose fee does not cover (1400 + 6 × len) × L1 base fee
    (an honest L1 Inbox already refuses it, so the relay's own key submits one here)."""
    data, info = devnet
    relay = RelayThread(info, data).make()
    ticket = b"\x77" * 32
    fn = relay.retryable.functions.devnetSubmit(
        ticket,
        10**9,  # L1 base fee
        10**18,  # deposit
        1,  # max submission fee: far too low
        (
            bridge.account.address,
            bridge.account.address,
            0,
            bridge.account.address,
            bridge.account.address,
            100_000,
            0,
            10**9,
            0,
            b"\x01\x02",
        ),
    )
    relay.l2_tx.send_and_wait(
        "test:creation-failed", fn.address, bytes(HexBytes(fn._encode_transaction_data()))
    )
    state = retryables.ticket_state(bridge.l2, ticket)
    assert state.status == retryables.CREATION_FAILED
    assert retryables.ticket_state(bridge.l2, b"\x78" * 32).status == retryables.NOT_YET_CREATED
    relay.store.close()


def test_relay_survives_an_l2_rpc_failing_mid_step(
    devnet: tuple[Path, dict[str, Any]], bridge: Bridge
) -> None:
    data, info = devnet
    number, l1_hash = _fresh_block(bridge)
    proxy = LyingProxy(info["l2"]["rpc"]).start()
    try:
        seen = [0]

        async def fail_after_submit(proxy: LyingProxy, request: web.Request, payload: Any) -> Any:
            """Healthy until the relay has sent its first L2 transaction of the step,
            then every request fails (HTTP 503) until the test heals the node."""
            method = payload.get("method") if isinstance(payload, dict) else None
            if seen[0] >= 2:
                proxy.lies += 1
                return web.Response(status=503, text="node restarting")
            if method == "eth_sendRawTransaction":
                seen[0] += 1
            return json_response(await proxy.forward(payload))

        proxy.rule = fail_after_submit
        via_proxy = dict(info, l2=dict(info["l2"], rpc=proxy.url))
        relay = RelayThread(via_proxy, data).make()
        pusher = contracts.at(
            bridge.l1, "L1BlockHashPusher", info["contracts"]["l1_block_hash_pusher"]
        )
        fees = retryables.RetryableFees(10**15, 200_000, 10**10)
        tx = pusher.functions.push(
            number, fees.max_submission_cost, fees.gas_limit, fees.max_fee_per_gas
        ).transact({"from": bridge.account.address, "value": Wei(fees.deposit)})
        ticket = bridge.track_retryables(bridge.l1.eth.wait_for_transaction_receipt(tx))[0].id
        with pytest.raises((RpcError, OSError, Web3Exception)):
            relay.step()
        assert proxy.lies > 0
        seen[0] = -(10**9)  # healed
        relay.step()
        assert bridge.refresh_ticket(ticket).status == retryables.REDEEMED
        assert _stored(bridge, info, number) == l1_hash
        redeems = bridge.l2.eth.get_logs(
            {
                "address": info["contracts"]["arb_retryable_tx"],
                "topics": [retryables.REDEEM_SCHEDULED, ticket],
                "fromBlock": 0,
            }
        )
        assert len(redeems) == 1  # one retry, reported once
        relay.store.close()
    finally:
        proxy.stop()
