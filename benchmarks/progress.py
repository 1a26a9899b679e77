"""Terminal progress for a run: a bar per column on a terminal, silence elsewhere.

The executors only call a ``RunObserver``; this module is the command line's drawing of it:
done over total and failures per column, rows per second, and each model's throttle limit
and requests in flight. ``rich`` bounds the redraw rate, and the throttle line is
recomputed at most ``REFRESH_PER_SECOND`` times a second, so a fast run does not spend its
time repainting.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

REFRESH_PER_SECOND = 4


class _ColumnBar(BarColumn):
    """A bar for a column's task; nothing for the status line."""

    def render(self, task: Any) -> Any:
        return "" if task.fields.get("status") else super().render(task)


class _ColumnCount(MofNCompleteColumn):
    def render(self, task: Any) -> Any:
        return "" if task.fields.get("status") else super().render(task)


class ColumnProgress:
    """A ``RunObserver`` drawing done over total for every column, rows/s and throttles."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(file=sys.stderr)
        self._progress: Progress | None = None
        self._tasks: dict[str, int] = {}
        self._failures: dict[str, int] = {}
        self._status_task: int | None = None
        self._throttle: Any = None
        self._started = 0.0
        self._last_status = 0.0
        self._last_column = ""

    @staticmethod
    def wanted() -> bool:
        """Draw only on a terminal: logs and CI output stay clean."""
        return sys.stderr.isatty()

    def on_start(self, engine: str, records: int, columns: Sequence[str], throttle: Any) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description:<24}"),
            _ColumnBar(),
            _ColumnCount(),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            console=self.console,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=False,
        )
        self._progress.start()
        self._throttle = throttle
        self._started = time.monotonic()
        self._last_column = columns[-1] if columns else ""
        for column in columns:
            label = f"{engine}: {column}"
            self._tasks[column] = self._progress.add_task(label, total=records, failed="")
            self._failures[column] = 0
        self._status_task = self._progress.add_task("", total=None, failed="", status=True)

    def on_task_done(self, column: str, rows: int, ok: bool) -> None:
        if self._progress is None or column not in self._tasks:
            return
        if not ok:
            self._failures[column] += rows
        failed = f"[red]{self._failures[column]} failed" if self._failures[column] else ""
        self._progress.update(self._tasks[column], advance=rows, failed=failed)

        now = time.monotonic()
        if now - self._last_status >= 1 / REFRESH_PER_SECOND:
            self._last_status = now
            self._progress.update(self._status_task, description=self._status_line(now))

    def on_rows_written(self, rows: int) -> None:
        return None

    def on_finish(self) -> None:
        if self._progress is not None:
            self._progress.update(
                self._status_task, description=self._status_line(time.monotonic())
            )
            self._progress.stop()
            self._progress = None

    def _status_line(self, now: float) -> str:
        """Rows a second (by the last column) and each model's limit and requests in flight."""
        done = self._progress.tasks[self._tasks[self._last_column]].completed if self._tasks else 0
        rate = done / max(now - self._started, 1e-9)
        limits = ", ".join(
            f"{key.split('/')[1]} {snap.in_flight}/{snap.limit}"
            for key, snap in sorted(self._throttle.snapshot().items())
        )
        return f"{rate:.1f} rows/s; in flight/limit: {limits or 'no model yet'}"
