"""The artifacts a report draws from, read through ``benchmarks.artifacts`` only.

A report is given one or more artifact folders. The first folder's kind (measured or
simulated) is the report's *primary* kind: every figure but "simulated against measured"
draws from the artifacts of that kind, a workload from the first of them that holds it,
and the boxplot pools the trials of all of them (shards of one benchmark). Trial frames
(traces, request log, throttle history) are read lazily and kept, since several figures
draw from the same trial.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.artifacts import ArtifactError, read_results, read_trial_frame

log = logging.getLogger(__name__)

PARTS: tuple[str, ...] = ("traces", "requests", "throttle")

#: Times this far from a trial's start are on another clock; fall back to the frame's own.
_CLOCK_MISMATCH_SECONDS = 86_400.0


@dataclass
class Artifact:
    """One ``results.json`` and its trial frames."""

    path: Path
    results: dict[str, Any]
    _frames: dict[tuple[str, str, int, bool, str], pd.DataFrame] = field(
        default_factory=dict, repr=False
    )

    @property
    def kind(self) -> str:
        return "simulated" if self.results.get("kind") == "simulated" else "measured"

    @property
    def workloads(self) -> dict[str, Any]:
        return self.results.get("workloads", {})

    def engines(self, workload: str) -> list[str]:
        """Engines with at least one measured trial of ``workload``."""
        return [e for e in ("sync", "async") if self.measured_trials(workload, e)]

    def measured_trials(self, workload: str, engine: str | None = None) -> list[dict[str, Any]]:
        """Trials that count: not warm-ups, finished ``ok``, with a wall clock."""
        return [
            trial
            for trial in self.results.get("trials", [])
            if trial.get("workload") == workload
            and (engine is None or trial.get("engine") == engine)
            and not trial.get("warmup")
            and trial.get("status") == "ok"
            and trial.get("wall_seconds") is not None
        ]

    def frame(self, trial: dict[str, Any], part: str) -> pd.DataFrame:
        """A trial's ``traces``, ``requests`` or ``throttle`` frame; empty when absent."""
        key = (trial["workload"], trial["engine"], trial["trial"], bool(trial["warmup"]), part)
        if key not in self._frames:
            self._frames[key] = read_trial_frame(self.results, trial, part)
        return self._frames[key]

    def timeline_trial(self, workload: str, engine: str, part: str) -> dict[str, Any] | None:
        """The first measured trial of ``engine`` whose ``part`` frame is not empty."""
        for trial in sorted(self.measured_trials(workload, engine), key=lambda t: t["trial"]):
            if not self.frame(trial, part).empty:
                return trial
        return None

    def model_ids(self, workload: str) -> dict[str, str]:
        """Model alias to the model id the provider saw, read from the request log's tags.

        The DAG names models by alias, the request log by model id; a request's tag
        (``column:row``) links the two. Aliases with no tagged request map to themselves.
        """
        dag = self.workloads[workload]["dag"]
        mapping: dict[str, str] = {}
        for engine in self.engines(workload):
            trial = self.timeline_trial(workload, engine, "requests")
            if trial is None:
                continue
            requests = self.frame(trial, "requests")
            if "tag" not in requests or "model" not in requests:
                continue
            for tag, model in zip(requests["tag"], requests["model"], strict=True):
                column = str(tag).split(":", 1)[0] if tag is not None else ""
                aliases = dag["models"].get(column, [])
                if len(aliases) == 1:
                    mapping.setdefault(aliases[0], str(model))
        for aliases in dag["models"].values():
            for alias in aliases:
                mapping.setdefault(alias, alias)
        return mapping


@dataclass(frozen=True)
class ArtifactSet:
    """Every artifact a report was given, in the order given."""

    artifacts: tuple[Artifact, ...]

    @property
    def primary_kind(self) -> str:
        return self.artifacts[0].kind

    @property
    def primary(self) -> tuple[Artifact, ...]:
        return tuple(a for a in self.artifacts if a.kind == self.primary_kind)

    def of_kind(self, kind: str) -> tuple[Artifact, ...]:
        return tuple(a for a in self.artifacts if a.kind == kind)

    def workload_names(self) -> list[str]:
        """Workloads of the primary artifacts, in the order they first appear."""
        names: list[str] = []
        for artifact in self.primary:
            names += [name for name in artifact.workloads if name not in names]
        return names

    def source(self, workload: str) -> Artifact:
        """The first primary artifact holding ``workload``."""
        for artifact in self.primary:
            if workload in artifact.workloads:
                return artifact
        raise KeyError(f"workload {workload!r} is in none of the artifacts")

    def workload(self, name: str) -> dict[str, Any]:
        return self.source(name).workloads[name]

    def pooled_walls(self, workload: str, engine: str) -> list[float]:
        """Wall clocks of every measured trial of ``engine`` across the primary artifacts."""
        return [
            float(trial["wall_seconds"])
            for artifact in self.primary
            if workload in artifact.workloads
            for trial in artifact.measured_trials(workload, engine)
        ]

    def model_names(self) -> list[str]:
        """Every model id (or alias, where no request log says) the primary artifacts use."""
        names = {
            model
            for workload in self.workload_names()
            for model in self.source(workload).model_ids(workload).values()
        }
        return sorted(names)


def load_artifacts(dirs: Sequence[str | Path]) -> ArtifactSet:
    """Read every folder's ``results.json``; an ArtifactError names the first bad one."""
    if not dirs:
        raise ArtifactError("no artifact folder given")
    artifacts = []
    for entry in dirs:
        results = read_results(entry)
        artifacts.append(Artifact(Path(results["_path"]).parent, results))
        log.debug("read %s artifact %s", artifacts[-1].kind, entry)
    return ArtifactSet(tuple(artifacts))


def relative_times(values: Iterable[Any], origin: float | None) -> pd.Series:
    """Seconds since ``origin`` (a trial's start); the series' own minimum when unusable."""
    series = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce").astype(float)
    valid = series.dropna()
    if valid.empty:
        return series
    if origin is None or abs(float(valid.median()) - origin) > _CLOCK_MISMATCH_SECONDS:
        origin = float(valid.min())
    return series - origin
