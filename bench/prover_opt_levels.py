"""The CPU prover's speed against the C++ optimisation level of its rv32im kernels.

The rv32im circuit's C++ kernels (``risc0-circuit-rv32im-sys``, every segment proof runs
them) are compiled by a build script at the package's opt-level; ``guest/Cargo.toml``
sets ``-O1``. For each level asked (default 1, 2, 3) this script

1. rebuilds ``coproc-host`` in its own target dir (``$COPROC_CACHE/opt-bench-target``,
   seeded once from the main ``host-target`` so only the kernels and what depends on
   them recompile) with ``--config profile.release.package.risc0-circuit-rv32im-sys.
   opt-level=N``, after ``cargo clean -p risc0-circuit-rv32im-sys`` (a fresh kernel
   build), timing the kernel package alone and the host relink, in wall seconds and in
   CPU seconds (user + system of cargo and the compilers: the cost that does not depend
   on what else the machine runs; builds may then run at low priority beside other
   work). The build figures are kept in ``$COPROC_CACHE/opt-bench-bin/builds.json``
   so that ``--reuse-builds`` can prove with the binaries of an earlier run;
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
import resource
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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_level(level: int, target: Path, out: Path) -> dict[str, float]:
    """A fresh build of the kernels at ``-O<level>`` and the host over them: wall and CPU
    seconds of the kernel package alone and of the rest (the crates above it, the link)."""
    config = f"profile.release.package.{KERNELS}.opt-level={level}"
    env = dict(_cargo_env(target), COPROC_GUEST_ELF=_guest_elf())
    cargo = ["/usr/bin/cargo"]
    guest = REPO / "guest"
    subprocess.run(
        [*cargo, "clean", "--release", "-p", KERNELS, "--quiet"], cwd=guest, env=env, check=True
    )
    start, cpu = time.monotonic(), _children_cpu()
    subprocess.run(
        [*cargo, "build", "--locked", "--release", "-p", KERNELS, "--config", config, "--quiet"],
        cwd=guest,
        env=env,
        check=True,
    )
    kernels, kernels_cpu = time.monotonic() - start, _children_cpu() - cpu
    start, cpu = time.monotonic(), _children_cpu()
    subprocess.run(
        [*cargo, "build", "--locked", "--release", "-p", "coproc-host", "--config", config],
        cwd=guest,
        env=env,
        check=True,
        stderr=subprocess.DEVNULL,
    )
    rest, rest_cpu = time.monotonic() - start, _children_cpu() - cpu
    shutil.copy2(target / "release" / "coproc-host", out)
    return {"kernels": kernels, "kernels_cpu": kernels_cpu, "rest": rest, "rest_cpu": rest_cpu}


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
    parser.add_argument("--build-only", action="store_true", help="build, do not prove")
    parser.add_argument(
        "--prove-only", action="store_true", help="never build (with --reuse-builds)"
    )
    args = parser.parse_args(sys.argv[2:] if sys.argv[1:2] == ["prover_opt_levels"] else None)
    levels = [int(x) for x in args.levels.split(",")]
    target = CACHE / "opt-bench-target"
    bins = CACHE / "opt-bench-bin"
    bins.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        print(f"seeding {target} from the main host build (a copy)", file=sys.stderr)
        shutil.copytree(CACHE / "host-target", target, symlinks=True)
    record = bins / "builds.json"
    builds: dict[str, dict[str, float]] = json.loads(record.read_text()) if record.exists() else {}
    nan = {"kernels": float("nan"), "kernels_cpu": float("nan")}
    nan.update(rest=float("nan"), rest_cpu=float("nan"))
    for level in levels:
        binary = bins / f"coproc-host-O{level}"
        if args.reuse_builds and binary.exists():
            builds.setdefault(str(level), nan)
            continue
        if args.prove_only:
            continue
        print(f"building the kernels at -O{level}", file=sys.stderr, flush=True)
        builds[str(level)] = build_level(level, target, binary)
        record.write_text(json.dumps(builds, indent=2) + "\n")
        built = builds[str(level)]
        print(
            f"  -O{level}: kernels {built['kernels']:.0f} s ({built['kernels_cpu']:.0f} s CPU),"
            f" host {built['rest']:.0f} s ({built['rest_cpu']:.0f} s CPU)",
            file=sys.stderr,
            flush=True,
        )
    if args.build_only:
        return
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
        built = builds.get(str(level), nan)
        rows.append(
            [
                f"-O{level}",
                f"{built['kernels_cpu']:,.0f} ({built['kernels']:,.0f})",
                f"{built['rest_cpu']:,.0f} ({built['rest']:,.0f})",
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
                "kernel build, CPU s (wall s)",
                "host rebuild above them, CPU s (wall s)",
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
