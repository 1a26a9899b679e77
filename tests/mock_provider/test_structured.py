"""json_object and json_schema answers are valid JSON that conforms to the schema."""

from __future__ import annotations

import json

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_provider import MockProvider, json_text, rng

jsonschema = pytest.importorskip("jsonschema")

_names = st.text("abcdefghijklmnop_", min_size=1, max_size=8)


@st.composite
def _integer(draw):
    low = draw(st.integers(-1000, 1000))
    return {"type": "integer", "minimum": low, "maximum": low + draw(st.integers(0, 50))}


@st.composite
def _number(draw):
    low = draw(st.floats(-100, 100, allow_nan=False))
    return {"type": "number", "minimum": low, "maximum": low + draw(st.floats(0, 10))}


@st.composite
def _string(draw):
    low = draw(st.integers(0, 20))
    return {"type": "string", "minLength": low, "maxLength": low + draw(st.integers(0, 30))}


_leaf = st.one_of(
    _integer(),
    _number(),
    _string(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.sampled_from(["good", "bad", 1, 2.5, None]), min_size=1, unique=True).map(
        lambda options: {"enum": options}
    ),
    st.just({"type": ["string", "null"]}),
)


@st.composite
def _array(draw, children):
    low = draw(st.integers(0, 3))
    return {
        "type": "array",
        "items": draw(children),
        "minItems": low,
        "maxItems": low + draw(st.integers(0, 3)),
    }


@st.composite
def _object(draw, children):
    properties = draw(st.dictionaries(_names, children, max_size=5))
    required = (
        draw(st.lists(st.sampled_from(sorted(properties)), unique=True)) if properties else []
    )
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


schemas = st.recursive(
    _leaf, lambda children: st.one_of(_array(children), _object(children)), max_leaves=12
)


@settings(max_examples=300, deadline=None)
@given(schema=schemas, seed=st.binary(min_size=4, max_size=8))
def test_random_schemas_conform(schema: dict, seed: bytes) -> None:
    text = json_text(rng(seed, "content"), schema, ["some", "prompt", "words"])
    jsonschema.validate(json.loads(text), schema)
    assert text == json_text(rng(seed, "content"), schema, ["some", "prompt", "words"])


JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "verdict": {"enum": ["pass", "fail"]},
        "reasons": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
        "detail": {"$ref": "#/$defs/detail"},
    },
    "required": ["score", "verdict", "reasons", "detail"],
    "additionalProperties": False,
    "$defs": {
        "detail": {
            "type": "object",
            "properties": {"confidence": {"type": "number", "minimum": 0, "maximum": 1}},
            "required": ["confidence"],
        }
    },
}


async def test_structured_outputs_over_the_sdk() -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "judge", "schema": JUDGE_SCHEMA, "strict": True},
    }
    messages = [{"role": "user", "content": "Judge this summary of the Nile"}]
    async with MockProvider() as mock:
        client = openai.AsyncOpenAI(base_url=mock.base_url, api_key="x")
        answers = []
        for _ in range(2):
            reply = await client.chat.completions.create(
                model="judge", messages=messages, response_format=response_format
            )
            answers.append(reply.choices[0].message.content)
        stream = await client.chat.completions.create(
            model="judge", messages=messages, response_format=response_format, stream=True
        )
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        plain = await client.chat.completions.create(
            model="judge", messages=messages, response_format={"type": "json_object"}
        )
        await client.close()

    jsonschema.validate(json.loads(answers[0]), JUDGE_SCHEMA)
    assert answers[0] == answers[1] == streamed
    assert isinstance(json.loads(plain.choices[0].message.content), dict)
