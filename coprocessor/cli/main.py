"""The ``coproc`` command line. Each command group lives in ``coprocessor.cli.commands``
and registers itself here; user errors print one line and exit non-zero."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from coprocessor.errors import CoprocessorError

#: modules under coprocessor.cli.commands that provide ``register(subparsers)``
COMMAND_MODULES: tuple[str, ...] = (
    "bridge",
    "contracts",
    "db",
    "demo",
    "demo_rocky",
    "devnet",
    "features",
    "index",
    "inspect",
    "model",
    "serve",
    "prove",
    "watch",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="coproc",
        description="Verifiable risk scores from proven Ethereum data.",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data directory (default: $COPROC_DATA_DIR or ./.coproc)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"coprocessor.cli.commands.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``coproc`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CoprocessorError as exc:
        print(f"coproc: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("coproc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
