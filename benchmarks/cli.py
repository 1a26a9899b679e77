"""The `ddbench` command: one entry point whose subcommands live in their own modules.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit status. Bad input
is reported as one line on standard error with exit status 2; the command line owns the
terminal, library code only logs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from rich.console import Console

log = logging.getLogger(__name__)

#: Modules that contribute subcommands, in the order ``--help`` lists them.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "mock_provider.cli",
    "benchmarks.generate_cmd",
    "benchmarks.run_cmd",
    "benchmarks.compare_cmd",
    "benchmarks.report_cmd",
    "benchmarks.sim_cmd",
    "benchmarks.plan_cmd",
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


#: Width of tables written to a pipe or a file, where there is no terminal to measure.
PIPE_WIDTH = 160


def stdout_console() -> Console:
    """The console for a command's tables: the terminal's width, or ``PIPE_WIDTH``."""
    return Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)


class CommandError(Exception):
    """Bad input found by a subcommand: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """Assemble the top-level parser from every subcommand module."""
    parser = argparse.ArgumentParser(
        prog="ddbench",
        description="Benchmark and simulate sync vs async LLM synthetic-data pipelines.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def configure_logging(verbosity: int) -> None:
    """Send library logs to standard error; INFO with -v, DEBUG with -vv."""
    level = logging.WARNING
    if verbosity == 1:
        level = logging.INFO
    elif verbosity >= 2:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ddbench``; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)

    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT

    try:
        return int(args.func(args) or EXIT_OK)
    except CommandError as exc:
        print(f"ddbench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"ddbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
