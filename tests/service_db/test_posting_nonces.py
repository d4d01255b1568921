"""Posting records and nonces on PostgreSQL (``store/posts.py``): one signer of a key at
a time across processes, checked on a real anvil chain."""

from __future__ import annotations

import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from eth_account import Account
from service_db.db_support import kill_and_join, log_lines, processes, wait_for
from web3 import Web3

from coprocessor.dev.devnet import AnvilNode
from coprocessor.errors import StoreError
from coprocessor.service.posting import PostRecords, Prepared
from coprocessor.service.store.database import migrate_database
from coprocessor.service.store.postgres import PgJobStore
from coprocessor.service.store.posts import PgPostRecords, choose_nonce

WORKER = Path(__file__).with_name("signer_worker.py")
PROCESSES = 4
POSTS_EACH = 15
DIE_AFTER = 4


@pytest.fixture
def records(pg_url: str, tmp_path: Path) -> PgPostRecords:
    migrate_database(pg_url, tmp_path)
    return PgPostRecords(PgJobStore(pg_url), chain_id=31337)


def test_choose_nonce_skips_recorded_nonces_from_the_pending_count() -> None:
    assert choose_nonce(5, []) == 5
    assert choose_nonce(5, [5, 6, 8]) == 7
    assert choose_nonce(5, [6, 7]) == 5
    assert choose_nonce(0, range(100)) == 100


def test_records_refuse_a_second_key_or_nonce(records: PgPostRecords) -> None:
    typed: PostRecords = records  # the protocol posting.post_exactly_once takes
    sender = "0x" + "AB" * 20
    typed.record_post("job-1", sender, 7, "0x01", "0xf1")
    assert typed.post_of("job-1") == {
        "sender": sender.lower(), "nonce": 7, "tx_hash": "0x01", "raw_tx": "0xf1",
    }  # fmt: skip
    with pytest.raises(StoreError, match="recorded already"):
        typed.record_post("job-2", sender, 7, "0x02", "0xf2")  # same nonce
    with pytest.raises(StoreError, match="recorded already"):
        typed.record_post("job-1", sender, 8, "0x03", "0xf3")  # same key
    other_chain = PgPostRecords(records.store, chain_id=1)
    other_chain.record_post("job-3", sender, 7, "0x04", "0xf4")  # another chain: fine
    with records.signing(sender) as lease:
        assert lease.next_nonce(6) == 6
        assert lease.next_nonce(7) == 8
    typed.forget_post("job-1")
    assert typed.post_of("job-1") is None
    with records.signing(sender) as lease:
        assert lease.next_nonce(7) == 7


def test_a_key_recorded_while_waiting_for_the_lock_is_not_signed_again(
    records: PgPostRecords, pg_url: str
) -> None:
    """Two processes post one key (each member job of a batch posts the batch): the one
    that waited for the signer lock while the other recorded the key's transaction signs
    nothing and returns None (``post_exactly_once`` then sends the recorded one)."""
    sender = "0x" + "CD" * 20
    other = PgPostRecords(PgJobStore(pg_url), chain_id=31337)  # a second connection
    signed: list[int] = []

    def sign(nonce: int) -> Prepared:
        signed.append(nonce)
        return Prepared(sender, nonce, f"0x{nonce:064x}", "0xf0")

    with ThreadPoolExecutor(1) as pool:
        with records.signing(sender) as lease:  # the first process holds the lock
            waiting = pool.submit(other.sign_and_record, "batch:1", sender, lambda: 3, sign)
            time.sleep(0.5)
            assert not waiting.done()  # the second waits for the lock
            nonce = lease.next_nonce(3)
            records.record_post("batch:1", sender, nonce, "0xaa", "0xf1")
        assert waiting.result(timeout=30) is None
    assert signed == []
    assert other.post_of("batch:1") == {
        "sender": sender.lower(), "nonce": 3, "tx_hash": "0xaa", "raw_tx": "0xf1",
    }  # fmt: skip
    prepared = other.sign_and_record("batch:2", sender, lambda: 3, sign)
    assert prepared is not None and prepared.nonce == 4 and signed == [4]


def test_four_processes_share_one_key_without_a_nonce_clash(
    records: PgPostRecords, pg_url: str, anvil: AnvilNode, tmp_path: Path
) -> None:
    w3 = Web3(Web3.HTTPProvider(anvil.rpc))
    key = "0x" + secrets.token_hex(32)
    sender = Account.from_key(key).address
    w3.provider.make_request("anvil_setBalance", [sender, hex(10**21)])  # type: ignore[arg-type]
    logs = [tmp_path / f"signer-{i}.log" for i in range(PROCESSES)]
    commands = [
        [sys.executable, str(WORKER), pg_url, anvil.rpc, str(anvil.chain_id), key, f"s{i}",
         str(logs[i]), str(POSTS_EACH)] + ([str(DIE_AFTER)] if i == 0 else [])
        for i in range(PROCESSES)
    ]  # fmt: skip
    with processes(commands) as procs:
        victim_log = logs[0]
        wait_for(
            lambda: "in-lock" in " ".join(log_lines(victim_log)) or procs[0].poll() is not None,
            "the victim to hold the signer lock",
        )
        kill_and_join(procs[0], procs[1:])  # killed holding the lock, a nonce chosen

    # the victim's recorded, never broadcast transaction: its job's next owner sends the
    # recorded bytes (as posting.post_exactly_once does after a crash)
    recorded = [x.split() for x in log_lines(logs[0]) if x.startswith("recorded ")]
    assert len(recorded) == 1
    stranded = records.post_of(recorded[0][1])
    assert stranded is not None and stranded["nonce"] == int(recorded[0][2])
    w3.eth.send_raw_transaction(bytes.fromhex(stranded["raw_tx"][2:]))

    rows = records.store.conn.execute(
        "SELECT job_id, nonce, tx_hash FROM posts WHERE sender = %s ORDER BY nonce",
        (sender.lower(),),
    ).fetchall()
    total = (PROCESSES - 1) * POSTS_EACH + DIE_AFTER  # the victim's in-lock one: not recorded
    assert [int(r[1]) for r in rows] == list(range(total))  # no nonce twice, no gap
    sent = [x.split() for log in logs for x in log_lines(log) if x.startswith("sent ")]
    assert len(sent) == total - 1  # all but the stranded one were broadcast by their signer
    wait_for(lambda: w3.eth.get_transaction_count(sender, "latest") == total, "all mined")
    for _, _, tx_hash in rows:
        receipt = w3.eth.get_transaction_receipt(tx_hash)
        assert receipt["status"] == 1 and receipt["from"] == sender
