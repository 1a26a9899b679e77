"""Counters of served requests, and their Prometheus text rendering."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

#: Upper bounds (seconds) of the latency histogram's buckets.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


class Metrics:
    """Requests by model and status, in flight, 429s, and a latency histogram per model."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.in_flight = 0
        self.rate_limited: dict[str, int] = defaultdict(int)
        self._hist: dict[str, list[int]] = {}
        self._sum: dict[str, float] = defaultdict(float)

    def observe(self, model: str, status: int, seconds: float) -> None:
        self.requests[model, status] += 1
        if status == 429:
            self.rate_limited[model] += 1
        hist = self._hist.get(model)
        if hist is None:
            hist = self._hist[model] = [0] * (len(LATENCY_BUCKETS) + 1)
        hist[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._sum[model] += seconds

    def by_model(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for (model, status), count in sorted(self.requests.items()):
            out[model][str(status)] = count
        return dict(out)

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        lines = [
            "# HELP mock_requests_total Requests served, by model and HTTP status.",
            "# TYPE mock_requests_total counter",
        ]
        for (model, status), count in sorted(self.requests.items()):
            lines.append(f'mock_requests_total{{model="{_esc(model)}",status="{status}"}} {count}')
        lines += [
            "# HELP mock_in_flight Requests being served now.",
            "# TYPE mock_in_flight gauge",
            f"mock_in_flight {self.in_flight}",
            "# HELP mock_rate_limited_total Requests answered 429, by model.",
            "# TYPE mock_rate_limited_total counter",
        ]
        for model, count in sorted(self.rate_limited.items()):
            lines.append(f'mock_rate_limited_total{{model="{_esc(model)}"}} {count}')
        lines += [
            "# HELP mock_request_seconds Time from arrival to the last byte, by model.",
            "# TYPE mock_request_seconds histogram",
        ]
        for model, hist in sorted(self._hist.items()):
            label = _esc(model)
            running = 0
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), hist, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'mock_request_seconds_bucket{{model="{label}",le="{le}"}} {running}')
            lines.append(f'mock_request_seconds_sum{{model="{label}"}} {self._sum[model]:.6f}')
            lines.append(f'mock_request_seconds_count{{model="{label}"}} {running}')
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
