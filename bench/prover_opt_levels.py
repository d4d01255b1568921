"""The CPU prover's speed against the C++ optimisation level of its rv32im kernels.

The rv32im circuit's C++ kernels (``risc0-circuit-rv32im-sys``, every segment proof runs
them) are compiled by a build script at the package's opt-level; ``guest/Cargo.toml``
sets ``-O1``. For each level asked (default 1, 2, 3) this script

1. rebuilds ``coproc-host`` in its own target dir (``$COPROC_CACHE/opt-bench-target``,
   seeded once from the main ``host-target`` so only the kernels and what depends on
   them recompile) with ``--config profile.release.package.risc0-circuit-rv32im-sys.
   opt-level=N``, after ``cargo clean -p risc0-circuit-rv32im-sys`` (a fresh kernel
   build), timing the kernel package alone and the host relink;
2. proves real segments of one real request (the mainnet WETH balance request of
   ``make prove-check``, executed with 2^po2-row segments; ``coproc-host prove-segments``
   checks every segment receipt), the levels taking turns round after round so that
   the machine's other load spreads over all of them.

It prints one Markdown table (docs/guest.md) with each level's ratio against ``-O1``
measured in the same run. Slow (about an hour on 2 cores): run it by name,
``.venv/bin/python -m bench prover_opt_levels`` (``make bench`` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import table
from bench.guest_cycles import mainnet_weth, model

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("COPROC_CACHE", str(Path.home() / ".cache" / "coproc")))
KERNELS = "risc0-circuit-rv32im-sys"
SUBJECT = "0x4242424242424242424242424242424242424242"


def _cargo_env(target: Path) -> dict[str, str]:
    return dict(
        os.environ,
        RUSTC="/usr/bin/rustc",
        RUSTDOC="/usr/bin/rustdoc",
        DOCS_RS="1",
        CARGO_TARGET_DIR=str(target),
    )


def _guest_elf() -> str:
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "rust.sh"), "guest"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def build_level(level: int, target: Path, out: Path) -> tuple[float, float]:
    """A fresh build of the kernels at ``-O<level>`` and the host over them: seconds of
    the kernel package alone, seconds of the rest (the crates above it, the link)."""
    config = f"profile.release.package.{KERNELS}.opt-level={level}"
    env = dict(_cargo_env(target), COPROC_GUEST_ELF=_guest_elf())
    cargo = ["/usr/bin/cargo"]
    guest = REPO / "guest"
    subprocess.run(
        [*cargo, "clean", "--release", "-p", KERNELS, "--quiet"], cwd=guest, env=env, check=True
    )
    start = time.monotonic()
    subprocess.run(
        [*cargo, "build", "--locked", "--release", "-p", KERNELS, "--config", config, "--quiet"],
        cwd=guest,
        env=env,
        check=True,
    )
    kernels = time.monotonic() - start
    start = time.monotonic()
    subprocess.run(
        [*cargo, "build", "--locked", "--release", "-p", "coproc-host", "--config", config],
        cwd=guest,
        env=env,
        check=True,
        stderr=subprocess.DEVNULL,
    )
    rest = time.monotonic() - start
    shutil.copy2(target / "release" / "coproc-host", out)
    return kernels, rest


def prove_segments(host: Path, work: Path, po2: int, segments: int) -> dict[str, object]:
    out = subprocess.run(
        [
            str(host),
            "prove-segments",
            "--bundle",
            str(work / "bundle.json"),
            "--model",
            str(work / "model.json"),
            "--spec",
            str(work / "spec.json"),
            "--subject",
            SUBJECT,
            "--segment-po2",
            str(po2),
            "--segments",
            str(segments),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, RISC0_DEV_MODE="0"),
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,3")
    parser.add_argument("--segment-po2", type=int, default=17)
    parser.add_argument("--segments", type=int, default=1, help="segments proved per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--reuse-builds", action="store_true", help="use the binaries of an earlier run"
    )
    args = parser.parse_args(sys.argv[2:] if sys.argv[1:2] == ["prover_opt_levels"] else None)
    levels = [int(x) for x in args.levels.split(",")]
    target = CACHE / "opt-bench-target"
    bins = CACHE / "opt-bench-bin"
    bins.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        print(f"seeding {target} from the main host build (a copy)", file=sys.stderr)
        shutil.copytree(CACHE / "host-target", target, symlinks=True)
    builds: dict[int, tuple[float, float]] = {}
    for level in levels:
        binary = bins / f"coproc-host-O{level}"
        if args.reuse_builds and binary.exists():
            builds[level] = (float("nan"), float("nan"))
            continue
        print(f"building the kernels at -O{level}", file=sys.stderr, flush=True)
        builds[level] = build_level(level, target, binary)
        print(
            f"  -O{level}: kernels {builds[level][0]:.0f} s, host {builds[level][1]:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    times: dict[int, list[float]] = {level: [] for level in levels}
    rows_per_segment = 1 << args.segment_po2
    with tempfile.TemporaryDirectory(prefix="coproc-opt-bench-") as tmp:
        work = Path(tmp)
        bundle, spec = mainnet_weth()
        for name, doc in (("bundle", bundle), ("spec", spec), ("model", model(1, 0))):
            (work / f"{name}.json").write_text(json.dumps(doc))
        for round_no in range(args.rounds):
            for level in levels:
                result = prove_segments(
                    bins / f"coproc-host-O{level}", work, args.segment_po2, args.segments
                )
                proved = result["proved"]
                assert isinstance(proved, list)
                seconds = sum(
                    float(r["preflight_seconds"]) + float(r["prove_seconds"]) for r in proved
                ) / len(proved)
                times[level].append(seconds)
                print(
                    f"  round {round_no + 1}, -O{level}: {seconds:.1f} s per segment",
                    file=sys.stderr,
                    flush=True,
                )
    base = statistics.median(times[levels[0]])
    rows = []
    for level in levels:
        per_segment = statistics.median(times[level])
        kernels, rest = builds[level]
        rows.append(
            [
                f"-O{level}",
                f"{kernels:,.0f}",
                f"{rest:,.0f}",
                ", ".join(f"{t:.1f}" for t in times[level]),
                f"{per_segment:.1f}",
                f"{per_segment * 1_000_000 / rows_per_segment / 60:.1f}",
                f"{base / per_segment:.2f}",
            ]
        )
    print(
        table(
            f"CPU prover vs rv32im kernel opt-level (segments of 2^{args.segment_po2} rows, "
            f"{args.rounds} rounds, mainnet WETH request)",
            [
                "kernels",
                "kernel build (s)",
                "host rebuild above them (s)",
                "seconds per segment, each round",
                "median s per segment",
                "min per million cycles",
                f"speed vs -O{levels[0]}",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
