"""N consecutive block headers from a fresh anvil (prague), one a line: ``<hash> <rlp>``.

Prototype input for proto/accumulator (docs/history_accumulator.md). Usage:
``.venv/bin/python proto/accumulator/headers.py N OUT`` (run from the clone's root);
``headers.py mainnet OUT`` writes instead the 9 consecutive mainnet headers of the
vectors (22,431,080-22,431,088, across the Prague fork).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from coprocessor.chain.headers import encode_header_json
from coprocessor.dev.devnet import rpc_call, start_anvil, stop_pid

VECTORS = Path("tests/vectors/chain/headers")
MAINNET = [f"cancun_{n}.json" for n in range(22431080, 22431084)] + [
    f"prague_{n}.json" for n in range(22431084, 22431089)
]


def mainnet(out: Path) -> None:
    blocks = [json.loads((VECTORS / name).read_text()) for name in MAINNET]
    out.write_text("".join(f"{b['hash'][2:]} {encode_header_json(b).hex()}\n" for b in blocks))


def main(count: int, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = start_anvil("proto-acc", Path(tmp), persist=False)
        try:
            rpc_call(node.rpc, "anvil_mine", [hex(count)], timeout=120)
            lines = []
            for n in range(1, count + 1):
                block = rpc_call(node.rpc, "eth_getBlockByNumber", [hex(n), False])
                lines.append(f"{block['hash'][2:]} {encode_header_json(block).hex()}")
        finally:
            stop_pid(node.pid)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "mainnet":
        mainnet(Path(sys.argv[2]))
    else:
        main(int(sys.argv[1]), Path(sys.argv[2]))
