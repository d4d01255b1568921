"""The image ID is generated, never pasted: spec/image_id.json and the Solidity library
carry the same value, the installed coproc-host (built by setup from this checkout's
sources) reports it, and a build of the guest from a copy of the sources in another
directory gives the same ELF and image ID (paths do not leak into the image)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from locations import REPO

from coprocessor.zk import prover

SOL = REPO / "contracts" / "src" / "generated" / "ImageID.sol"


def committed() -> str:
    doc = json.loads((REPO / "spec" / "image_id.json").read_text())
    value = doc["image_id"]
    assert re.fullmatch(r"0x[0-9a-f]{64}", value)
    return str(value)


def test_solidity_library_matches_json() -> None:
    m = re.search(r"RISK_SCORE_ID = bytes32\((0x[0-9a-f]{64})\);", SOL.read_text())
    assert m is not None
    assert m.group(1) == committed()


def test_installed_host_reproduces_committed_image_id() -> None:
    assert prover.host_image_id() == committed()


def test_build_from_another_directory_gives_the_same_image(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    (copy / "guest").mkdir(parents=True)
    for part in ("core", "program", ".cargo"):
        shutil.copytree(REPO / "guest" / part, copy / "guest" / part)
    for f in ("Cargo.toml", "Cargo.lock"):
        shutil.copy(REPO / "guest" / f, copy / "guest" / f)
    (copy / "spec").mkdir()
    for spec in (REPO / "spec").glob("*.json"):  # the sources of truth the build reads
        shutil.copy(spec, copy / "spec")
    (copy / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "rust.sh", copy / "scripts")
    # A target dir of its own (kept in the cache: cold only once per machine).
    cache = Path(os.environ.get("COPROC_CACHE", Path.home() / ".cache" / "coproc"))
    env = dict(os.environ, COPROC_GUEST_TARGET=str(cache / "guest-target-repro"))
    out = subprocess.run(
        ["bash", str(copy / "scripts" / "rust.sh"), "guest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    elf = out.stdout.strip().splitlines()[-1]
    assert str(copy) not in Path(elf).read_bytes().decode("latin-1")
    got = prover.run_host(["image-id", "--elf", elf])["image_id"]
    assert got == committed()
