"""Pipeline configuration: the dataclasses every part of the engine (and the simulator) reads.

A pipeline is providers, models, columns and run settings. The same objects come from a
YAML file (``load_pipeline``, in ``dd_core.loader``) or from Python code. They are frozen:
an override (another endpoint, another ``max_parallel_requests``) makes a new pipeline
with ``dataclasses.replace`` or the helpers below, so one pipeline can be run many times.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Sampler kinds a ``SamplerColumn`` accepts.
SAMPLER_KINDS: tuple[str, ...] = ("category", "uniform", "gaussian", "integer", "uuid")


@dataclass(frozen=True)
class ProviderConfig:
    """An OpenAI-compatible endpoint; the API key, if any, is read from ``api_key_env``."""

    name: str
    endpoint: str
    api_key_env: str | None = None


@dataclass(frozen=True)
class ModelConfig:
    """A model alias as columns name it, bound to a provider and a model id."""

    alias: str
    provider: str
    model: str
    max_parallel_requests: int = 4
    #: Sent with every request: temperature, max_tokens, top_p, ...
    inference: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ThrottleSettings:
    """AIMD parameters, one set for every (provider, model, domain) pool."""

    reduce_factor: float = 0.75
    additive_increase: int = 1
    success_window: int = 25
    cooldown_seconds: float = 2.0
    ceiling_overshoot: float = 0.10
    rampup_seconds: float = 0.0


@dataclass(frozen=True)
class RunSettings:
    """How a run is executed; the defaults are documented in the README's settings table."""

    seed: int = 0
    #: Rows per batch of the sync executor.
    buffer_size: int = 1000
    #: Rows per row group of the async executor, and how many groups may be in flight.
    row_group_size: int = 1000
    max_row_groups_in_flight: int = 3
    #: Async pools; ``None`` derives them from the models' ``max_parallel_requests``.
    submission_pool: int | None = None
    llm_wait_pool: int | None = None
    #: Rounds a stalled row group gets to retry its deferred tasks before they are dropped.
    salvage_rounds: int = 2
    request_timeout: float = 60.0
    #: Transport retries for 502/503/504, timeouts and connection errors (never for 429).
    max_transport_retries: int = 3
    retry_backoff_seconds: float = 0.25
    #: Early stop: at least ``error_rate_threshold`` of the last ``error_window`` outcomes
    #: are non-retryable failures.
    error_window: int = 10
    error_rate_threshold: float = 0.5
    #: Give up on rate-limited tasks after this many seconds; ``None`` waits for ever.
    deadline_seconds: float | None = None
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)


@dataclass(frozen=True)
class ColumnConfig:
    """Fields every column kind has; ``depends_on`` adds edges templates do not show."""

    name: str
    depends_on: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return KIND_BY_TYPE[type(self)]

    @property
    def output_columns(self) -> tuple[str, ...]:
        """The dataset columns this column writes."""
        return (self.name,)

    @property
    def model_aliases(self) -> tuple[str, ...]:
        """The model aliases a cell of this column may call."""
        return ()


@dataclass(frozen=True)
class SamplerColumn(ColumnConfig):
    """A seeded sampler: ``sampler`` is one of ``SAMPLER_KINDS``; ``params`` its arguments."""

    sampler: str = "category"
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExpressionColumn(ColumnConfig):
    """A Jinja2 template over other columns, rendered without a model call."""

    expr: str = ""


@dataclass(frozen=True)
class LLMTextColumn(ColumnConfig):
    """Free text from a model; prompt and system prompt are Jinja2 templates."""

    model: str = ""
    prompt: str = ""
    system_prompt: str | None = None

    @property
    def model_aliases(self) -> tuple[str, ...]:
        return (self.model,)


@dataclass(frozen=True)
class JudgeScore:
    """One score of a judge rubric: an integer in [minimum, maximum]."""

    name: str
    description: str = ""
    minimum: int = 1
    maximum: int = 5


@dataclass(frozen=True)
class LLMJudgeColumn(ColumnConfig):
    """Structured scores from a model, asked for with a JSON-schema ``response_format``.

    The column ``name`` holds the parsed scores as a dict; each score is also written to
    its own column ``<name>_<score>``.
    """

    model: str = ""
    prompt: str = ""
    system_prompt: str | None = None
    scores: tuple[JudgeScore, ...] = ()

    @property
    def output_columns(self) -> tuple[str, ...]:
        return (self.name, *(f"{self.name}_{score.name}" for score in self.scores))

    @property
    def model_aliases(self) -> tuple[str, ...]:
        return (self.model,)


@dataclass(frozen=True)
class CustomColumn(ColumnConfig):
    """A user generator, a function or class named ``module:attribute``, sync or async.

    ``outputs`` lists the columns it writes (default: just ``name``); ``models`` the
    aliases it may call; ``whole_column`` makes it run once per batch or row group.
    """

    #: ``"module:attribute"`` in YAML; from Python also the function or class itself.
    generator: str | Callable[..., Any] = ""
    outputs: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    whole_column: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def output_columns(self) -> tuple[str, ...]:
        return self.outputs or (self.name,)

    @property
    def model_aliases(self) -> tuple[str, ...]:
        return self.models


KIND_BY_TYPE: dict[type, str] = {
    SamplerColumn: "sampler",
    ExpressionColumn: "expression",
    LLMTextColumn: "llm_text",
    LLMJudgeColumn: "llm_judge",
    CustomColumn: "custom",
}
TYPE_BY_KIND: dict[str, type] = {kind: cls for cls, kind in KIND_BY_TYPE.items()}


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline: build one with ``dd_core.loader.load_pipeline``."""

    columns: tuple[ColumnConfig, ...]
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    models: Mapping[str, ModelConfig] = field(default_factory=dict)
    settings: RunSettings = field(default_factory=RunSettings)
    name: str = "pipeline"
    description: str = ""

    def column(self, name: str) -> ColumnConfig:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def with_endpoint(self, endpoint: str, api_key_env: str | None = None) -> Pipeline:
        """The same pipeline with every provider pointed at one endpoint (e.g. the mock)."""
        providers = {
            name: dataclasses.replace(p, endpoint=endpoint, api_key_env=api_key_env)
            for name, p in self.providers.items()
        }
        return dataclasses.replace(self, providers=providers)

    def with_max_parallel_requests(self, limit: int) -> Pipeline:
        """The same pipeline with every model's ``max_parallel_requests`` set to ``limit``."""
        models = {
            alias: dataclasses.replace(m, max_parallel_requests=limit)
            for alias, m in self.models.items()
        }
        return dataclasses.replace(self, models=models)

    def with_settings(self, **changes: Any) -> Pipeline:
        """The same pipeline with some run settings changed."""
        return dataclasses.replace(self, settings=dataclasses.replace(self.settings, **changes))
