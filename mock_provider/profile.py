"""The provider profile: how the mock behaves, per model and for the whole server.

A profile is plain frozen dataclasses, loaded from YAML or a dict by ``load_profile``. The
simulator (dd_sim) reads the same objects to model the same provider, so every field here
has one documented meaning (see docs/mock_provider.md). A model section inherits from the
``default`` section key by key (nested mappings merge; a distribution replaces wholesale).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DISTRIBUTIONS: tuple[str, ...] = ("fixed", "uniform", "lognormal", "beta")
OUTPUT_MODES: tuple[str, ...] = ("sample", "max_tokens")
FAULT_KINDS: tuple[str, ...] = (
    "error_500",
    "error_502",
    "error_503",
    "error_504",
    "hang",
    "drop",
    "malformed",
    "empty",
)
DEFAULT_MAX_BODY_BYTES = 1 << 20


class ProfileError(ValueError):
    """A profile is invalid; the message names the field, the value and what is valid."""


@dataclass(frozen=True)
class Distribution:
    """A non-negative random quantity (seconds or tokens).

    ``fixed``: ``value``. ``uniform``: between ``low`` and ``high``. ``lognormal``: median
    ``median`` and log-space standard deviation ``sigma``. ``beta``: ``beta(a, b) * scale +
    offset``. ``offset`` is added for every kind but ``fixed``.
    """

    dist: str = "fixed"
    value: float = 0.0
    low: float = 0.0
    high: float = 0.0
    median: float = 0.0
    sigma: float = 0.0
    a: float = 1.0
    b: float = 1.0
    scale: float = 1.0
    offset: float = 0.0

    @classmethod
    def fixed(cls, value: float) -> Distribution:
        return cls(dist="fixed", value=float(value))

    def mean(self) -> float:
        """The expected value, for planning and for the simulator's fluid estimates."""
        if self.dist == "fixed":
            return self.value
        if self.dist == "uniform":
            return (self.low + self.high) / 2 + self.offset
        if self.dist == "lognormal":
            return self.median * math.exp(self.sigma**2 / 2) + self.offset
        return self.a / (self.a + self.b) * self.scale + self.offset


@dataclass(frozen=True)
class LatencyProfile:
    """Service time = ``ttft`` + output tokens x ``per_token`` (each sampled once a request)."""

    ttft: Distribution = field(default_factory=Distribution)
    per_token: Distribution = field(default_factory=Distribution)


@dataclass(frozen=True)
class OutputProfile:
    """How many tokens a completion has.

    ``sample``: drawn from ``tokens`` and capped by the request's ``max_tokens`` (finish
    reason ``length`` when capped). ``max_tokens``: exactly the request's ``max_tokens``,
    or a draw from ``tokens`` when the request gives none.
    """

    tokens: Distribution = field(default_factory=lambda: Distribution.fixed(16))
    mode: str = "sample"


@dataclass(frozen=True)
class SelfHostedProfile:
    """A throughput-bound server: ``slots`` served at once, the rest wait in FIFO order.

    Service time = sampled latency x (1 + ``slowdown`` x (busy - 1)), busy being the slots
    in use at service start, this request included (see ``latency.self_hosted_service``).
    """

    slots: int = 1
    slowdown: float = 0.0


@dataclass(frozen=True)
class CapacityProfile:
    """Limits of one scope (a model, or the whole server); ``None`` means unlimited.

    Exceeding ``max_concurrency``, ``rpm`` or ``tpm`` answers 429. ``retry_after`` is the
    ``Retry-After`` sent for a concurrency-cap 429 (a bucket 429 sends its refill time).
    """

    max_concurrency: int | None = None
    rpm: float | None = None
    tpm: float | None = None
    retry_after: float = 1.0
    self_hosted: SelfHostedProfile | None = None

    @property
    def limited(self) -> bool:
        return any(
            v is not None for v in (self.max_concurrency, self.rpm, self.tpm, self.self_hosted)
        )


@dataclass(frozen=True)
class FaultProfile:
    """Probability per request of each fault kind (0 by default); their sum is at most 1."""

    error_500: float = 0.0
    error_502: float = 0.0
    error_503: float = 0.0
    error_504: float = 0.0
    hang: float = 0.0
    drop: float = 0.0
    malformed: float = 0.0
    empty: float = 0.0
    #: How long a ``hang`` holds the connection before closing it without an answer.
    hang_seconds: float = 30.0

    @functools.cached_property
    def _rates(self) -> tuple[tuple[str, float], ...]:
        return tuple((kind, getattr(self, kind)) for kind in FAULT_KINDS)

    def rates(self) -> tuple[tuple[str, float], ...]:
        """(kind, rate) pairs in ``FAULT_KINDS`` order."""
        return self._rates

    @functools.cached_property
    def any(self) -> bool:
        return any(rate > 0 for _, rate in self._rates)


