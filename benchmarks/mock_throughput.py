"""How fast the mock provider is: request rate beside a bare aiohttp handler, added latency.

Run with ``python -m benchmarks.mock_throughput``. Each server runs in its own child
process (``python -m mock_provider`` and this module's ``--bare-server``), so the load
generator here has its own interpreter and event loop; on a 2-core machine the client and
the server get about one core each. The same load generator (raw HTTP/1.1 over asyncio
streams, one keep-alive connection per worker) drives both servers.

To show which side sets the pace, each point also prints the server's CPU time per request
(from ``/proc/PID/stat``, Linux only) and the share of a core that server and client used:
a server near 100 % and a client well below it means the rate is the server's. CPU per
request also holds up better than the rate when other jobs share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from aiohttp import web

#: The body a bare handler returns: the shape and size of a mock completion.
BARE_BODY = json.dumps(
    {
        "id": "chatcmpl-000000001",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " ".join(["word"] * 16)},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 16, "total_tokens": 19},
    }
).encode()


def serve_bare(port: int = 0, latency: float = 0.0) -> None:
    """A bare aiohttp app that reads the body and answers the same JSON every time.

    A standard ``web.Application`` with one route and default settings (garbage collector
    included): the usual way to write an aiohttp handler. The mock it is compared with
    serves from aiohttp's low-level ``web.Server`` and tunes the collector (its CLI does).

    With ``latency`` it sleeps that long first: the floor of added latency that asyncio,
    aiohttp and this machine give any sleeping handler, to read the mock's figure against.
    """

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        if latency:
            await asyncio.sleep(latency)
        return web.Response(body=BARE_BODY, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        print(f"http://127.0.0.1:{runner.addresses[0][1]}/v1", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


def _server_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process ``pid``, or None off Linux."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(
    proc: subprocess.Popen[str], url: str, concurrency: int, seconds: float, stagger: float = 0.0
) -> tuple[dict[str, float], list[float]]:
    """One load point: rate, latencies' count, server CPU per request, CPU shares."""
    server0, client0, wall0 = _server_cpu(proc.pid), _own_cpu(), time.perf_counter()
    rate, latencies = asyncio.run(load(url, concurrency, seconds, stagger=stagger))
    server1, client1, wall1 = _server_cpu(proc.pid), _own_cpu(), time.perf_counter()
    wall = wall1 - wall0
    out = {"rate": rate, "client_share": (client1 - client0) / wall}
    if server0 is not None and server1 is not None:
        # Warm-up requests are in the CPU time too; count them at the measured rate.
        served = rate * wall
        out["server_us"] = (server1 - server0) / max(served, 1.0) * 1e6
        out["server_share"] = (server1 - server0) / wall
    return out, latencies


def _cpu_note(point: dict[str, float]) -> str:
    if "server_us" not in point:
        return f"client {point['client_share']:.0%} of a core"
    return (
        f"server {point['server_us']:.0f} us CPU/req ({point['server_share']:.0%} of a core), "
        f"client {point['client_share']:.0%}"
    )


def _spawn(argv: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


async def load(
    url: str, concurrency: int, seconds: float, *, stagger: float = 0.0
) -> tuple[float, list[float]]:
    """Keep ``concurrency`` requests in flight for ``seconds``; return (rate, latencies).

    Each worker owns one keep-alive connection and speaks HTTP/1.1 over asyncio streams,
    which costs the client a fraction of what a full HTTP client would, so the server, not
    the load generator, sets the pace. ``stagger`` spreads the workers' first requests over
    that many seconds, so a fixed latency does not march every request in lockstep.
    """
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    latencies: list[float] = []
    counter = iter(range(10**9))

    def request() -> bytes:
        content = f"question {next(counter)}"
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": content}]})
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return (head + body).encode()

    async def worker(index: int, deadline: float, record: bool) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        await asyncio.sleep(stagger * index / concurrency)
        try:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                writer.write(request())
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"{head[:40]!r} from {url}")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                if record:
                    latencies.append(time.perf_counter() - began)
        finally:
            writer.close()

    warmup = time.perf_counter() + 0.5 + stagger
    await asyncio.gather(*(worker(i, warmup, False) for i in range(concurrency)))
    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(*(worker(i, deadline, True) for i in range(concurrency)))
    elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, latencies


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


def run(seconds: float) -> dict[str, float]:
    """The whole measurement; returns the figures it prints."""
    python = sys.executable
    results: dict[str, float] = {}
    mock, mock_url = _spawn([python, "-m", "mock_provider", "--port", "0", "--latency", "0"])
    bare, bare_url = _spawn([python, "-m", "benchmarks.mock_throughput", "--bare-server"])
    try:
        for concurrency in (64, 256):
            mock_point, _ = measure(mock, mock_url, concurrency, seconds)
            bare_point, _ = measure(bare, bare_url, concurrency, seconds)
            mock_rate, bare_rate = mock_point["rate"], bare_point["rate"]
            results[f"mock_rps_{concurrency}"] = mock_rate
            results[f"bare_rps_{concurrency}"] = bare_rate
            results[f"ratio_{concurrency}"] = mock_rate / bare_rate
            if "server_us" in mock_point and "server_us" in bare_point:
                results[f"mock_us_{concurrency}"] = mock_point["server_us"]
                results[f"bare_us_{concurrency}"] = bare_point["server_us"]
                results[f"cpu_ratio_{concurrency}"] = (
                    bare_point["server_us"] / mock_point["server_us"]
                )
            print(
                f"{concurrency:>4} clients: mock {mock_rate:8.0f} req/s, bare {bare_rate:8.0f} "
                f"req/s, ratio {mock_rate / bare_rate:.2f}",
                flush=True,
            )
            print(f"      mock: {_cpu_note(mock_point)}", flush=True)
            print(f"      bare: {_cpu_note(bare_point)}", flush=True)
            if f"cpu_ratio_{concurrency}" in results:
                print(
                    f"      CPU-per-request ratio (bare/mock): "
                    f"{results[f'cpu_ratio_{concurrency}']:.2f}",
                    flush=True,
                )
    finally:
        _stop(mock)
        _stop(bare)

    latency = 0.1
    servers = {
        "mock": [python, "-m", "mock_provider", "--port", "0", "--latency", str(latency)],
        "bare": [python, "-m", "benchmarks.mock_throughput", "--bare-server", "--bare-latency"]
        + [str(latency)],
    }
    for name, argv in servers.items():
        proc, url = _spawn(argv)
        try:
            point, latencies = measure(proc, url, 256, seconds, stagger=latency)
        finally:
            _stop(proc)
        added = [value - latency for value in latencies]
        prefix = "added" if name == "mock" else "bare_added"
        results[f"{prefix}_p50_ms"] = _percentile(added, 50) * 1000
        results[f"{prefix}_p99_ms"] = _percentile(added, 99) * 1000
        print(
            f"latency 100 ms, 256 in flight, {name} ({point['rate']:.0f} req/s): added p50 "
            f"{results[f'{prefix}_p50_ms']:.2f} ms, p99 {results[f'{prefix}_p99_ms']:.2f} ms "
            f"({_cpu_note(point)})",
            flush=True,
        )
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mock_throughput")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per point")
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare-latency", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_server:
        serve_bare(latency=args.bare_latency)
        return 0
    run(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
