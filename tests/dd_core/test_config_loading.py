"""Loading pipelines from YAML and Python, and every config error naming what and where."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from dd_core.config import (
    CustomColumn,
    ExpressionColumn,
    JudgeScore,
    LLMJudgeColumn,
    LLMTextColumn,
    ModelConfig,
    Pipeline,
    ProviderConfig,
    SamplerColumn,
)
from dd_core.errors import ConfigError
from dd_core.loader import load_pipeline, validate_pipeline

FIXTURES = Path(__file__).parent / "fixtures"
BAD = FIXTURES / "bad"
DEEP = FIXTURES / "pipelines" / "deep.yaml"


@pytest.fixture(autouse=True)
def generator_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))


def error_of(source) -> str:
    with pytest.raises(ConfigError) as info:
        load_pipeline(source)
    return str(info.value)


def test_deep_pipeline_loads_every_field() -> None:
    pipeline = load_pipeline(DEEP)

    assert pipeline.name == "deep"
    assert pipeline.providers["mock"].endpoint == "http://127.0.0.1:8000/v1"
    assert pipeline.models["generator"].max_parallel_requests == 16
    assert pipeline.models["generator"].inference == {"temperature": 0.7, "max_tokens": 128}
    assert pipeline.settings.seed == 42
    assert pipeline.settings.throttle.reduce_factor == 0.75
    assert [c.kind for c in pipeline.columns] == [
        "sampler", "llm_text", "llm_text", "llm_text", "llm_text",
        "llm_judge", "expression", "custom",
    ]  # fmt: skip
    judge = pipeline.column("quality")
    assert isinstance(judge, LLMJudgeColumn)
    assert judge.scores[0] == JudgeScore("accuracy", "Is it right?", 1, 5)
    assert judge.output_columns == ("quality", "quality_accuracy", "quality_clarity")
    seeds = pipeline.column("seeds")
    assert isinstance(seeds, CustomColumn)
    assert seeds.outputs == ("q", "a") and seeds.whole_column
    assert seeds.params == {"path": "seeds.csv"}


def test_mapping_and_path_give_the_same_pipeline() -> None:
    data = yaml.safe_load(DEEP.read_text())
    assert load_pipeline(data) == load_pipeline(DEEP)
    assert load_pipeline(str(DEEP)) == load_pipeline(DEEP)


def test_python_pipeline_is_validated_and_normalised() -> None:
    pipeline = Pipeline(
        columns=[
            SamplerColumn("topic", sampler="integer", params={"low": 1, "high": 3}),
            LLMTextColumn("summary", model="gen", prompt="{{ topic }}"),
            CustomColumn("shout", generator=lambda row, ctx: "!", depends_on=["summary"]),
        ],
        providers={"p": ProviderConfig("p", "http://127.0.0.1:1/v1")},
        models={"gen": ModelConfig("gen", "p", "m")},
        name="py",
    )
    valid = validate_pipeline(pipeline)
    assert isinstance(valid.columns, tuple)
    assert valid.column("shout").depends_on == ("summary",)


def test_python_pipeline_errors_are_located() -> None:
    pipeline = Pipeline(columns=(ExpressionColumn("label", expr="{{ nope }}"),), name="py")
    with pytest.raises(ConfigError, match=r"^pipeline 'py': columns\[0\] \(label\): unknown"):
        validate_pipeline(pipeline)

    bad_type = Pipeline(columns=(ExpressionColumn("label", expr=3),), name="py")
    with pytest.raises(ConfigError, match=r"field 'expr' must be a string, got 3"):
        validate_pipeline(bad_type)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("cycle.yaml", "cycle.yaml: cycle: a -> b -> c -> a"),
        (
            "unknown_reference.yaml",
            "unknown_reference.yaml: columns[3] (analysis): unknown column 'sumary' in prompt "
            "(did you mean 'summary'?); known columns: topic, summary, trivia, analysis",
        ),
        (
            "unknown_depends_on.yaml",
            "unknown_depends_on.yaml: columns[1] (summary): unknown column 'ghost' in depends_on",
        ),
        (
            "unknown_model.yaml",
            "unknown_model.yaml: columns[1] (summary): unknown model alias 'genrator'",
        ),
        (
            "unknown_provider.yaml",
            "unknown_provider.yaml: models[generator]: unknown provider 'openai'; "
            "known providers: mock",
        ),
        (
            "duplicate_column.yaml",
            "duplicate_column.yaml: columns[2] (summary): duplicate column name 'summary'",
        ),
        (
            "duplicate_output.yaml",
            "duplicate_output.yaml: columns[1] (more): duplicate output column 'a' "
            "(already written by columns[0] (pairs))",
        ),
        (
            "unknown_field.yaml",
            "unknown_field.yaml: columns[1] (summary): unknown field 'promt'; "
            "valid fields: kind, name, depends_on, model, prompt, system_prompt",
        ),
        (
            "bad_type.yaml",
            "bad_type.yaml: models[0] (generator): field 'max_parallel_requests' "
            "must be an integer, got 'sixteen'",
        ),
        (
            "bad_sampler_params.yaml",
            "bad_sampler_params.yaml: columns[0] (topic): category sampler: weights must be "
            "a list of 2 numbers",
        ),
        (
            "unknown_sampler_param.yaml",
            "unknown_sampler_param.yaml: columns[0] (score): uniform sampler: unknown param "
            "'hi'; valid params: low, high",
        ),
        ("empty.yaml", "empty.yaml: pipeline has no columns"),
        (
            "bad_parallel.yaml",
            "bad_parallel.yaml: models[generator]: max_parallel_requests must be a positive "
            "integer, got 0",
        ),
        (
            "bad_template.yaml",
            "bad_template.yaml: columns[1] (summary): prompt does not parse: unexpected '}'",
        ),
        (
            "bad_generator.yaml",
            "bad_generator.yaml: columns[0] (seeds): cannot import generator module "
            "'ddtest_no_such_module'",
        ),
        (
            "bad_generator_attr.yaml",
            "bad_generator_attr.yaml: columns[0] (seeds): generator 'ddtest_generators:nope'",
        ),
        ("unknown_kind.yaml", "unknown_kind.yaml: columns[0] (topic): kind is 'smapler'"),
        ("not_yaml.yaml", "not_yaml.yaml: not valid YAML at line 2"),
    ],
)
def test_bad_pipeline_fixture_is_refused_with_a_located_message(
    fixture: str, expected: str
) -> None:
    message = error_of(BAD / fixture)
    assert message.startswith(expected), message
    assert "\n" not in message


def deep_data() -> dict:
    return yaml.safe_load(DEEP.read_text())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(extra=1), "pipeline: unknown field 'extra'; valid fields: name,"),
        (
            lambda d: d["settings"]["throttle"].update(reduce_factor=1.5),
            "settings.throttle: reduce_factor must be in (0, 1), got 1.5",
        ),
        (
            lambda d: d["settings"].update(buffer_size=0),
            "settings: buffer_size must be > 0, got 0",
        ),
        (
            lambda d: d["settings"].update(seed="x"),
            "settings: field 'seed' must be an integer, got 'x'",
        ),
        (
            lambda d: d["settings"]["throttle"].update(burst=2),
            "settings.throttle: unknown field 'burst'",
        ),
        (
            lambda d: d["columns"][5]["scores"][0].update(minimum=9),
            "columns[5] (quality): scores[0] (accuracy) needs minimum <= maximum, got 9 > 5",
        ),
        (
            lambda d: d["columns"][5].update(scores=[]),
            "columns[5] (quality): a judge needs at least one entry under 'scores'",
        ),
        (
            lambda d: d["columns"][5]["scores"][0].update(maximum="high"),
            "columns[5] (quality).scores[0]: field 'maximum' must be an integer, got 'high'",
        ),
        (
            lambda d: d["columns"][1].pop("model"),
            "columns[1] (summary): model is missing; known aliases: generator, judge",
        ),
        (
            lambda d: d["columns"][0].pop("name"),
            "columns[0]: missing required field 'name'",
        ),
        (
            lambda d: d["columns"][7].update(generator="no_colon"),
            "columns[7] (seeds): generator must be 'module:attribute' or a callable",
        ),
        (
            lambda d: d["columns"][7].update(generator="ddtest_generators:NOT_CALLABLE"),
            "columns[7] (seeds): generator 'ddtest_generators:NOT_CALLABLE' is a int",
        ),
        (
            lambda d: d["columns"][6].update(expr="{{ q }} {{ seeds }}"),
            "columns[6] (label): unknown column 'seeds' in expr",
        ),
        (
            lambda d: d["columns"].append({"name": "q", "kind": "expression", "expr": "x"}),
            "columns[8] (q): duplicate output column 'q' (already written by columns[7] (seeds))",
        ),
        (
            lambda d: d["models"].append(dict(d["models"][0])),
            "models[2] (generator): duplicate alias 'generator'",
        ),
        (
            lambda d: d["columns"][1].update(prompt="{{ summary }}"),
            "cycle: summary -> summary",
        ),
    ],
)
def test_mutated_pipeline_is_refused(change, expected: str) -> None:
    data = deep_data()
    change(data)
    message = error_of(data)
    assert message.startswith("pipeline 'deep': "), message
    assert expected in message, message


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    assert str(tmp_path / "nope.yaml") in error_of(tmp_path / "nope.yaml")


def test_replaced_pipeline_is_revalidated() -> None:
    pipeline = load_pipeline(DEEP)
    broken = dataclasses.replace(pipeline, models={})
    with pytest.raises(ConfigError, match="unknown model alias 'generator'"):
        validate_pipeline(broken, source="override")
