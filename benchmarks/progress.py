"""Terminal progress for a run: a bar per column on a terminal, silence elsewhere.

The executors only call a ``RunObserver``; this module is the command line's drawing of it.
``rich`` bounds the redraw rate, so a fast run does not spend its time repainting.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

REFRESH_PER_SECOND = 4


class ColumnProgress:
    """A ``RunObserver`` drawing done over total for every column, and failures."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(file=sys.stderr)
        self._progress: Progress | None = None
        self._tasks: dict[str, int] = {}
        self._failures: dict[str, int] = {}

    @staticmethod
    def wanted() -> bool:
        """Draw only on a terminal: logs and CI output stay clean."""
        return sys.stderr.isatty()

    def on_start(self, engine: str, records: int, columns: Sequence[str]) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(),
            console=self.console,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=False,
        )
        self._progress.start()
        for column in columns:
            label = f"{engine}: {column}"
            self._tasks[column] = self._progress.add_task(label, total=records, failed="")
            self._failures[column] = 0

    def on_task_done(self, column: str, rows: int, ok: bool) -> None:
        if self._progress is None or column not in self._tasks:
            return
        if not ok:
            self._failures[column] += rows
        failed = f"[red]{self._failures[column]} failed" if self._failures[column] else ""
        self._progress.update(self._tasks[column], advance=rows, failed=failed)

    def on_rows_written(self, rows: int) -> None:
        return None

    def on_finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
