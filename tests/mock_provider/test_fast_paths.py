"""The hot path's shortcuts give exactly what the general code gives, for any input."""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii

from hypothesis import given, settings
from hypothesis import strategies as st

from mock_provider.content import completion_text
from mock_provider.determinism import canonical_json, fingerprint
from mock_provider.parsing import _loads
from mock_provider.request_log import RequestLog, RequestRecord
from mock_provider.server import completion_body

_text = st.text(max_size=40)
_message = st.fixed_dictionaries({"role": _text, "content": _text}) | st.dictionaries(
    _text, st.none() | _text | st.integers(), max_size=3
)


def _reference(seed: int, model: str, messages: list) -> str:
    return json.dumps(
        [seed, model, messages], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**12), 10**12), _text, st.lists(_message, max_size=4))
def test_canonical_json_is_the_sorted_compact_dump(seed: int, model: str, messages: list) -> None:
    assert canonical_json(seed, model, messages) == _reference(seed, model, messages)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60) | _text.map(lambda t: t.encode("utf-8")))
def test_loads_matches_json_loads(raw: bytes) -> None:
    def outcome(fn):
        try:
            return ("ok", fn(raw))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
            return ("error", type(exc).__name__)

    assert outcome(_loads) == outcome(json.loads)


def test_loads_takes_bodies_json_loads_takes() -> None:
    for raw in (b' {"a": 1} ', b'\xef\xbb\xbf{"a": 1}', '{"a": "é"}'.encode("utf-16"), b"[1]"):
        assert _loads(raw) == json.loads(raw)


@given(_text, _text, st.integers(0, 10**6), st.integers(0, 10**6))
def test_completion_body_is_json_dumps_of_the_completion(
    model: str, text: str, prompt: int, completion: int
) -> None:
    expected = {
        "id": "chatcmpl-000000007",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "length",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    body = completion_body(
        "chatcmpl-000000007",
        1700000000,
        encode_basestring_ascii(model),
        text,
        "length",
        prompt,
        completion,
    )
    assert body == json.dumps(expected).encode()


def test_completion_text_length_determinism_and_topic() -> None:
    fp = fingerprint(0, "m", [{"role": "user", "content": "Describe glaciers"}])
    other = fingerprint(0, "m", [{"role": "user", "content": "Describe volcanoes"}])
    for n in (1, 2, 5, 6, 7, 16, 100, 777):
        text = completion_text(fp, ["Describe", "glaciers"], n)
        assert len(text.split()) == n and text.endswith(".")
        assert text == completion_text(fp, ["Describe", "glaciers"], n)
    long = completion_text(fp, ["Describe", "glaciers"], 60)
    assert "glaciers" in long and long[0].isupper()
    assert long != completion_text(other, ["Describe", "glaciers"], 60)


def test_request_log_keeps_rows_and_gives_records() -> None:
    log = RequestLog()
    record = RequestRecord("a", "m", None, 1.0, 2.0, 3.0, 200, 4, 5, None)
    log.append(record)
    log.append_row(("b", "m", "t:1", 1.5, 2.5, 3.5, 503, 4, 0, "error_503"))
    assert log.records()[0] == record and log.since(1)[0].fault == "error_503"
    assert list(log.to_frame()["request_id"]) == ["a", "b"]
    assert list(log.to_frame(log.since(1))["status"]) == [503]
