"""Latency and output-length sampling, and the self-hosted service-time formula.

These are pure functions of a fingerprint and a profile, so the simulator can call them
to reproduce exactly what the mock would do with the same request.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from mock_provider.determinism import rng
from mock_provider.profile import Distribution, ModelProfile


@dataclass(frozen=True)
class ServicePlan:
    """What serving one request takes: its output length and its unloaded timing."""

    completion_tokens: int
    #: ``length`` when the request's ``max_tokens`` cut the sampled length short.
    finish_reason: str
    ttft: float
    per_token: float

    @property
    def service_time(self) -> float:
        """Seconds from service start to the last token, before any self-hosted slowdown."""
        return self.ttft + self.completion_tokens * self.per_token


def sample(dist: Distribution, r: random.Random | None) -> float:
    """One draw of ``dist`` (never negative); ``r`` may be None for a ``fixed`` one."""
    kind = dist.dist
    if kind == "fixed":
        return dist.value
    if kind == "uniform":
        value = r.uniform(dist.low, dist.high)
    elif kind == "lognormal":
        value = r.lognormvariate(math.log(dist.median), dist.sigma)
    else:
        value = r.betavariate(dist.a, dist.b) * dist.scale
    return max(0.0, value + dist.offset)


def plan_service(model: ModelProfile, fp: bytes, max_tokens: int | None = None) -> ServicePlan:
    """The output length and timing of a request, a pure function of its fingerprint."""
    # A fixed distribution draws nothing, so when all three are fixed no stream is needed
    # (seeding one is most of the cost) and the draws of the others are unchanged.
    fixed = (
        model.output.tokens.dist == "fixed"
        and model.latency.ttft.dist == "fixed"
        and model.latency.per_token.dist == "fixed"
    )
    r = None if fixed else rng(fp, "service")
    sampled = max(1, round(sample(model.output.tokens, r)))
    ttft = sample(model.latency.ttft, r)
    per_token = sample(model.latency.per_token, r)

    if model.output.mode == "max_tokens" and max_tokens is not None:
        return ServicePlan(max_tokens, "length", ttft, per_token)
    if max_tokens is not None and sampled > max_tokens:
        return ServicePlan(max_tokens, "length", ttft, per_token)
    return ServicePlan(sampled, "stop", ttft, per_token)


def self_hosted_factor(busy: int, slowdown: float) -> float:
    """How much slower a request runs when ``busy`` slots (itself included) are in use."""
    return 1.0 + slowdown * (max(busy, 1) - 1)


def self_hosted_service(base_seconds: float, busy: int, slowdown: float) -> float:
    """Service time = base x (1 + slowdown x (busy - 1)), fixed at service start."""
    return base_seconds * self_hosted_factor(busy, slowdown)
