"""Workload files: a pipeline YAML per shape, found by name or by path."""

from __future__ import annotations

from pathlib import Path

WORKLOADS_DIR = Path(__file__).resolve().parent


def available_workloads() -> dict[str, Path]:
    """Every bundled workload by name (its file's stem), sorted."""
    return {path.stem: path for path in sorted(WORKLOADS_DIR.glob("*.yaml"))}


def resolve_workload(name_or_path: str) -> Path:
    """A bundled workload's name, or a path to a pipeline file; ``LookupError`` if neither."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path

    bundled = available_workloads()
    if name_or_path in bundled:
        return bundled[name_or_path]
    known = ", ".join(bundled) or "none"
    raise LookupError(f"unknown workload {name_or_path!r}: not a file, and not one of {known}")
