"""Load a pipeline from YAML (or a parsed mapping) and validate it before any request.

Two ways in, one set of rules: ``load_pipeline`` builds the dataclasses of
``dd_core.config`` from a file or mapping, and ``validate_pipeline`` checks a ``Pipeline``
however it was made (the YAML path calls it too). Every problem is one ``ConfigError``
whose message starts with where it is, e.g.
``deep.yaml: columns[3] (analysis): unknown column 'sumary' in prompt; known columns: ...``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from dd_core.config import (
    KIND_BY_TYPE,
    TYPE_BY_KIND,
    ColumnConfig,
    CustomColumn,
    LLMJudgeColumn,
    ModelConfig,
    Pipeline,
    ProviderConfig,
    RunSettings,
    SamplerColumn,
    ThrottleSettings,
)
from dd_core.errors import ConfigError
from dd_core.generators import resolve_generator
from dd_core.graph import ExecutionGraph, column_templates, did_you_mean, where
from dd_core.sampling import make_sampler
from dd_core.templates import TemplateSyntaxError, compile_template

log = logging.getLogger(__name__)

__all__ = ["load_pipeline", "validate_pipeline"]

_TOP_LEVEL = ("name", "description", "providers", "models", "settings", "columns")


def load_pipeline(source: str | os.PathLike[str] | Mapping[str, Any]) -> Pipeline:
    """Build and validate a pipeline from a YAML file path or an already-parsed mapping."""
    if isinstance(source, Mapping):
        data: Any = source
        label = f"pipeline {source.get('name', 'pipeline')!r}"
    else:
        path = Path(source)
        label = path.name
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read pipeline file: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"{label}: not valid YAML{at}: {problem}") from None

    try:
        pipeline = _build_pipeline(data)
    except ConfigError as exc:
        raise ConfigError(f"{label}: {exc}") from None
    return validate_pipeline(pipeline, source=label)


def validate_pipeline(pipeline: Pipeline, *, source: str | None = None) -> Pipeline:
    """Check every rule on a pipeline built from YAML or Python; return it normalised.

    Normalised means lists became tuples and numbers their declared types, so a pipeline
    built by hand compares equal to the same pipeline loaded from YAML.
    """
    label = source or f"pipeline {getattr(pipeline, 'name', '?')!r}"
    try:
        if not isinstance(pipeline, Pipeline):
            raise ConfigError(f"expected a Pipeline, got {type(pipeline).__name__}")
        pipeline = _normalise_pipeline(pipeline)
        _check_pipeline(pipeline)
        ExecutionGraph.from_pipeline(pipeline)
    except ConfigError as exc:
        raise ConfigError(f"{label}: {exc}") from None
    log.debug("pipeline %s valid: %d columns", label, len(pipeline.columns))
    return pipeline


# --- building and type checking --------------------------------------------------------


def _build_pipeline(data: Any) -> Pipeline:
    if not isinstance(data, Mapping):
        raise ConfigError(f"a pipeline must be a mapping, got {type(data).__name__}")
    _reject_unknown(data, _TOP_LEVEL, "pipeline")

    providers = _keyed(data.get("providers") or [], ProviderConfig, "providers", "name")
    models = _keyed(data.get("models") or [], ModelConfig, "models", "alias")
    settings = _convert(data.get("settings") or {}, RunSettings, "settings", "settings")

    columns = data.get("columns") or []
    if not isinstance(columns, list):
        raise ConfigError(f"columns must be a list, got {type(columns).__name__}")
    return Pipeline(
        columns=tuple(_build_column(i, raw) for i, raw in enumerate(columns)),
        providers=providers,
        models=models,
        settings=settings,
        name=_convert(data.get("name", "pipeline"), str, "pipeline", "name"),
        description=_convert(data.get("description", ""), str, "pipeline", "description"),
    )


def _keyed(items: Any, cls: type, section: str, key: str) -> dict[str, Any]:
    """A list of mappings as a dict by ``key``; duplicates are an error."""
    if not isinstance(items, list):
        raise ConfigError(f"{section} must be a list, got {type(items).__name__}")
    built: dict[str, Any] = {}
    for index, raw in enumerate(items):
        here = f"{section}[{index}]"
        if isinstance(raw, Mapping) and isinstance(raw.get(key), str):
            here = f"{here} ({raw[key]})"
        item = _convert(raw, cls, here, here)
        name = getattr(item, key)
        if name in built:
            raise ConfigError(f"{here}: duplicate {key} {name!r}")
        built[name] = item
    return built


def _build_column(index: int, raw: Any) -> ColumnConfig:
    here = f"columns[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{here}: a column must be a mapping, got {type(raw).__name__}")
    if isinstance(raw.get("name"), str):
        here = f"{here} ({raw['name']})"

    kind = raw.get("kind")
    if kind not in TYPE_BY_KIND:
        shown = "missing" if kind is None else repr(kind)
        raise ConfigError(f"{here}: kind is {shown}; valid kinds: {', '.join(TYPE_BY_KIND)}")
    fields = {key: value for key, value in raw.items() if key != "kind"}
    return _build_dataclass(TYPE_BY_KIND[kind], fields, here, extra_valid=("kind",))


def _build_dataclass(
    cls: type, data: Mapping[str, Any], here: str, extra_valid: tuple[str, ...] = ()
) -> Any:
    """An instance of ``cls`` from ``data``, every field converted to its declared type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _reject_unknown(data, (*extra_valid, *fields), here)
    hints = typing.get_type_hints(cls)

    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _convert(data[name], hints[name], here, name)
            continue
        no_default = f.default is dataclasses.MISSING
        if no_default and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{here}: missing required field {name!r}")
    return cls(**values)


