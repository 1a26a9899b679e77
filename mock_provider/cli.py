"""``ddbench serve`` and ``python -m mock_provider``: run the mock until SIGINT or SIGTERM.

On start the base URL (``http://HOST:PORT/v1``) is printed alone on the first line of
standard output, so a parent process can read it. Bad options or a bad profile: one line on
standard error and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from mock_provider.embedded import MockProvider
from mock_provider.profile import ProfileError, load_profile

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_BAD_INPUT = 2
#: Seconds between rewrites of the request log file while serving.
LOG_FLUSH_SECONDS = 5.0
#: Allocations between young-generation collections while serving (CPython's default: 700).
GC_YOUNG_THRESHOLD = 10_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (0)")
    parser.add_argument("--profile", type=Path, help="provider profile (YAML)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every answer (0)")
    parser.add_argument("--request-log", type=Path, help="write requests to FILE (.csv/.parquet)")
    parser.add_argument("--latency", type=float, help="fixed latency in seconds, every model")
    parser.add_argument("--max-concurrency", type=int, help="concurrency cap (429), every model")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand to ``ddbench``."""
    parser = subparsers.add_parser(
        "serve",
        help="run the mock OpenAI-compatible provider",
        description="Run the mock OpenAI-compatible provider until interrupted.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Validate the options, then serve until SIGINT/SIGTERM; return the exit status."""
    prog = "serve"
    try:
        provider = _provider(args)
    except (ProfileError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    try:
        asyncio.run(_serve(provider, args.request_log))
    except OSError as exc:
        print(
            f"{prog}: error: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_OK


def _provider(args: argparse.Namespace) -> MockProvider:
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port: {args.port} is not a port number (0-65535)")
    if args.latency is not None and not args.latency >= 0:
        raise ValueError(f"--latency: {args.latency} must be a number of seconds >= 0")
    if args.max_concurrency is not None and args.max_concurrency < 1:
        raise ValueError(f"--max-concurrency: {args.max_concurrency} must be >= 1")
    if args.request_log is not None and args.request_log.suffix not in (".csv", ".parquet"):
        raise ValueError(f"--request-log: {str(args.request_log)!r} must end in .csv or .parquet")
    profile = load_profile(args.profile).with_overrides(
        latency=args.latency, max_concurrency=args.max_concurrency
    )
    return MockProvider(profile, seed=args.seed, host=args.host, port=args.port)


async def _serve(provider: MockProvider, request_log: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    await provider.start()
    tune_gc()
    print(provider.base_url, flush=True)
    flusher = (
        asyncio.create_task(_flush_periodically(provider, request_log)) if request_log else None
    )
    try:
        await stop.wait()
    finally:
        if flusher is not None:
            flusher.cancel()
        await provider.stop()
        if request_log is not None:
            provider.request_log.write(request_log)
            log.info("wrote %d request records to %s", len(provider.request_log), request_log)


async def _flush_periodically(provider: MockProvider, path: Path) -> None:
    written = -1
    while True:
        await asyncio.sleep(LOG_FLUSH_SECONDS)
        if len(provider.request_log) != written:
            written = len(provider.request_log)
            await asyncio.to_thread(provider.request_log.write, path)


def tune_gc() -> None:
    """Make the garbage collector cheap per request in a process that only serves the mock.

    Under load, aiohttp and asyncio allocate so that CPython's default young-generation
    threshold (700) runs a collection every few dozen requests, each costing far more than
    its size suggests: about 12 us a request at 256 connections, for the mock and a bare
    aiohttp handler alike (measured with ``gc.callbacks``). A threshold of 10,000 brings
    that to about 2 us; ``gc.freeze()`` moves what start-up created (imports: about 80,000
    objects) out of the full collections. Cyclic garbage is still collected. Process-wide,
    so only the CLI does it, never ``MockProvider`` inside a caller's process. Known limit:
    a young collection then pauses the loop for a few milliseconds about once a second at
    full load.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mock_provider``: the ``serve`` options at top level."""
    parser = argparse.ArgumentParser(
        prog="python -m mock_provider",
        description="Run the mock OpenAI-compatible provider until interrupted.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0)
    add_arguments(parser)
    args = parser.parse_args(argv)
    level = (
        logging.WARNING
        if not args.verbose
        else (logging.INFO if args.verbose == 1 else logging.DEBUG)
    )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_serve(args)
