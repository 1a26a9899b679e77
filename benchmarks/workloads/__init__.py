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


PROFILES_DIR = WORKLOADS_DIR.parent / "profiles"

#: The dev note's four shapes run on the fitted dev note profile; every other workload has
#: a profile of its own name.
DEVNOTE_WORKLOADS: tuple[str, ...] = ("narrow", "deep", "wide", "dual_model")
DEVNOTE_PROFILE = "devnote"


def profile_for(workload: str) -> Path | None:
    """The bundled profile a workload runs with by default, or None for the mock's default."""
    stem = DEVNOTE_PROFILE if workload in DEVNOTE_WORKLOADS else workload
    path = PROFILES_DIR / f"{stem}.yaml"
    return path if path.is_file() else None


def workload_description(path: Path) -> str:
    """The one-line ``description`` of a workload file, without validating the pipeline."""
    import yaml

    with path.open() as handle:
        data = yaml.safe_load(handle) or {}
    return str(data.get("description", "")).strip() if isinstance(data, dict) else ""
