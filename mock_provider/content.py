"""Completion content: deterministic prose, and JSON that conforms to a requested schema.

Prose is one word per output token: a few words of the prompt, so different prompts read
differently, then a slice of a long pre-generated text at an offset taken from the request's
fingerprint (no random generator to seed, and a cost independent of the length: this is on
the server's hot path).
JSON instances are generated from the schema (types, required fields, enums, bounds, item
counts, nested objects, local ``$ref``) so an LLM judge can parse them.

Known limit: ``pattern``, ``format`` and ``allOf`` are not honoured (a plain string or the
first branch is produced); ``not`` and conditional schemas are ignored.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

_VOCABULARY = (
    "the model considers data pipeline careful answer shows clear result each record "
    "value column signal pattern detail reason simple step within across between source "
    "summary fact example notes useful context evidence brief overall strong likely"
)
_WORDS: tuple[str, ...] = tuple(_VOCABULARY.split())
#: A vocabulary word for each byte value (near uniform: 256 is not a multiple of the size).
_WORD_OF_BYTE: tuple[str, ...] = tuple(_WORDS[b % len(_WORDS)] for b in range(256))
_CAPITAL: dict[str, str] = {w: w[:1].upper() + w[1:] for w in _WORDS}
_FALLBACK = ["request"]
_MAX_DEPTH = 8


def prompt_words(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """The words of the messages' text, in order (text parts of multi-part content too)."""
    words: list[str] = []
    for message in messages:
        words.extend(message_text(message).split())
    return words


def message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if isinstance(part.get("text"), str)
        )
    return ""


#: Words in the pre-generated prose that answers are cut from (about 50 KB of text).
_CORPUS_WORDS = 8192
#: Prompt words that lead an answer: one for a short answer, up to three for a long one.
_LEAD_TRIES = 8


def _build_corpus() -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    """The prose answers are sliced from: (text written twice, word offsets, sentence starts).

    Built once at import from a fixed SHAKE-256 stream, so it is the same in every process
    and Python version. Sentences of 6 to 14 words, capitalised, ending in a full stop. The
    text is written twice so that a slice starting in the first copy never wraps.
    """
    stream = hashlib.shake_256(b"mock_provider.content corpus 1").digest(2 * _CORPUS_WORDS)
    words = [_WORD_OF_BYTE[b] for b in stream[:_CORPUS_WORDS]]
    starts = []
    i, c = 0, _CORPUS_WORDS
    while i < _CORPUS_WORDS:
        starts.append(i)
        words[i] = _CAPITAL[words[i]]
        i = min(i + 6 + stream[c] % 9, _CORPUS_WORDS)
        c += 1
        words[i - 1] += "."
    doubled = words + words
    offsets = [0]
    for word in doubled:
        offsets.append(offsets[-1] + len(word) + 1)
    return " ".join(doubled), tuple(offsets), tuple(starts)


_CORPUS, _OFFSETS, _SENTENCE_STARTS = _build_corpus()


def _prose(first: int, n: int) -> str:
    """``n`` words of the corpus from sentence start ``first`` (repeating it when longer)."""
    if n <= _CORPUS_WORDS:
        return _CORPUS[_OFFSETS[first] : _OFFSETS[first + n] - 1]
    pieces = []
    while n > 0:
        m = min(n, _CORPUS_WORDS)
        pieces.append(_CORPUS[_OFFSETS[first] : _OFFSETS[first + m] - 1])
        n -= m
        first = 0
    return " ".join(pieces)


def _lead(fp: bytes, words: Sequence[str], k: int) -> list[str]:
    """Up to ``k`` distinct topical prompt words (longer than 3 letters), picked by ``fp``."""
    pool = words[-64:]
    picked: list[str] = []
    if pool:
        size = len(pool)
        for b in fp[4 : 4 + _LEAD_TRIES]:
            word = pool[b % size]
            if len(word) > 3 and word.isalpha() and word not in picked:
                picked.append(word)
                if len(picked) == k:
                    return picked
        if not picked:
            picked = [w for w in pool if len(w) > 3 and w.isalpha()][:1]
    return picked or _FALLBACK


def completion_text(fp: bytes, words: Sequence[str], n_tokens: int) -> str:
    """``n_tokens`` words (at least 1): "About" and words of the prompt, then fixed prose.

    A pure function of the fingerprint ``fp`` and the prompt's words: bytes of ``fp`` pick
    one to three topical prompt words to lead with (so the answer echoes its subject) and a
    sentence of a long pre-generated text to continue from; the answer is that slice,
    which costs the same whatever its length, and it ends with a full stop.
    """
    if n_tokens <= 1:
        word = _lead(fp, words, 1)[0]
        return word[:1].upper() + word[1:] + "."
    n = n_tokens
    lead = _lead(fp, words, 1 if n < 6 else (2 if n < 12 else 3))[: n - 1]
    head = "About " + " ".join(lead)  # the prompt's words as they were written
    rest = n - 1 - len(lead)
    if rest == 0:
        return head + "."
    first = _SENTENCE_STARTS[int.from_bytes(fp[:4], "big") % len(_SENTENCE_STARTS)]
    text = f"{head}: {_prose(first, rest)}"
    return text if text[-1] == "." else text + "."


