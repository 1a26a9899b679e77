"""Peak memory of the async executor at 10k vs 100k records: bounded by row groups in flight.

Runs the narrow workload against an embedded zero-latency mock provider, in a fresh child
process per record count (so one run's heap does not inflate the next), with tracing off
and row groups written to a temporary folder, and reports each child's peak RSS
(``ru_maxrss``). Run it as ``python -m benchmarks.async_memory [--records 10000 100000]``.
A bounded engine shows nearly the same peak for both counts; the rows themselves are on
disk, and only the final read-back of the dataset grows with the record count, so the
child measures the peak before that read-back too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time

from benchmarks.workloads import resolve_workload
from dd_core.executors.async_ import AsyncExecutor
from dd_core.executors.common import NullObserver
from dd_core.loader import load_pipeline
from mock_provider import MockProvider, load_profile


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakAtLastGroup(NullObserver):
    """Notes the peak RSS when the last rows are handed to the writer.

    It also empties the mock's in-memory request log after each row group: the mock runs
    in this process, and its log (one record per request) is not the engine's memory.
    """

    def __init__(self, records: int) -> None:
        self.records = records
        self.rows = 0
        self.peak_before_read = 0.0
        self.mock: MockProvider | None = None

    def on_rows_written(self, rows: int) -> None:
        self.rows += rows
        if self.mock is not None:
            self.mock.request_log.clear()
        if self.rows >= self.records:
            self.peak_before_read = peak_rss_mib()


async def measure(records: int, workload: str, group_size: int) -> dict:
    observer = PeakAtLastGroup(records)
    async with MockProvider(load_profile(None), seed=0) as mock:
        observer.mock = mock
        pipeline = load_pipeline(resolve_workload(workload)).with_endpoint(mock.base_url)
        pipeline = pipeline.with_settings(row_group_size=group_size)
        with tempfile.TemporaryDirectory() as out_dir:
            started = time.perf_counter()
            result = await AsyncExecutor(
                pipeline, out_dir=out_dir, tracing=False, observer=observer
            ).run(records)
            elapsed = time.perf_counter() - started
    return {
        "records": records,
        "rows_kept": result.rows_kept,
        "seconds": round(elapsed, 1),
        "peak_rss_mib_before_read_back": round(observer.peak_before_read, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "clean": result.snapshot.is_clean,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workload", default="narrow")
    parser.add_argument("--row-group-size", type=int, default=1000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        figures = asyncio.run(measure(args.records[0], args.workload, args.row_group_size))
        print(json.dumps(figures))
        return 0

    for records in args.records:
        command = [sys.executable, "-m", "benchmarks.async_memory", "--child"]
        command += ["--records", str(records), "--workload", args.workload]
        command += ["--row-group-size", str(args.row_group_size)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        print(output.strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
