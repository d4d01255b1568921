"""The two-chain devnet: an L1 anvil with Arbitrum's real Bridge/Inbox/Outbox (npm
nitro-contracts behind TransparentUpgradeableProxy, initializer in the proxy
constructor) and an L2 anvil with ArbOS emulated at 0x64 (ArbSys), 0x6e
(ArbRetryableTx) and 0xc8 (NodeInterface, for outbox proofs), plus our bridge contracts
on both sides and the devnet relay process (bridge/relay.py). What is emulated and how
it differs from Nitro: docs/bridge.md.

Roles (anvil dev accounts): L1 #0 deploys and is the rollup EOA (the relay posts send
roots with it); L2 #0 is the emulator's relay; L1 #1 and L2 #1 are the user (pushes,
redeems, executes) and the owner of the L2 oracle.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import rlp
from eth_hash.auto import keccak
from web3 import Web3

from bridge.chain import connect, dev_account, raw_request
from bridge.nitro import ARB_RETRYABLE_TX, ARB_SYS, NODE_INTERFACE, nitro_artifact
from bridge.store import BridgeStore
from coprocessor.dev.devnet import AnvilNode, Devnet, pid_alive, start_anvil, stop_pid
from coprocessor.errors import ToolError
from coprocessor.onchain import contracts

L2_CHAIN_ID = 412346
#: Inbox constructor argument (nitro's default max data size)
MAX_DATA_SIZE = 117_964
DEFAULT_CONFIRM_DELAY = 1.0
RELAY_L1, RELAY_L2, USER = 0, 0, 1
#: the L1 account that administrates the proxies (a transparent proxy never forwards
#: its admin's calls, so it must not be an account that uses the contracts)
PROXY_ADMIN = 9


def _send(w3: Web3, tx: Any, what: str) -> Any:
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))
    if receipt["status"] != 1:
        raise ToolError(f"devnet: {what} reverted")
    return receipt


def _deploy_nitro(l1: Web3, name: str, ctor: tuple[Any, ...], init: str, *args: Any) -> str:
    """Deploy nitro contract ``name`` behind a TransparentUpgradeableProxy whose
    constructor calls ``init(args)`` (the logic contract's initializer is onlyDelegated)."""
    art = nitro_artifact(name)
    deployer = dev_account(RELAY_L1).address
    logic = l1.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(*ctor)
    logic_address = _send(l1, logic.build_transaction({"from": deployer}), f"{name} logic")[
        "contractAddress"
    ]
    init_data = l1.eth.contract(abi=art["abi"]).encode_abi(init, list(args))
    proxy_art = nitro_artifact("TransparentUpgradeableProxy")
    proxy = l1.eth.contract(abi=proxy_art["abi"], bytecode=proxy_art["bytecode"]).constructor(
        logic_address, dev_account(PROXY_ADMIN).address, init_data
    )
    receipt = _send(l1, proxy.build_transaction({"from": deployer}), f"{name} proxy")
    return str(receipt["contractAddress"])


def _next_address(w3: Web3, sender: str, ahead: int = 0) -> str:
    nonce = w3.eth.get_transaction_count(Web3.to_checksum_address(sender)) + ahead
    raw = keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:]
    return Web3.to_checksum_address(raw)


#: the ArbOS emulators: (artifact, precompile address, has a relay role to claim)
EMULATORS = (
    ("ArbSysEmulator", ARB_SYS, True),
    ("ArbRetryableTxEmulator", ARB_RETRYABLE_TX, True),
    ("NodeInterfaceEmulator", NODE_INTERFACE, False),
)


def install_arbos(l2: Web3) -> None:
    """Put the ArbSys / ArbRetryableTx / NodeInterface emulators at 0x64 / 0x6e / 0xc8
    and hand the relay role to L2 account #0 (idempotent: an installed emulator keeps
    its state)."""
    relay = dev_account(RELAY_L2).address
    for name, address, has_relay in EMULATORS:
        code = contracts.artifact(name).deployed_bytecode
        if bytes(l2.eth.get_code(address)) == code:
            continue
        raw_request(l2, "anvil_setCode", [address, "0x" + code.hex()])
        if has_relay:
            handle = contracts.at(l2, name, address)
            tx = handle.functions.devnetInit(relay).build_transaction({"from": relay})
            _send(l2, tx, name)


