"""The zkVM prover client: runs ``coproc-host`` (guest/host, built by
``scripts/setup.d/20-guest.sh``) as a subprocess with a timeout, streams its progress
events (JSON lines on stderr) to the caller, and maps its exit codes to the package's
errors: 1 → VerificationError (the guest or the verifier rejected the data), 2 →
UserInputError, anything else (crash, timeout, missing binary) → ToolError.

Dev mode (``RISC0_DEV_MODE=1``) executes the guest for real but returns a *fake*
receipt with no proof; every result produced in dev mode carries ``"dev_mode": true``
and a ``"warning"`` saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coprocessor.errors import (
    CoprocessorError,
    ToolError,
    UserInputError,
    VerificationError,
    split_code,
)
from coprocessor.jsonfile import load_json
from coprocessor.paths import REPO_ROOT

IMAGE_ID_PATH = REPO_ROOT / "spec" / "image_id.json"
DEV_WARNING = "DEV MODE: fake receipt (RISC0_DEV_MODE), no proof; accepted only by mock verifiers"
#: default limits, seconds
EXECUTE_TIMEOUT = 600.0
PROVE_TIMEOUT = 3600.0

Progress = Callable[[dict[str, Any]], None]


def host_binary() -> Path:
    """``coproc-host``: ``$COPROC_HOST``, the venv install, then ``PATH``."""
    env = os.environ.get("COPROC_HOST")
    if env:
        return Path(env)
    local = REPO_ROOT / ".venv" / "bin" / "coproc-host"
    if local.exists():
        return local
    found = shutil.which("coproc-host")
    if found:
        return Path(found)
    raise ToolError("coproc-host not found: run `make setup` (or set COPROC_HOST)")


def committed_image_id() -> str:
    """The image ID in spec/image_id.json (what the contracts are generated from)."""
    try:
        doc = json.loads(IMAGE_ID_PATH.read_text())
    except (OSError, ValueError) as exc:
        raise ToolError(f"{IMAGE_ID_PATH}: {exc}") from None
    value = doc.get("image_id")
    if not isinstance(value, str) or len(value) != 66:
        raise ToolError(f"{IMAGE_ID_PATH}: no image_id")
    return value


def run_host(
    args: Sequence[str],
    *,
    stdin: bytes | None = None,
    timeout: float = EXECUTE_TIMEOUT,
    env: Mapping[str, str] | None = None,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Run ``coproc-host ARGS``; return its JSON output or raise the mapped error."""
    binary = host_binary()
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        proc = subprocess.Popen(
            [str(binary), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
        )
    except OSError as exc:
        raise ToolError(f"cannot run {binary}: {exc.strerror}") from None
    errors: list[str] = []
    assert proc.stderr is not None

    def pump() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if on_progress is not None and isinstance(event, dict):
                    on_progress(event)
            elif line.startswith("coproc-host: error: "):
                errors.append(line.removeprefix("coproc-host: error: "))

    chunks: list[bytes] = []

    def collect() -> None:
        assert proc.stdout is not None
        chunks.append(proc.stdout.read())

    threads = [
        threading.Thread(target=pump, daemon=True),
        threading.Thread(target=collect, daemon=True),
    ]
    for t in threads:
        t.start()
    assert proc.stdin is not None
    try:
        if stdin:
            proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the host exited early; its exit status says why
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise ToolError(
            f"coproc-host {args[0] if args else ''} timed out after {timeout:g} s"
        ) from None
    finally:
        # Interrupted (Ctrl-C, a test timeout): never leave a prover running.
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for t in threads:
        t.join(timeout=10)
    out = b"".join(chunks)
    message = errors[-1] if errors else f"coproc-host exited with status {proc.returncode}"
    rule, message = split_code(message)  # the core prints the rule's code first
    if proc.returncode == 1:
        raise VerificationError(message, rule=rule)
    if proc.returncode == 2:
        raise UserInputError(message, rule=rule)
    if proc.returncode != 0:
        raise ToolError(message)
    try:
        result = json.loads(out)
    except ValueError:
        raise ToolError("coproc-host printed no JSON") from None
    if not isinstance(result, dict):
        raise ToolError("coproc-host printed no JSON object")
    return result


def _label(result: dict[str, Any]) -> dict[str, Any]:
    if result.get("dev_mode"):
        result["warning"] = DEV_WARNING
    return result


def _dev_env(dev: bool) -> dict[str, str]:
    # Explicit both ways: an inherited RISC0_DEV_MODE must not silently fake a proof.
    return {"RISC0_DEV_MODE": "1" if dev else "0"}


@dataclass(frozen=True)
class ProveRequest:
    """One request to the guest: its three input files (read by ``coproc-host``, never
    copied) and what is asked of them."""

    bundle: Path
    model: Path
    spec: Path
    #: the account scored, 0x-hex
    subject: str
    #: bytes32 0x-hex or a decimal integer, as ``coproc-host`` reads it (default 0)
    request_id: str | None = None
    #: the request block B (default: the bundle's anchor)
    block: int | None = None

    def args(self) -> list[str]:
        """The host's request options."""
        args = ["--bundle", str(self.bundle), "--model", str(self.model)]
        args += ["--spec", str(self.spec), "--subject", self.subject]
        if self.request_id is not None:
            args += ["--request-id", self.request_id]
        if self.block is not None:
            args += ["--block", str(self.block)]
        return args


def host_image_id(timeout: float = 60.0) -> str:
    """The image ID of the guest built into the installed ``coproc-host``."""
    value = run_host(["image-id"], timeout=timeout).get("image_id")
    if not isinstance(value, str):
        raise ToolError("coproc-host image-id printed no image_id")
    return value


def execute(
    request: ProveRequest,
    *,
    segment_po2: int | None = None,
    timeout: float = EXECUTE_TIMEOUT,
) -> dict[str, Any]:
    """Run the guest in the zkVM executor (no proof): journal, cycles, segments."""
    args = ["execute", *request.args()]
    if segment_po2 is not None:
        args += ["--segment-po2", str(segment_po2)]
    return _label(run_host(args, timeout=timeout, env=_dev_env(False)))


def prove(
    request: ProveRequest,
    out: str | Path,
    *,
    dev: bool = False,
    receipt_kind: str = "composite",
    timeout: float = PROVE_TIMEOUT,
    on_progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Prove a request; the receipt file is written to ``out`` (atomically) and a
    summary (journal, seal, image ID, cycles, dev_mode) is returned. ``env`` adds to
    the host's environment (a remote prover's ``BONSAI_API_URL``, …)."""
    args = ["prove", *request.args(), "--out", str(out), "--receipt-kind", receipt_kind]
    full_env = {**(env or {}), **_dev_env(dev)}
    return _label(run_host(args, timeout=timeout, env=full_env, on_progress=on_progress))


def prove_receipt(
    request: ProveRequest,
    *,
    dev: bool = False,
    timeout: float = PROVE_TIMEOUT,
    on_progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """:func:`prove` for a caller that keeps no receipt file (the service): the full
    receipt dict (what ``coproc-host prove`` writes), read back from a scratch file."""
    with tempfile.TemporaryDirectory(prefix="coproc-prove-") as tmp:
        out = Path(tmp) / "receipt.json"
        prove(request, out, dev=dev, timeout=timeout, on_progress=on_progress, env=env)
        receipt = load_receipt(out)
    return _label(receipt)


def load_receipt(path: str | Path) -> dict[str, Any]:
    """Read a receipt file (format ``coproc-receipt`` v1)."""
    doc = load_json(path, "receipt")
    if (
        not isinstance(doc, dict)
        or doc.get("format") != "coproc-receipt"
        or doc.get("version") != 1
    ):
        raise UserInputError(f"receipt {path}: not a coproc-receipt v1 file")
    return doc


def verify_receipt(
    path: str | Path, *, image_id: str | None = None, dev: bool = False, timeout: float = 600.0
) -> dict[str, Any]:
    """Verify a receipt file against ``image_id`` (default: the guest built into
    coproc-host). Fake (dev-mode) receipts verify only with ``dev=True`` and are
    labelled. Raises VerificationError when the receipt does not verify."""
    load_receipt(path)
    args = ["verify", "--receipt", str(path)]
    if image_id is not None:
        args += ["--image-id", image_id]
    return _label(run_host(args, timeout=timeout, env=_dev_env(dev)))


__all__ = [
    "DEV_WARNING",
    "CoprocessorError",
    "ProveRequest",
    "committed_image_id",
    "execute",
    "host_binary",
    "host_image_id",
    "load_receipt",
    "prove",
    "prove_receipt",
    "run_host",
    "verify_receipt",
]
