"""The request fingerprint and the deterministic random streams derived from it.

Everything the mock decides about a request (text, length, latency, faults) comes from a
SHA-256 of (seed, model, messages), never from Python's salted ``hash()``, so the same
request gets the same answer in every run and every process.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from typing import Any

_UNIT = float(1 << 64)


def fingerprint(seed: int, model: str, messages: Sequence[Any]) -> bytes:
    """A stable 32-byte digest of (seed, model, messages)."""
    canonical = json.dumps(
        [seed, model, messages], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).digest()


def rng(fp: bytes, purpose: str) -> random.Random:
    """A ``random.Random`` seeded by the fingerprint and a purpose (``"latency"``, ...)."""
    digest = hashlib.sha256(fp + purpose.encode("ascii")).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def unit(fp: bytes, purpose: str, n: int = 0) -> float:
    """A uniform number in [0, 1) for the n-th draw of ``purpose`` on this fingerprint."""
    digest = hashlib.sha256(fp + f"{purpose}:{n}".encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") / _UNIT