def schema_of(response_format: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The JSON schema asked for, ``{}`` for ``json_object``, None for plain text."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {}
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        return spec.get("schema") or {}
    return None


def json_text(r: random.Random, schema: Mapping[str, Any], words: Sequence[str]) -> str:
    """A JSON document conforming to ``schema`` (a small object when the schema is empty)."""
    if not schema:
        schema = {
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "score": {"type": "integer", "minimum": 1, "maximum": 5},
            },
        }
    value = instance(schema, r, words, root=schema)
    return json.dumps(value, ensure_ascii=False)


def instance(
    schema: Mapping[str, Any],
    r: random.Random,
    words: Sequence[str] = (),
    *,
    root: Mapping[str, Any] | None = None,
    depth: int = 0,
) -> Any:
    """A value that validates against ``schema`` (the subset named in the module doc)."""
    root = schema if root is None else root
    if not isinstance(schema, Mapping):
        return None
    if "$ref" in schema:
        return instance(_resolve(schema["$ref"], root), r, words, root=root, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema and schema["enum"]:
        options = list(schema["enum"])
        return options[int(r.random() * len(options))]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if branches:
            # Near the depth limit, prefer a branch that ends the recursion.
            branch = (
                branches[0] if depth >= _MAX_DEPTH else branches[int(r.random() * len(branches))]
            )
            return instance(branch, r, words, root=root, depth=depth + 1)

    kind = _type_of(schema, r, depth)
    if kind == "null":
        return None
    if kind == "boolean":
        return r.random() < 0.5
    if kind == "integer":
        return _integer(schema, r)
    if kind == "number":
        return _number(schema, r)
    if kind == "string":
        return _string(schema, r, words)
    if kind == "array":
        return _array(schema, r, words, root, depth)
    return _object(schema, r, words, root, depth)


def _type_of(schema: Mapping[str, Any], r: random.Random, depth: int) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        options = [k for k in kind if k != "null"] or ["null"]
        if depth >= _MAX_DEPTH and "null" in kind:
            return "null"
        return options[int(r.random() * len(options))]
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _integer(schema: Mapping[str, Any], r: random.Random) -> int:
    low, high = _bounds(schema, default_low=0, default_high=100)
    low_i = int(-(-low // 1))
    high_i = int(high // 1)
    if schema.get("exclusiveMinimum") is not None and low_i <= schema["exclusiveMinimum"]:
        low_i += 1
    if schema.get("exclusiveMaximum") is not None and high_i >= schema["exclusiveMaximum"]:
        high_i -= 1
    if high_i < low_i:
        return low_i
    return r.randint(low_i, high_i)


def _number(schema: Mapping[str, Any], r: random.Random) -> float:
    low, high = _bounds(schema, default_low=0.0, default_high=1.0)
    value = round(r.uniform(low, high), 3)
    if not low <= value <= high or value in (
        schema.get("exclusiveMinimum"),
        schema.get("exclusiveMaximum"),
    ):
        value = (low + high) / 2
    return value


def _bounds(schema: Mapping[str, Any], *, default_low: float, default_high: float):
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None and high is None:
        return default_low, default_high
    if low is None:
        low = min(default_low, high - (default_high - default_low))
    if high is None:
        high = max(default_high, low + (default_high - default_low))
    return low, high


def _string(schema: Mapping[str, Any], r: random.Random, words: Sequence[str]) -> str:
    min_length = int(schema.get("minLength", 0))
    max_length = schema.get("maxLength")
    pool = [w for w in words if w.isalnum()][:50] or list(_WORDS)
    text = " ".join(pool[int(r.random() * len(pool))] for _ in range(r.randint(2, 6)))
    while len(text) < min_length:
        text += " " + _WORDS[int(r.random() * len(_WORDS))]
    if max_length is not None:
        text = text[: int(max_length)]
    return text


def _array(schema, r, words, root, depth) -> list[Any]:
    min_items = int(schema.get("minItems", 0))
    max_items = int(schema.get("maxItems", max(min_items, 3)))
    count = min_items if depth >= _MAX_DEPTH else r.randint(min_items, max(min_items, max_items))
    items = schema.get("items", {})
    if isinstance(items, list):  # tuple form of older drafts
        return [instance(s, r, words, root=root, depth=depth + 1) for s in items]
    return [instance(items, r, words, root=root, depth=depth + 1) for _ in range(count)]


def _object(schema, r, words, root, depth) -> dict[str, Any]:
    properties = schema.get("properties", {}) or {}
    required = set(schema.get("required", ()))
    out: dict[str, Any] = {}
    for name, sub in properties.items():
        if depth >= _MAX_DEPTH and name not in required:
            continue
        out[name] = instance(sub, r, words, root=root, depth=depth + 1)
    for name in required - out.keys():
        out[name] = _WORDS[int(r.random() * len(_WORDS))]
    return out


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#"):
        return {}
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        if not isinstance(node, Mapping) or part not in node:
            return {}
        node = node[part]
    return node if isinstance(node, Mapping) else {}