def emulators_current(l2: Web3) -> bool:
    """Whether every ArbOS emulator on L2 runs the code of this checkout's build."""
    return all(
        bytes(l2.eth.get_code(address)) == contracts.artifact(name).deployed_bytecode
        for name, address, _ in EMULATORS
    )


def deploy(l1: Web3, l2: Web3, *, max_anchor_lag: int = 7200) -> dict[str, str]:
    """Deploy everything of the two-chain devnet; returns {name: address}."""
    contracts.build()
    rollup = dev_account(RELAY_L1).address
    user_l2 = dev_account(USER).address
    bridge = _deploy_nitro(l1, "Bridge", (), "initialize", rollup)
    inbox = _deploy_nitro(
        l1, "Inbox", (MAX_DATA_SIZE,), "initialize", bridge, dev_account(8).address
    )
    outbox = _deploy_nitro(l1, "Outbox", (), "initialize", bridge)
    bridge_c = l1.eth.contract(
        address=Web3.to_checksum_address(bridge), abi=nitro_artifact("Bridge")["abi"]
    )
    _send(
        l1,
        bridge_c.functions.setDelayedInbox(inbox, True).build_transaction({"from": rollup}),
        "setDelayedInbox",
    )
    _send(
        l1,
        bridge_c.functions.setOutbox(outbox, True).build_transaction({"from": rollup}),
        "setOutbox",
    )
    install_arbos(l2)

    # the L2 store must know the L1 pusher: predict the pusher's CREATE address
    pusher_address = _next_address(l1, rollup)
    store = contracts.deploy(l2, "L2BlockHashStore", pusher_address, sender=user_l2)
    pusher = contracts.deploy(l1, "L1BlockHashPusher", inbox, store.address, sender=rollup)
    if pusher.address != pusher_address:
        raise ToolError("devnet: the pusher landed at another address than predicted")

    dev = contracts.deploy(l2, "DevVerifier", sender=user_l2)
    router = contracts.deploy(l2, "RiscZeroVerifierRouter", user_l2, sender=user_l2)
    _send(
        l2,
        router.functions.addVerifier(contracts.DEV_SEAL_SELECTOR, dev.address).build_transaction(
            {"from": user_l2}
        ),
        "addVerifier",
    )
    oracle = contracts.deploy(
        l2,
        "RiskOracle",
        user_l2,
        router.address,
        store.address,
        l1.eth.chain_id,
        max_anchor_lag,
        sender=user_l2,
    )
    sender = contracts.deploy(l2, "L2ResultSender", oracle.address, sender=user_l2)
    receiver = contracts.deploy(l1, "L1ResultReceiver", bridge, sender.address, sender=rollup)
    return {
        "bridge": Web3.to_checksum_address(bridge),
        "inbox": Web3.to_checksum_address(inbox),
        "outbox": Web3.to_checksum_address(outbox),
        "rollup": rollup,
        "l1_block_hash_pusher": pusher.address,
        "l1_result_receiver": receiver.address,
        "arb_sys": ARB_SYS,
        "arb_retryable_tx": ARB_RETRYABLE_TX,
        "arb_node_interface": NODE_INTERFACE,
        "l2_block_hash_store": store.address,
        "l2_dev_verifier": dev.address,
        "l2_verifier_router": router.address,
        "l2_risk_oracle": oracle.address,
        "l2_result_sender": sender.address,
    }


def _deployed(l1: Web3, l2: Web3, addresses: dict[str, str]) -> bool:
    """Whether a recorded deployment is still there (code at each address)."""
    try:
        for name, address in addresses.items():
            w3 = l2 if name.startswith(("l2_", "arb_")) else l1
            if name != "rollup" and not bytes(w3.eth.get_code(Web3.to_checksum_address(address))):
                return False
    except (OSError, ValueError):
        return False
    return True


