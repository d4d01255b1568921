"""Every custom error of the core contracts (contracts/src/{verifier,oracle,signed,bridge,
consumer,utils,generated}; other engineers' folders such as demo/ aside) documents its selector in
NatSpec, correctly, and is expected by name in at least one forge test (every revert
path is tested). Reads the ABIs forge built, not the sources' own claims."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from eth_utils.abi import function_signature_to_4byte_selector
from locations import REPO

from coprocessor.onchain import contracts

SRC = REPO / "contracts" / "src"


CORE = ("verifier", "oracle", "signed", "bridge", "consumer", "utils", "generated")


def _sources() -> list[Path]:
    return sorted(p for d in CORE for p in (SRC / d).rglob("*.sol"))


def _errors() -> dict[str, str]:
    """error name -> canonical signature, from the build output of our sources."""
    contracts.build()
    found: dict[str, str] = {}
    for source in _sources():
        for art in (contracts.OUT_DIR / source.name).glob("*.json"):
            for item in json.loads(art.read_text())["abi"]:
                if item["type"] == "error":
                    types = ",".join(i["type"] for i in item["inputs"])
                    found[item["name"]] = f"{item['name']}({types})"
    return found


@pytest.fixture(scope="module")
def errors() -> dict[str, str]:
    found = _errors()
    assert len(found) > 40, "build output looks incomplete"
    return found


def test_every_error_documents_its_selector(errors: dict[str, str]) -> None:
    text = "\n".join(p.read_text() for p in _sources())
    for name, signature in errors.items():
        selector = "0x" + function_signature_to_4byte_selector(signature).hex()
        doc = f'/// @dev Selector `{selector}` = bytes4(keccak256("{signature}")).'
        pattern = re.escape(doc) + rf"\n\s*error {name}\("
        assert re.search(pattern, text), f"{signature}: NatSpec selector missing or wrong"


def test_every_error_is_expected_by_a_forge_test(errors: dict[str, str]) -> None:
    tests = "\n".join(p.read_text() for p in (REPO / "contracts" / "test").rglob("*.sol"))
    missing = [name for name in errors if not re.search(rf"\.{name}\.selector", tests)]
    assert not missing, f"revert paths without a test expecting them: {missing}"