@dataclass(frozen=True)
class ModelProfile:
    """Everything the mock does for one model."""

    latency: LatencyProfile = field(default_factory=LatencyProfile)
    output: OutputProfile = field(default_factory=OutputProfile)
    capacity: CapacityProfile = field(default_factory=CapacityProfile)
    faults: FaultProfile = field(default_factory=FaultProfile)


@dataclass(frozen=True)
class Profile:
    """The whole provider: per-model behaviour, server-wide limits, access rules."""

    default: ModelProfile = field(default_factory=ModelProfile)
    models: Mapping[str, ModelProfile] = field(default_factory=dict)
    #: Limits shared by every model (one endpoint serving several models).
    server: CapacityProfile = field(default_factory=CapacityProfile)
    #: When true, a model not in ``models`` gets 404; otherwise it gets ``default``.
    models_only: bool = False
    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def model(self, name: str) -> ModelProfile | None:
        """The profile serving ``name``, or None when the model is unknown."""
        found = self.models.get(name)
        if found is not None:
            return found
        return None if self.models_only else self.default

    @classmethod
    def fixed(cls, latency: float = 0.0, max_concurrency: int | None = None) -> Profile:
        """A profile with one fixed latency (as time to first token) and an optional cap."""
        return cls().with_overrides(latency=latency, max_concurrency=max_concurrency)

    def with_overrides(
        self, *, latency: float | None = None, max_concurrency: int | None = None
    ) -> Profile:
        """This profile with a fixed latency and/or a concurrency cap forced on every model."""

        def override(model: ModelProfile) -> ModelProfile:
            if latency is not None:
                fixed = LatencyProfile(ttft=Distribution.fixed(latency))
                model = dataclasses.replace(model, latency=fixed)
            if max_concurrency is not None:
                capacity = dataclasses.replace(model.capacity, max_concurrency=max_concurrency)
                model = dataclasses.replace(model, capacity=capacity)
            return model

        return dataclasses.replace(
            self,
            default=override(self.default),
            models={name: override(m) for name, m in self.models.items()},
        )


# --- loading -------------------------------------------------------------------------


def load_profile(source: str | Path | Mapping[str, Any] | Profile | None) -> Profile:
    """Build a ``Profile`` from a YAML file path, a mapping, or pass a Profile through."""
    if source is None:
        return Profile()
    if isinstance(source, Profile):
        return source
    if isinstance(source, str | Path):
        try:
            data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ProfileError(f"profile: cannot read {str(source)!r}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            detail = " ".join(str(exc).split())
            raise ProfileError(f"profile: {str(source)!r} is not valid YAML: {detail}") from exc
        data = {} if data is None else data
    else:
        data = source
    return _profile(_mapping(data, "profile"))


_TOP_KEYS = ("default", "models", "server", "models_only", "api_key", "max_body_bytes")
_MODEL_KEYS = ("latency", "output", "capacity", "faults")


def _profile(data: Mapping[str, Any]) -> Profile:
    _known(data, _TOP_KEYS, "profile")
    default_raw = _mapping(data.get("default", {}), "profile.default")
    models_raw = _mapping(data.get("models", {}), "profile.models")

    models = {}
    for name, raw in models_raw.items():
        where = f"profile.models.{name}"
        merged = _merge(default_raw, _mapping(raw if raw is not None else {}, where))
        models[str(name)] = _model(merged, where)

    api_key = data.get("api_key")
    if api_key is not None and not (isinstance(api_key, str) and api_key):
        raise ProfileError(f"profile.api_key: {api_key!r} is not a non-empty string")
    return Profile(
        default=_model(default_raw, "profile.default"),
        models=models,
        server=_capacity(data.get("server", {}), "profile.server"),
        models_only=_bool(data.get("models_only", False), "profile.models_only"),
        api_key=api_key,
        max_body_bytes=int(
            _number(
                data.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES),
                "profile.max_body_bytes",
                minimum=1,
                integer=True,
            )
        ),
    )


def _model(data: Mapping[str, Any], where: str) -> ModelProfile:
    _known(data, _MODEL_KEYS, where)
    latency = _mapping(data.get("latency", {}), f"{where}.latency")
    _known(latency, ("ttft", "per_token"), f"{where}.latency")
    output = _mapping(data.get("output", {}), f"{where}.output")
    _known(output, ("tokens", "mode"), f"{where}.output")
    mode = output.get("mode", "sample")
    if mode not in OUTPUT_MODES:
        raise ProfileError(
            f"{where}.output.mode: unknown mode {mode!r}; expected one of {', '.join(OUTPUT_MODES)}"
        )
    return ModelProfile(
        latency=LatencyProfile(
            ttft=_distribution(latency.get("ttft", 0.0), f"{where}.latency.ttft"),
            per_token=_distribution(latency.get("per_token", 0.0), f"{where}.latency.per_token"),
        ),
        output=OutputProfile(
            tokens=_distribution(output.get("tokens", 16), f"{where}.output.tokens"),
            mode=mode,
        ),
        capacity=_capacity(data.get("capacity", {}), f"{where}.capacity"),
        faults=_faults(data.get("faults", {}), f"{where}.faults"),
    )