def _reject_unknown(data: Mapping[str, Any], valid: tuple[str, ...], here: str) -> None:
    for key in data:
        if key not in valid:
            raise ConfigError(f"{here}: unknown field {key!r}; valid fields: {', '.join(valid)}")


def _convert(value: Any, hint: Any, here: str, name: str) -> Any:
    """``value`` as type ``hint`` (lists become tuples); raises naming field and value."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (types.UnionType, typing.Union):
        return _convert_union(value, typing.get_args(hint), here, name)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            value = {f.name: getattr(value, f.name) for f in dataclasses.fields(hint)}
        if isinstance(value, Mapping):
            return _build_dataclass(hint, value, f"{here}.{name}" if name != here else here)
        raise _type_error(here, name, value, "a mapping")
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        if not isinstance(value, list | tuple):
            raise _type_error(here, name, value, "a list")
        return tuple(
            _convert(item, item_hint, here, f"{name}[{i}]") for i, item in enumerate(value)
        )
    if origin is Mapping or hint is Mapping:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise _type_error(here, name, value, "a mapping with string keys")
        return dict(value)
    if origin is Callable or hint is Callable:
        if not callable(value):
            raise _type_error(here, name, value, "a callable")
        return value
    return _convert_scalar(value, hint, here, name)


def _convert_union(value: Any, members: tuple[Any, ...], here: str, name: str) -> Any:
    if value is None and type(None) in members:
        return None
    errors = []
    for member in members:
        if member is type(None):
            continue
        try:
            return _convert(value, member, here, name)
        except ConfigError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    expected = " or ".join(_describe(m) for m in members)
    raise _type_error(here, name, value, expected)


def _convert_scalar(value: Any, hint: Any, here: str, name: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif isinstance(value, hint):
        return value
    raise _type_error(here, name, value, _describe(hint))


def _describe(hint: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is tuple:
        return "a list"
    if typing.get_origin(hint) is Callable:
        return "a callable"
    return names.get(hint, "a mapping")


def _type_error(here: str, name: str, value: Any, expected: str) -> ConfigError:
    shown = repr(value) if len(repr(value)) <= 60 else f"{type(value).__name__} value"
    return ConfigError(f"{here}: field {name!r} must be {expected}, got {shown}")


def _normalise_pipeline(pipeline: Pipeline) -> Pipeline:
    """Re-run the field conversions over a pipeline that may have been built by hand."""
    columns = pipeline.columns
    if not isinstance(columns, list | tuple):
        raise ConfigError(f"columns must be a list or tuple, got {type(columns).__name__}")
    normalised = []
    for index, column in enumerate(columns):
        if type(column) not in KIND_BY_TYPE:
            kinds = ", ".join(cls.__name__ for cls in KIND_BY_TYPE)
            raise ConfigError(
                f"columns[{index}]: expected one of {kinds}, got {type(column).__name__}"
            )
        here = where(index, column)
        normalised.append(_convert(column, type(column), here, here))

    return dataclasses.replace(
        pipeline,
        columns=tuple(normalised),
        providers=_normalise_keyed(pipeline.providers, ProviderConfig, "providers", "name"),
        models=_normalise_keyed(pipeline.models, ModelConfig, "models", "alias"),
        settings=_convert(pipeline.settings, RunSettings, "settings", "settings"),
        name=_convert(pipeline.name, str, "pipeline", "name"),
        description=_convert(pipeline.description, str, "pipeline", "description"),
    )


def _normalise_keyed(items: Any, cls: type, section: str, key: str) -> dict[str, Any]:
    if not isinstance(items, Mapping):
        raise ConfigError(f"{section} must be a mapping by {key}, got {type(items).__name__}")
    normalised = {}
    for name, item in items.items():
        here = f"{section}[{name}]"
        if not isinstance(item, cls):
            raise ConfigError(f"{here}: expected a {cls.__name__}, got {type(item).__name__}")
        item = _convert(item, cls, here, here)
        if getattr(item, key) != name:
            raise ConfigError(f"{here}: is keyed {name!r} but its {key} is {getattr(item, key)!r}")
        normalised[name] = item
    return normalised


# --- semantic rules --------------------------------------------------------------------


def _positive(x: Any) -> bool:
    return x > 0


def _non_negative(x: Any) -> bool:
    return x >= 0


_SETTINGS_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("buffer_size", _positive, "> 0"),
    ("row_group_size", _positive, "> 0"),
    ("max_row_groups_in_flight", _positive, "> 0"),
    ("submission_pool", lambda x: x is None or x > 0, "> 0 or null"),
    ("llm_wait_pool", lambda x: x is None or x > 0, "> 0 or null"),
    ("salvage_rounds", _non_negative, ">= 0"),
    ("request_timeout", _positive, "> 0"),
    ("max_transport_retries", _non_negative, ">= 0"),
    ("retry_backoff_seconds", _non_negative, ">= 0"),
    ("error_window", _positive, "> 0"),
    ("error_rate_threshold", lambda x: 0 < x <= 1, "in (0, 1]"),
    ("deadline_seconds", lambda x: x is None or x > 0, "> 0 or null"),
)
_THROTTLE_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("reduce_factor", lambda x: 0 < x < 1, "in (0, 1)"),
    ("additive_increase", _non_negative, ">= 0"),
    ("success_window", _positive, "> 0"),
    ("cooldown_seconds", _non_negative, ">= 0"),
    ("ceiling_overshoot", _non_negative, ">= 0"),
    ("rampup_seconds", _non_negative, ">= 0"),
)


def _check_rules(obj: Any, rules: tuple, here: str) -> None:
    for name, ok, valid in rules:
        value = getattr(obj, name)
        if not ok(value):
            raise ConfigError(f"{here}: {name} must be {valid}, got {value!r}")


def _check_pipeline(pipeline: Pipeline) -> None:
    if not pipeline.columns:
        raise ConfigError("pipeline has no columns; add at least one under 'columns'")
    _check_rules(pipeline.settings, _SETTINGS_RULES, "settings")
    _check_rules(pipeline.settings.throttle, _THROTTLE_RULES, "settings.throttle")
    if not isinstance(pipeline.settings.throttle, ThrottleSettings):
        raise ConfigError("settings.throttle must be a ThrottleSettings")

    for name, provider in pipeline.providers.items():
        if not provider.endpoint:
            raise ConfigError(f"providers[{name}]: endpoint must be a non-empty URL")
    for alias, model in pipeline.models.items():
        here = f"models[{alias}]"
        if model.provider not in pipeline.providers:
            known = ", ".join(pipeline.providers) or "none declared"
            raise ConfigError(
                f"{here}: unknown provider {model.provider!r}"
                f"{did_you_mean(model.provider, pipeline.providers)}; known providers: {known}"
            )
        if model.max_parallel_requests <= 0:
            raise ConfigError(
                f"{here}: max_parallel_requests must be a positive integer, "
                f"got {model.max_parallel_requests}"
            )

    _check_names(pipeline)
    for index, column in enumerate(pipeline.columns):
        _check_column(index, column, pipeline)


def _check_names(pipeline: Pipeline) -> None:
    """Column names, and the dataset columns they write, are each unique."""
    node_at: dict[str, int] = {}
    output_at: dict[str, int] = {}
    for index, column in enumerate(pipeline.columns):
        if not column.name:
            raise ConfigError(f"columns[{index}]: name must be a non-empty string")
        here = where(index, column)
        if column.name in node_at:
            first = pipeline.columns[node_at[column.name]]
            raise ConfigError(
                f"{here}: duplicate column name {column.name!r} "
                f"(first used by {where(node_at[column.name], first)})"
            )
        node_at[column.name] = index
        for output in column.output_columns:
            if output in output_at:
                first = pipeline.columns[output_at[output]]
                raise ConfigError(
                    f"{here}: duplicate output column {output!r} "
                    f"(already written by {where(output_at[output], first)})"
                )
            output_at[output] = index

    for name, index in node_at.items():
        if name in output_at and output_at[name] != index:
            column = pipeline.columns[index]
            writer = pipeline.columns[output_at[name]]
            raise ConfigError(
                f"{where(index, column)}: column name {name!r} is also an output column of "
                f"{where(output_at[name], writer)}"
            )


def _check_column(index: int, column: ColumnConfig, pipeline: Pipeline) -> None:
    here = where(index, column)
    for field_name, source in column_templates(column).items():
        if not source.strip() and field_name != "system_prompt":
            raise ConfigError(f"{here}: {field_name} must be a non-empty template")
        try:
            compile_template(source)
        except TemplateSyntaxError as exc:
            raise ConfigError(
                f"{here}: {field_name} does not parse: {exc.message} (line {exc.lineno})"
            ) from None

    known_aliases = ", ".join(pipeline.models) or "none declared"
    for alias in column.model_aliases:
        if not alias:
            raise ConfigError(f"{here}: model is missing; known aliases: {known_aliases}")
        if alias not in pipeline.models:
            raise ConfigError(
                f"{here}: unknown model alias {alias!r}{did_you_mean(alias, pipeline.models)}; "
                f"known aliases: {known_aliases}"
            )

    if isinstance(column, SamplerColumn):
        try:
            make_sampler(column.sampler, column.params)
        except ConfigError as exc:
            raise ConfigError(f"{here}: {exc}") from None
    elif isinstance(column, LLMJudgeColumn):
        _check_scores(here, column)
    elif isinstance(column, CustomColumn):
        _check_custom(here, column)


def _check_scores(here: str, column: LLMJudgeColumn) -> None:
    if not column.scores:
        raise ConfigError(f"{here}: a judge needs at least one entry under 'scores'")
    seen: set[str] = set()
    for i, score in enumerate(column.scores):
        if not score.name.isidentifier():
            raise ConfigError(
                f"{here}: scores[{i}] name must be an identifier (letters, digits, _), "
                f"got {score.name!r}"
            )
        if score.name in seen:
            raise ConfigError(f"{here}: scores[{i}] duplicate score name {score.name!r}")
        seen.add(score.name)
        if score.minimum > score.maximum:
            raise ConfigError(
                f"{here}: scores[{i}] ({score.name}) needs minimum <= maximum, "
                f"got {score.minimum} > {score.maximum}"
            )


def _check_custom(here: str, column: CustomColumn) -> None:
    if len(set(column.outputs)) != len(column.outputs):
        raise ConfigError(f"{here}: outputs has duplicates: {list(column.outputs)}")
    try:
        resolve_generator(column.generator)
    except ConfigError as exc:
        raise ConfigError(f"{here}: {exc}") from None
