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
from json.encoder import encode_basestring
from typing import Any

_UNIT = float(1 << 64)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(seed: int, model: str, messages: Sequence[Any]) -> str:
    """``[seed, model, messages]`` as compact JSON with sorted keys (what is hashed).

    Messages that are exactly ``{"role": str, "content": str}`` (nearly every request) are
    rendered by hand, which is several times cheaper than the general encoder and gives the
    same text; anything else goes through the encoder.
    """
    parts = []
    for message in messages:
        if type(message) is not dict or len(message) != 2:
            break
        role = message.get("role")
        content = message.get("content")
        if type(role) is not str or type(content) is not str:
            break
        parts.append(
            '{"content":' + encode_basestring(content) + ',"role":' + encode_basestring(role) + "}"
        )
    else:
        if type(seed) is int and type(model) is str:
            return f"[{seed},{encode_basestring(model)},[{','.join(parts)}]]"
    return _CANONICAL.encode([seed, model, messages])


def fingerprint(seed: int, model: str, messages: Sequence[Any]) -> bytes:
    """A stable 32-byte digest of (seed, model, messages)."""
    return hashlib.sha256(canonical_json(seed, model, messages).encode("utf-8")).digest()


def rng(fp: bytes, purpose: str) -> random.Random:
    """A ``random.Random`` seeded by the fingerprint and a purpose (``"latency"``, ...)."""
    digest = hashlib.sha256(fp + purpose.encode("ascii")).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def unit(fp: bytes, purpose: str, n: int = 0) -> float:
    """A uniform number in [0, 1) for the n-th draw of ``purpose`` on this fingerprint."""
    digest = hashlib.sha256(fp + f"{purpose}:{n}".encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") / _UNIT