_DIST_FIELDS = {
    "fixed": ("value",),
    "uniform": ("low", "high", "offset"),
    "lognormal": ("median", "sigma", "offset"),
    "beta": ("a", "b", "scale", "offset"),
}


def _distribution(raw: Any, where: str) -> Distribution:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return Distribution.fixed(_number(raw, where, minimum=0))
    data = _mapping(raw, where)
    kind = data.get("dist")
    if kind not in DISTRIBUTIONS:
        raise ProfileError(
            f"{where}.dist: unknown distribution {kind!r}; "
            f"expected one of {', '.join(DISTRIBUTIONS)}"
        )
    allowed = _DIST_FIELDS[kind]
    _known(data, ("dist", *allowed), where)
    required = [name for name in allowed if name != "offset" and name not in ("scale",)]
    for name in required:
        if name not in data:
            raise ProfileError(f"{where}.{name}: missing; a {kind} distribution needs it")
    values = {
        name: _number(data[name], f"{where}.{name}", minimum=0) for name in allowed if name in data
    }
    dist = Distribution(dist=kind, **values)
    if kind == "uniform" and dist.high < dist.low:
        raise ProfileError(f"{where}.high: {dist.high} is below low {dist.low}")
    if kind == "beta" and (dist.a <= 0 or dist.b <= 0):
        raise ProfileError(f"{where}: beta needs a > 0 and b > 0, got a={dist.a}, b={dist.b}")
    if kind == "lognormal" and dist.median <= 0:
        raise ProfileError(f"{where}.median: {dist.median} must be > 0")
    return dist


def _capacity(raw: Any, where: str) -> CapacityProfile:
    data = _mapping(raw if raw is not None else {}, where)
    _known(data, ("max_concurrency", "rpm", "tpm", "retry_after", "self_hosted"), where)
    values: dict[str, Any] = {}
    if data.get("max_concurrency") is not None:
        values["max_concurrency"] = int(
            _number(data["max_concurrency"], f"{where}.max_concurrency", minimum=1, integer=True)
        )
    for name in ("rpm", "tpm"):
        if data.get(name) is not None:
            values[name] = _number(data[name], f"{where}.{name}", minimum=1e-9)
    if "retry_after" in data:
        values["retry_after"] = _number(data["retry_after"], f"{where}.retry_after", minimum=0)
    if data.get("self_hosted") is not None:
        sh = _mapping(data["self_hosted"], f"{where}.self_hosted")
        _known(sh, ("slots", "slowdown"), f"{where}.self_hosted")
        values["self_hosted"] = SelfHostedProfile(
            slots=int(
                _number(sh.get("slots", 1), f"{where}.self_hosted.slots", minimum=1, integer=True)
            ),
            slowdown=_number(sh.get("slowdown", 0.0), f"{where}.self_hosted.slowdown", minimum=0),
        )
    return CapacityProfile(**values)


def _faults(raw: Any, where: str) -> FaultProfile:
    data = _mapping(raw if raw is not None else {}, where)
    _known(data, (*FAULT_KINDS, "hang_seconds"), where)
    values = {}
    for kind in FAULT_KINDS:
        if kind in data:
            values[kind] = _number(data[kind], f"{where}.{kind}", minimum=0, maximum=1)
    if "hang_seconds" in data:
        values["hang_seconds"] = _number(data["hang_seconds"], f"{where}.hang_seconds", minimum=0)
    faults = FaultProfile(**values)
    total = sum(rate for _, rate in faults.rates())
    if total > 1 + 1e-9:
        raise ProfileError(f"{where}: fault rates sum to {total:g}; the sum must be at most 1")
    return faults


# --- small validators ----------------------------------------------------------------


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping) and "dist" not in value:
            merged[key] = _merge(old, value)
        else:
            merged[key] = value
    return merged


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ProfileError(f"{where}: expected a mapping, got {type(raw).__name__} {raw!r}")
    return raw


def _known(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ProfileError(
                f"{where}.{key}: unknown field; expected one of {', '.join(allowed)}"
            )


def _bool(raw: Any, where: str) -> bool:
    if not isinstance(raw, bool):
        raise ProfileError(f"{where}: expected true or false, got {raw!r}")
    return raw


def _number(
    raw: Any,
    where: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ProfileError(f"{where}: expected a number, got {raw!r}")
    if integer and int(raw) != raw:
        raise ProfileError(f"{where}: expected an integer, got {raw!r}")
    if minimum is not None and raw < minimum:
        raise ProfileError(f"{where}: {raw!r} is below the minimum {minimum:g}")
    if maximum is not None and raw > maximum:
        raise ProfileError(f"{where}: {raw!r} is above the maximum {maximum:g}")
    return float(raw)
