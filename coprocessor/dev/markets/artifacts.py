"""Bytecode of the real protocols: Hardhat artifacts of ``@aave/core-v3`` (logic
libraries linked into Pool and PoolConfigurator through ``linkReferences``) and
``@uniswap/v3-core``, and Morpho Blue 1.0.0 compiled from its npm sources with solc
0.8.19 (npm alias ``solc0819``) together with the helpers in contracts/markets/src."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coprocessor.errors import ToolError
from coprocessor.paths import REPO_ROOT

NODE_MODULES = REPO_ROOT / "tools" / "npm" / "node_modules"
AAVE_DIR = NODE_MODULES / "@aave" / "core-v3"
MORPHO_DIR = NODE_MODULES / "@morpho-org" / "morpho-blue"
UNISWAP_DIR = NODE_MODULES / "@uniswap" / "v3-core"
HELPERS_DIR = REPO_ROOT / "contracts" / "markets" / "src"
COMPILER = Path(__file__).with_name("solc_compile.js")

#: package versions the markets are built from (checked against the installed ones)
VERSIONS = {
    "@aave/core-v3": "1.19.3",
    "@morpho-org/morpho-blue": "1.0.0",
    "@uniswap/v3-core": "1.0.1",
    "solc0819": "0.8.19",
}
#: solc settings for Morpho Blue (those of its own foundry profile: via-IR, 999,999 runs)
MORPHO_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 999999},
    "viaIR": True,
    "evmVersion": "paris",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}
MORPHO_SOURCES = (
    "src/Morpho.sol",
    "src/mocks/IrmMock.sol",
    "src/mocks/OracleMock.sol",
)
HELPER_SOURCES = ("DevAggregator.sol", "MorphoLens.sol", "UniswapV3Helper.sol")


def installed_versions() -> dict[str, str]:
    """The versions of the market packages in tools/npm (refuses missing packages)."""
    found = {}
    for name in VERSIONS:
        path = NODE_MODULES / name / "package.json"
        try:
            found[name] = str(json.loads(path.read_text())["version"])
        except (OSError, ValueError, KeyError):
            raise ToolError(f"npm package {name} is not installed: run `make setup`") from None
    return found


def check_versions() -> None:
    """Refuse to build from other package versions than the ones the reads support."""
    for name, version in installed_versions().items():
        if version != VERSIONS[name]:
            raise ToolError(f"npm {name} is {version}, the markets need {VERSIONS[name]}")


def _artifact(root: Path, relative: str) -> dict[str, Any]:
    path = root / "artifacts" / "contracts" / relative
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        raise ToolError(f"artifact {path.name} missing: run `make setup`") from None


def aave(name: str, folder: str) -> dict[str, Any]:
    """An ``@aave/core-v3`` artifact, e.g. ``aave("Pool", "protocol/pool")``."""
    return _artifact(AAVE_DIR, f"{folder}/{name}.sol/{name}.json")


def uniswap(name: str) -> dict[str, Any]:
    """A ``@uniswap/v3-core`` artifact (``UniswapV3Factory``, ``UniswapV3Pool``)."""
    return _artifact(UNISWAP_DIR, f"{name}.sol/{name}.json")


def link(artifact: Mapping[str, Any], libraries: Mapping[str, str]) -> str:
    """The artifact's creation bytecode with library addresses written at every
    ``linkReferences`` offset (all references must be given)."""
    code = list(str(artifact["bytecode"])[2:])
    for libs in artifact.get("linkReferences", {}).values():
        for lib, refs in libs.items():
            if lib not in libraries:
                raise ToolError(f"{artifact['contractName']} needs library {lib}")
            address = libraries[lib].lower().removeprefix("0x")
            for ref in refs:
                start = 2 * int(ref["start"])
                code[start : start + 2 * int(ref["length"])] = list(address)
    linked = "".join(code)
    if "$" in linked or "_" in linked:
        raise ToolError(f"{artifact['contractName']}: unlinked library placeholder left")
    return "0x" + linked


def build_key() -> str:
    """What the compiled output depends on (package versions, settings, the helper
    sources), hashed: the name of its cache directory."""
    blob = json.dumps(
        {
            "versions": VERSIONS,
            "settings": MORPHO_SETTINGS,
            "helpers": {name: (HELPERS_DIR / name).read_text() for name in HELPER_SOURCES},
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def compile_morpho(cache_dir: Path) -> dict[str, dict[str, Any]]:
    """Morpho Blue, its IRM and oracle mocks and the helpers, compiled once into
    ``cache_dir/morpho-build.json`` (name -> {abi, bytecode})."""
    out_file = cache_dir / "morpho-build.json"
    if out_file.exists():
        return dict(json.loads(out_file.read_text()))
    sources = {
        f"@morpho-org/morpho-blue/{rel}": {"content": (MORPHO_DIR / rel).read_text()}
        for rel in MORPHO_SOURCES
    }
    sources.update(
        {
            f"markets/src/{name}": {"content": (HELPERS_DIR / name).read_text()}
            for name in HELPER_SOURCES
        }
    )
    standard = {"language": "Solidity", "sources": sources, "settings": MORPHO_SETTINGS}
    result = subprocess.run(
        ["node", str(COMPILER), str(NODE_MODULES), str(REPO_ROOT / "contracts")],
        input=json.dumps(standard).encode(),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise ToolError(f"solc 0.8.19: {result.stderr.decode(errors='replace').strip()}")
    output = json.loads(result.stdout)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ToolError(f"solc 0.8.19: {errors[0].get('formattedMessage', errors[0])}")
    built = {
        name: {"abi": c["abi"], "bytecode": "0x" + c["evm"]["bytecode"]["object"]}
        for unit in output["contracts"].values()
        for name, c in unit.items()
        if c["evm"]["bytecode"]["object"]
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(built))
    tmp.replace(out_file)
    return built
