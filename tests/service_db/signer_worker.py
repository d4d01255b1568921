"""One signing process of tests/service_db/test_posting_nonces.py.

``python signer_worker.py DB_URL RPC_URL CHAIN_ID KEY OWNER LOG COUNT [DIE_AFTER]``:
COUNT times, under the database's signer lock of KEY's address, choose a nonce (the
node's pending count, skipping recorded ones), sign a 0-value transfer to itself with
it, record it in ``posts`` and then (outside the lock) broadcast it; logs
``sent <key> <nonce>`` per transaction.

With DIE_AFTER the process plays the crash victim: its DIE_AFTER-th transaction is
recorded but not broadcast (``recorded <key> <nonce>``), then it takes the signer lock
again, chooses a nonce, writes ``in-lock`` and sleeps until the test kills it.
"""

from __future__ import annotations

import sys
import time

from eth_account import Account
from web3 import Web3

from coprocessor.service.posting import Prepared
from coprocessor.service.store.postgres import PgJobStore
from coprocessor.service.store.posts import PgPostRecords

GAS_PRICE = 10**10


def main(argv: list[str]) -> int:
    db_url, rpc_url, chain_text, key, owner, log_path, count_text = argv[:7]
    die_after = int(argv[7]) if len(argv) > 7 else -1
    chain_id, count = int(chain_text), int(count_text)
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    account = Account.from_key(key)
    sender = str(account.address)
    records = PgPostRecords(PgJobStore(db_url), chain_id)

    def pending() -> int:
        return int(w3.eth.get_transaction_count(account.address, "pending"))

    def sign(nonce: int) -> Prepared:
        tx = {"to": sender, "value": 0, "gas": 21_000, "gasPrice": GAS_PRICE,
              "nonce": nonce, "chainId": chain_id}  # fmt: skip
        signed = account.sign_transaction(tx)
        return Prepared(
            sender, nonce, "0x" + bytes(signed.hash).hex(), "0x" + signed.raw_transaction.hex()
        )

    with open(log_path, "a", buffering=1) as log:
        for i in range(count):
            key_of_post = f"{owner}-{i}"
            prepared = records.sign_and_record(key_of_post, sender, pending, sign)
            assert prepared is not None  # each key is this worker's own
            if i + 1 == die_after:
                log.write(f"recorded {key_of_post} {prepared.nonce}\n")
                with records.signing(sender) as lease:
                    log.write(f"in-lock {lease.next_nonce(pending())}\n")
                    time.sleep(3600)  # killed here, holding the lock
            w3.eth.send_raw_transaction(bytes.fromhex(prepared.raw_tx[2:]))
            log.write(f"sent {key_of_post} {prepared.nonce}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