def start_relay(data_dir: Path, log: Path, confirm_delay: float) -> int:
    """Start ``python -m bridge.relay`` detached (own session); returns its pid."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bridge.relay",
                "--data-dir",
                str(data_dir),
                "--confirm-delay",
                str(confirm_delay),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    time.sleep(0.2)
    if proc.poll() is not None:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise ToolError(f"devnet relay exited at once: {tail[0]}")
    return proc.pid


def up_l2(
    devnet: Devnet, *, confirm_delay: float = DEFAULT_CONFIRM_DELAY, relay: bool = True
) -> dict[str, Any]:
    """Start (or reuse) the L2 anvil, deploy (or reuse) every contract, start the relay;
    record it all in devnet.json and return ``{"l1", "l2", "contracts", "relay"}``.
    ``devnet.up()`` must have started L1."""
    l1_node = devnet.node("l1")
    if l1_node is None:
        raise ToolError("devnet: the L1 node is not running (run `coproc devnet up`)")
    l2_node: AnvilNode | None = devnet.node("l2")
    if l2_node is None:
        l2_node = start_anvil("l2", devnet.dir, chain_id=L2_CHAIN_ID)
    info = json.loads(devnet.file.read_text())
    info["l2"] = l2_node.to_json()
    devnet.file.write_text(json.dumps(info, indent=2))  # so `down` stops L2 if deploy fails
    l1 = connect(l1_node.rpc, l1_node.chain_id)
    l2 = connect(l2_node.rpc, l2_node.chain_id)
    # `devnet down` forgets devnet.json; the chains come back from their state files,
    # so the deployment is also kept in a file of its own
    saved = devnet.dir / "bridge-contracts.json"
    addresses = info.get("contracts")
    if not isinstance(addresses, dict) and saved.is_file():
        with contextlib.suppress(ValueError):
            addresses = json.loads(saved.read_text())
    if not (isinstance(addresses, dict) and _deployed(l1, l2, addresses)):
        # new chains: what the bridge store knew of the old ones no longer holds
        store = BridgeStore.in_dir(devnet.dir.parent)
        store.reset_chains([l1_node.chain_id, l2_node.chain_id])
        store.close()
        addresses = deploy(l1, l2)
        saved.write_text(json.dumps(addresses, indent=2))
    if not emulators_current(l2):
        raise ToolError(
            "devnet: the ArbOS emulators on L2 are from another build (state saved before"
            f" an upgrade): run `coproc devnet down`, remove {devnet.dir} and start again"
        )
    info["contracts"] = addresses
    if relay:
        entry = info.get("relay")
        if not (isinstance(entry, dict) and pid_alive(int(entry.get("pid", 0)))):
            log = devnet.dir / "relay.log"
            pid = start_relay(devnet.dir.parent, log, confirm_delay)
            entry = {"pid": pid, "log": str(log), "confirm_delay": confirm_delay}
        info["relay"] = entry
    tmp = devnet.file.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(devnet.file)
    return devnet.status()


def load(data_dir: Path) -> dict[str, Any]:
    """The recorded two-chain devnet (raises ToolError when there is none)."""
    devnet = Devnet(data_dir)
    try:
        info = dict(json.loads(devnet.file.read_text()))
    except (OSError, ValueError):
        raise ToolError("no devnet here: run `coproc devnet up --l2`") from None
    if "l2" not in info or "contracts" not in info:
        raise ToolError("the devnet has no L2: run `coproc devnet up --l2`")
    return info


def stop_relay(info: dict[str, Any]) -> None:
    """Stop the recorded relay process, if any."""
    entry = info.get("relay")
    if isinstance(entry, dict) and "pid" in entry:
        with contextlib.suppress(ProcessLookupError):
            stop_pid(int(entry["pid"]))
