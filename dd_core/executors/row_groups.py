"""Row groups: planning, admission, the Parquet writer and the resume manifest.

Rows are split into row groups of ``row_group_size``; at most ``max_row_groups_in_flight``
are admitted at once, and a group that is done (every cell done or its row dropped) is
written at once to ``row_group_NNNNN.parquet`` and its memory released. The unit of loss
on an interruption is one row group: a file on disk is complete (written to a temporary
name and renamed), and a resumed run skips every group whose file exists.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from dd_core.errors import RunError

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
GROUP_FILE = re.compile(r"^row_group_(\d{5,})\.parquet$")


@dataclass(frozen=True)
class RowGroup:
    """Rows ``start`` (inclusive) to ``stop`` (exclusive) of a run, numbered ``index``."""

    index: int
    start: int
    stop: int

    @property
    def rows(self) -> range:
        return range(self.start, self.stop)

    def __len__(self) -> int:
        return self.stop - self.start


def plan_row_groups(records: int, row_group_size: int) -> list[RowGroup]:
    """Split ``records`` rows into groups of ``row_group_size`` (the last may be shorter)."""
    if records < 0:
        raise ValueError(f"records must be >= 0, got {records}")
    if row_group_size < 1:
        raise ValueError(f"row_group_size must be a positive integer, got {row_group_size}")
    return [
        RowGroup(index, start, min(start + row_group_size, records))
        for index, start in enumerate(range(0, records, row_group_size))
    ]


class Admission:
    """A non-blocking counting semaphore over row groups in flight.

    The dispatch loop must never block on one group's admission (work that became ready
    meanwhile would wait behind it), so it asks ``try_admit`` and moves on.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"max_row_groups_in_flight must be >= 1, got {limit}")
        self.limit = limit
        self.in_flight = 0

    def try_admit(self) -> bool:
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        if self.in_flight <= 0:
            raise RuntimeError("row-group admission released more times than admitted")
        self.in_flight -= 1


@dataclass(frozen=True)
class RunManifest:
    """What a resumed run must share with the run whose folder it continues."""

    pipeline: str
    seed: int
    records: int
    row_group_size: int

    def mismatches(self, other: RunManifest) -> list[str]:
        """Fields that differ, as ``field: on disk X, now Y``."""
        return [
            f"{f.name}: on disk {getattr(other, f.name)!r}, now {getattr(self, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]


class RowGroupStore:
    """The output folder of one run: group files, the manifest, read-back in row order."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)

    def path_for(self, index: int) -> Path:
        return self.out_dir / f"row_group_{index:05d}.parquet"

    def existing(self) -> list[int]:
        """Indices of the group files on disk, in order."""
        if not self.out_dir.is_dir():
            return []
        found = []
        for entry in self.out_dir.iterdir():
            match = GROUP_FILE.match(entry.name)
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    def prepare(self, manifest: RunManifest, *, resume: bool) -> set[int]:
        """Ready the folder for a run; return the groups already done (resume only).

        A fresh run removes group files a previous run left (only files of this naming
        pattern), so the read-back never mixes two runs. A resume refuses a folder whose
        manifest records another pipeline, seed, record count or group size.
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        manifest_path = self.out_dir / MANIFEST_NAME

        if resume and manifest_path.exists():
            on_disk = self.read_manifest()
            problems = manifest.mismatches(on_disk)
            if problems:
                raise RunError(
                    f"resume: {self.out_dir} holds another run ({'; '.join(problems)}); "
                    "use a new out_dir or resume=False"
                )
            done = set(self.existing())
            log.info("resuming in %s: %d row groups already on disk", self.out_dir, len(done))
            return done

        if resume and self.existing():
            raise RunError(
                f"resume: {self.out_dir} has row group files but no {MANIFEST_NAME}; "
                "cannot tell which run wrote them"
            )
        for index in self.existing():
            self.path_for(index).unlink()
        _atomic_write_text(manifest_path, json.dumps(asdict(manifest), indent=2) + "\n")
        return set()

    def read_manifest(self) -> RunManifest:
        path = self.out_dir / MANIFEST_NAME
        try:
            data = json.loads(path.read_text())
            return RunManifest(**{f.name: data[f.name] for f in fields(RunManifest)})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RunError(f"resume: cannot read {path}: {exc}") from exc

    def write(self, index: int, frame: pd.DataFrame) -> Path:
        """Write one group atomically: a temporary file in the folder, then a rename."""
        path = self.path_for(index)
        temporary = path.with_name(f".{path.name}.tmp")
        frame.to_parquet(temporary)
        os.replace(temporary, path)
        log.info("row group %d written: %d rows to %s", index, len(frame), path)
        return path

    def read(self, indices: Iterable[int]) -> pd.DataFrame:
        """The groups ``indices`` concatenated in order (empty frame when there are none)."""
        frames = [pd.read_parquet(self.path_for(index)) for index in sorted(indices)]
        filled = [frame for frame in frames if len(frame)]
        if len(filled) > 1:
            return pd.concat(filled)
        if filled:
            return filled[0]
        if frames:
            return frames[0]
        return pd.DataFrame(index=pd.Index([], name="row", dtype="int64"))


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


#: The counters an async run keeps (the simulator's run keeps the same, but for
#: ``row_groups_skipped``: it never resumes).
ASYNC_COUNTERS: tuple[str, ...] = (
    "tasks",
    "deferred",
    "rate_limited_deferred",
    "salvage_rounds",
    "salvage_dropped",
    "rate_limited_given_up",
    "rows_dropped",
    "pruned",
    "cancelled",
    "row_groups_written",
    "row_groups_skipped",
)


class GroupStep(enum.Enum):
    """What to do next with a row group in flight, by ``next_group_step``."""

    FINISH = "finish"  # every cell done or dropped, nothing running: write it
    WAIT = "wait"  # tasks are running or ready: nothing to decide yet
    DROP_LIVE = "drop_live"  # stalled with nothing deferred: drop the rows still live
    SALVAGE = "salvage"  # stalled with deferred tasks and rounds left: push them back
    DROP_DEFERRED = "drop_deferred"  # stalled, rounds spent: drop the deferred tasks' rows


def next_group_step(
    complete: bool,
    in_flight: int,
    queued: int,
    deferred: int,
    salvage_used: int,
    salvage_rounds: int,
) -> GroupStep:
    """The salvage rule, shared by the async engine and its simulation.

    A group stalls when nothing of it runs or waits in the frontier; its deferred tasks
    (transport failures parked on it) then get up to ``salvage_rounds`` rounds back in the
    frontier, after which their rows are dropped, so a stalled group never holds its
    admission slot for ever.
    """
    if complete and in_flight == 0:
        return GroupStep.FINISH
    if in_flight or queued:
        return GroupStep.WAIT
    if not deferred:
        return GroupStep.DROP_LIVE
    if salvage_used < salvage_rounds:
        return GroupStep.SALVAGE
    return GroupStep.DROP_DEFERRED
