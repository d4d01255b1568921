"""The rule codes (spec/rule_codes.json, docs/formats.md §6): one definition, used by
Python and Rust, rendered into the docs; every rule named in the code exists and every
rule of the spec is checked somewhere."""

from __future__ import annotations

import ast
import json
import pickle
import re
import subprocess
import sys

import pytest
from locations import REPO

from coprocessor.errors import (
    RULES_PATH,
    UserInputError,
    VerificationError,
    rule_code,
    rule_codes,
    split_code,
)

SPEC = json.loads(RULES_PATH.read_text())


def test_codes_are_unique_and_well_formed() -> None:
    rules = SPEC["rules"]
    codes = [r["code"] for r in rules]
    names = [r["name"] for r in rules]
    assert len(set(codes)) == len(codes) and len(set(names)) == len(names)
    prefix = {"rlp": "R", "header": "H", "trie": "T", "bundle": "B", "model": "M", "spec": "F"}
    for r in rules:
        assert re.fullmatch(r"[A-Z][0-9]{3}", r["code"]), r
        assert re.fullmatch(r"[a-z][a-z0-9_]*", r["name"]), r
        assert r["meaning"] and "\n" not in r["meaning"], r
        if r["format"] in prefix:
            assert r["code"][0] == prefix[r["format"]], r


def test_docs_table_is_current() -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_rule_codes_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    doc = (REPO / "docs" / "formats.md").read_text()
    for r in SPEC["rules"]:
        assert f"| `{r['code']}` | {r['format']} | `{r['name']}` |" in doc


def _python_rule_names() -> set[str]:
    """Rule names given as string constants in the package: ``rule="..."`` keywords and
    any other string constant that is a rule name (helpers that take the rule)."""
    known = set(rule_codes())
    used: set[str] = set()
    for path in (REPO / "coprocessor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "rule":
                if isinstance(node.value, ast.Constant):
                    assert node.value.value in known, (path, node.value.value)
                    used.add(node.value.value)
            elif isinstance(node, ast.Constant) and node.value in known:
                used.add(node.value)
    return used


def _rust_rule_names() -> set[str]:
    camel = {"".join(w.title() for w in n.split("_")): n for n in rule_codes()}
    used: set[str] = set()
    for path in (REPO / "guest" / "core" / "src").rglob("*.rs"):
        for variant in re.findall(r"Rule::([A-Z][A-Za-z0-9]*)", path.read_text()):
            if variant != "ALL":
                assert variant in camel, (path, variant)
                used.add(camel[variant])
    return used


def test_every_rule_named_in_code_exists_and_every_rule_is_checked() -> None:
    python, rust = _python_rule_names(), _rust_rule_names()
    unchecked = set(rule_codes()) - python - rust
    assert not unchecked, f"rules no code checks: {sorted(unchecked)}"
    # the rules of the formats both languages read are checked in both, except those of
    # the guest's binary inputs (canonical model bytes and spec bytes, the spec's JSON
    # reader of its own) and the request checks only the guest makes
    shared = {r["name"] for r in SPEC["rules"] if r["format"] in ("bundle", "model", "spec")}
    rust_only = {"spec_json", "spec_canonical", "model_bytes", "feature_count"}
    assert shared - rust_only <= python, sorted(shared - rust_only - python)
    assert shared - {"bundle_chain_id"} <= rust, sorted(shared - rust)


def test_an_error_prints_and_keeps_its_code() -> None:
    err = VerificationError("anchor: hash differs", rule="anchor_hash")
    assert err.code == rule_code("anchor_hash") == "B008"
    assert str(err) == "[B008] anchor: hash differs" and err.message == "anchor: hash differs"
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.rule) == (str(err), "anchor_hash")
    assert str(UserInputError("no rule")) == "no rule" and UserInputError("x").code is None
    with pytest.raises(KeyError):
        UserInputError("x", rule="no_such_rule")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[B008] bundle: x", ("anchor_hash", "bundle: x")),
        ("[Z999] unknown code", (None, "[Z999] unknown code")),
        ("no code [B008]", (None, "no code [B008]")),
    ],
)
def test_split_code_reads_what_the_rust_core_prints(
    text: str, expected: tuple[str | None, str]
) -> None:
    assert split_code(text) == expected
