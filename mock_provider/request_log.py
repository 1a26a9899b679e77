"""The request log: one ``RequestRecord`` per request, kept in memory, written to CSV/Parquet.

Times come from ``time.time()``: ``arrival`` when the request was received, ``start`` when
service began (after any self-hosted queueing), ``end`` when the last byte was written. A
harness takes one trial's records with ``mark()`` then ``since(mark)``.

The log keeps plain tuples and builds ``RequestRecord`` objects only when asked: a tuple of
strings and numbers is cheap to make on the server's hot path and is untracked by the
garbage collector, so a log of a million requests does not slow down every full collection.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = (
    "request_id",
    "model",
    "tag",
    "arrival",
    "start",
    "end",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "fault",
)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the mock served it; status 0 means no response was sent."""

    request_id: str
    model: str
    tag: str | None
    arrival: float
    start: float
    end: float
    status: int
    prompt_tokens: int
    completion_tokens: int
    fault: str | None


#: A record's fields as a tuple, in ``COLUMNS`` order.
Row = tuple[str, str, str | None, float, float, float, int, int, int, str | None]
_as_row = operator.attrgetter(*COLUMNS)


class RequestLog:
    """An append-only in-memory log of requests."""

    def __init__(self) -> None:
        self._rows: list[Row] = []

    def append(self, record: RequestRecord) -> None:
        self._rows.append(_as_row(record))

    def append_row(self, row: Row) -> None:
        """Append a record given as a tuple in ``COLUMNS`` order (the server's fast path)."""
        self._rows.append(row)

    def __len__(self) -> int:
        return len(self._rows)

    def records(self) -> list[RequestRecord]:
        return [RequestRecord(*row) for row in self._rows]

    def mark(self) -> int:
        """A position to pass to ``since`` later."""
        return len(self._rows)

    def since(self, index: int) -> list[RequestRecord]:
        """Records appended after position ``index``."""
        return [RequestRecord(*row) for row in self._rows[index:]]

    def clear(self) -> None:
        self._rows.clear()

    def to_frame(self, records: Sequence[RequestRecord] | None = None) -> pd.DataFrame:
        # A copy (one C-level step), so a writer thread sees a consistent snapshot.
        rows = list(self._rows) if records is None else [_as_row(r) for r in records]
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def write(self, path: str | Path) -> Path:
        """Write every record to ``path`` (.csv or .parquet), replacing the file."""
        return _write_frame(self.to_frame(), path)


def write_records(records: Sequence[RequestRecord], path: str | Path) -> Path:
    """Write ``records`` to ``path`` (.csv or .parquet), replacing the file."""
    return _write_frame(RequestLog().to_frame(records), Path(path))


def _write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    frame = frame.astype({"tag": "object", "fault": "object"})
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".parquet":
        frame.to_parquet(tmp, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        raise ValueError(f"request log path {str(path)!r}: expected a .csv or .parquet file")
    tmp.replace(path)
    log.debug("wrote %d request records to %s", len(frame), path)
    return path


def read_request_log(path: str | Path) -> list[RequestRecord]:
    """Read a log written by ``RequestLog.write`` back into records."""
    path = Path(path)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(
            path,
            dtype={"request_id": str, "model": str, "tag": object, "fault": object},
            keep_default_na=False,
            na_values={"tag": [""], "fault": [""]},
        )

    def optional(value: object) -> str | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return str(value)

    return [
        RequestRecord(
            request_id=str(row.request_id),
            model=str(row.model),
            tag=optional(row.tag),
            arrival=float(row.arrival),
            start=float(row.start),
            end=float(row.end),
            status=int(row.status),
            prompt_tokens=int(row.prompt_tokens),
            completion_tokens=int(row.completion_tokens),
            fault=optional(row.fault),
        )
        for row in frame.itertuples(index=False)
    ]
