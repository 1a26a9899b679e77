"""Jinja2 rendering for prompts and expressions, and the column names a template reads.

One shared environment: ``StrictUndefined`` so a missing column is an error rather than an
empty string in a prompt, and no autoescaping since the output is model input, not HTML.
Compiled templates are cached by source text because ``render`` runs once per cell.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.meta

log = logging.getLogger(__name__)

__all__ = [
    "ENVIRONMENT",
    "TemplateSyntaxError",
    "UndefinedError",
    "compile_template",
    "referenced_names",
    "render",
]

ENVIRONMENT = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)

TemplateSyntaxError = jinja2.TemplateSyntaxError
UndefinedError = jinja2.UndefinedError

#: Distinct templates of one process are few (one per prompt), so a bounded cache holds all.
_CACHE_SIZE = 4096


@lru_cache(maxsize=_CACHE_SIZE)
def compile_template(source: str) -> jinja2.Template:
    """The compiled template for ``source``; raises ``TemplateSyntaxError`` if it does not parse."""
    return ENVIRONMENT.from_string(source)


def render(template_source: str, values: Mapping[str, Any]) -> str:
    """Render ``template_source`` over ``values``; a missing name raises ``UndefinedError``."""
    return compile_template(template_source).render(values)


@lru_cache(maxsize=_CACHE_SIZE)
def _referenced(source: str) -> frozenset[str]:
    names = jinja2.meta.find_undeclared_variables(ENVIRONMENT.parse(source))
    return frozenset(names - set(ENVIRONMENT.globals))


def referenced_names(template_source: str) -> set[str]:
    """Top-level names the template reads from its context (``{{ a.b }}`` reads ``a``).

    Names the template binds itself (``{% set %}``, loop variables) and the environment's
    globals (``range``, ``dict``, ...) are not references. Raises ``TemplateSyntaxError``.
    """
    return set(_referenced(template_source))
