"""The engines' own cost: LLM cells per second and CPU per 1,000 cells on a zero-latency mock.

With a provider that answers at once, a run's time is the engine's overhead (plus the
mock's, which is why the mock serves from a child process here, on the other core). The
workload is ``wide`` (five LLM cells a row); the record counts give 1k, 10k and 100k LLM
cells, so the figures show whether the scheduling cost grows faster than the number of
tasks. CPU is the engine thread's own (``time.thread_time``), so it is not blurred by the
load generator or the server.

Run: ``python -m benchmarks.engine_speed [--cells 1000 10000 100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks.generate_cmd import make_executor
from benchmarks.workloads import resolve_workload
from dd_core.loader import load_pipeline

LLM_CELLS_PER_ROW = 5


@contextmanager
def mock_process(latency: float = 0.0) -> Iterator[str]:
    """``python -m mock_provider`` on an ephemeral loopback port; yields its base URL."""
    command = [sys.executable, "-m", "mock_provider", "--port", "0", "--latency", str(latency)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"http://127\.0\.0\.1:\d+/v1", line)
        if match is None:
            raise RuntimeError(f"mock provider did not start: {line.strip()!r}")
        yield match.group(0)
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(engine: str, rows: int, base_url: str) -> tuple[float, float]:
    """(wall seconds, engine CPU seconds) of one run of ``wide`` with ``rows`` rows."""
    pipeline = load_pipeline(resolve_workload("wide")).with_endpoint(base_url)
    pipeline = pipeline.with_settings(buffer_size=1000, row_group_size=1000)
    executor = make_executor(engine, pipeline, tracing=False)
    result = asyncio.run(executor.run(rows))
    if result.rows_kept != rows or not result.snapshot.is_clean:
        raise RuntimeError(f"{engine}: {result.rows_kept}/{rows} rows, {result.snapshot}")
    return result.wall_seconds, result.cpu_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--engines", default="sync,async")
    args = parser.parse_args(argv)

    print(f"{'engine':<6} {'LLM cells':>10} {'wall s':>8} {'cells/s':>9} {'CPU s/1k':>9}")
    with mock_process() as base_url:
        for engine in args.engines.split(","):
            for cells in args.cells:
                rows = max(1, cells // LLM_CELLS_PER_ROW)
                wall, cpu = measure(engine, rows, base_url)
                done = rows * LLM_CELLS_PER_ROW
                print(
                    f"{engine:<6} {done:>10} {wall:8.2f} {done / wall:9.0f} "
                    f"{cpu / done * 1000:9.3f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
