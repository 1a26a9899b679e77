"""The request log: one ``RequestRecord`` per request, kept in memory, written to CSV/Parquet.

Times come from ``time.time()``: ``arrival`` when the request was received, ``start`` when
service began (after any self-hosted queueing), ``end`` when the last byte was written. A
harness takes one trial's records with ``mark()`` then ``since(mark)``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
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


class RequestLog:
    """An append-only in-memory list of records."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        self._records.append(record)

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> list[RequestRecord]:
        return list(self._records)

    def mark(self) -> int:
        """A position to pass to ``since`` later."""
        return len(self._records)

    def since(self, index: int) -> list[RequestRecord]:
        """Records appended after position ``index``."""
        return self._records[index:]

    def clear(self) -> None:
        self._records.clear()

    def to_frame(self, records: list[RequestRecord] | None = None) -> pd.DataFrame:
        rows = self._records if records is None else records
        return pd.DataFrame([dataclasses.astuple(r) for r in rows], columns=list(COLUMNS))

    def write(self, path: str | Path) -> Path:
        """Write every record to ``path`` (.csv or .parquet), replacing the file."""
        return write_records(self.records(), path)


def write_records(records: list[RequestRecord], path: str | Path) -> Path:
    path = Path(path)
    frame = RequestLog().to_frame(records)
    frame = frame.astype({"tag": "object", "fault": "object"})
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".parquet":
        frame.to_parquet(tmp, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        raise ValueError(f"request log path {str(path)!r}: expected a .csv or .parquet file")
    tmp.replace(path)
    log.debug("wrote %d request records to %s", len(records), path)
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
