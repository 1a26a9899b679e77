"""Fault injection: which fault, if any, the n-th sighting of a request gets.

The draw is a pure function of (fingerprint, n), n counting how many times this server has
seen the fingerprint, so a run is reproducible and a retried request gets a fresh draw: a
request that failed once is not doomed to fail for ever.

Known limit: the sighting counter keeps one entry per distinct request for the life of the
server (about 100 bytes each); the server counts only requests to models with a fault rate.
"""

from __future__ import annotations

from mock_provider.determinism import unit
from mock_provider.profile import FaultProfile


def choose_fault(faults: FaultProfile, u: float) -> str | None:
    """The fault kind that a uniform draw ``u`` in [0, 1) falls on, or None."""
    edge = 0.0
    for kind, rate in faults.rates():
        edge += rate
        if u < edge:
            return kind
    return None


def fault_for(faults: FaultProfile, fp: bytes, n: int) -> str | None:
    """The fault for the n-th sighting (from 0) of the request with fingerprint ``fp``."""
    if not faults.any:
        return None
    return choose_fault(faults, unit(fp, "fault", n))


class SightingCounter:
    """Counts how many times each fingerprint has been seen."""

    def __init__(self) -> None:
        self._seen: dict[bytes, int] = {}

    def next(self, fp: bytes) -> int:
        """The index of this sighting (0 the first time), counting it."""
        n = self._seen.get(fp, 0)
        self._seen[fp] = n + 1
        return n

    def clear(self) -> None:
        self._seen.clear()
