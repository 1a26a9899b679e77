"""Row groups are planned, admitted, written atomically and resumed only when they match."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dd_core.errors import RunError
from dd_core.executors.row_groups import (
    MANIFEST_NAME,
    Admission,
    RowGroup,
    RowGroupStore,
    RunManifest,
    plan_row_groups,
)

MANIFEST = RunManifest(pipeline="deep", seed=7, records=25, row_group_size=10)


def frame(rows: range) -> pd.DataFrame:
    data = pd.DataFrame({"topic": [f"t{row}" for row in rows], "score": list(rows)})
    data.index = pd.Index(list(rows), name="row", dtype="int64")
    return data


def test_plan_splits_rows_with_a_short_last_group() -> None:
    groups = plan_row_groups(25, 10)

    assert groups == [RowGroup(0, 0, 10), RowGroup(1, 10, 20), RowGroup(2, 20, 25)]
    assert list(groups[2].rows) == [20, 21, 22, 23, 24]
    assert len(groups[2]) == 5
    assert plan_row_groups(0, 10) == []


def test_plan_refuses_a_bad_group_size() -> None:
    with pytest.raises(ValueError, match="row_group_size must be a positive integer, got 0"):
        plan_row_groups(10, 0)


def test_admission_bounds_groups_in_flight_without_blocking() -> None:
    admission = Admission(2)

    assert admission.try_admit() and admission.try_admit()
    assert not admission.try_admit()
    admission.release()
    assert admission.try_admit()
    admission.release()
    admission.release()
    with pytest.raises(RuntimeError, match="released more times"):
        admission.release()


def test_written_groups_read_back_in_row_order(tmp_path) -> None:
    store = RowGroupStore(tmp_path)
    store.prepare(MANIFEST, resume=False)

    store.write(2, frame(range(20, 25)))
    store.write(0, frame(range(0, 10)))
    store.write(1, frame(range(10, 20)))

    assert store.path_for(3).name == "row_group_00003.parquet"
    assert store.existing() == [0, 1, 2]
    assert not list(tmp_path.glob(".*.tmp"))
    back = store.read([2, 0, 1])
    assert list(back.index) == list(range(25))
    assert list(back["topic"]) == [f"t{row}" for row in range(25)]


def test_empty_groups_do_not_break_the_read_back(tmp_path) -> None:
    store = RowGroupStore(tmp_path)
    store.prepare(MANIFEST, resume=False)
    store.write(0, frame(range(0, 0)))
    store.write(1, frame(range(10, 12)))

    assert list(store.read([0, 1]).index) == [10, 11]
    assert len(store.read([0])) == 0
    assert len(store.read([])) == 0


def test_fresh_run_removes_stale_group_files_and_writes_a_manifest(tmp_path) -> None:
    store = RowGroupStore(tmp_path)
    store.prepare(MANIFEST, resume=False)
    store.write(5, frame(range(3)))
    (tmp_path / "notes.txt").write_text("keep me")

    assert store.prepare(MANIFEST, resume=False) == set()

    assert store.existing() == []
    assert (tmp_path / "notes.txt").exists()
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["pipeline"] == "deep"


def test_resume_returns_the_groups_on_disk(tmp_path) -> None:
    store = RowGroupStore(tmp_path)
    store.prepare(MANIFEST, resume=False)
    store.write(0, frame(range(10)))

    assert RowGroupStore(tmp_path).prepare(MANIFEST, resume=True) == {0}


def test_resume_refuses_a_mismatched_run_naming_the_fields(tmp_path) -> None:
    store = RowGroupStore(tmp_path)
    store.prepare(MANIFEST, resume=False)
    other = RunManifest(pipeline="deep", seed=8, records=25, row_group_size=5)

    with pytest.raises(RunError, match=r"seed: on disk 7, now 8; row_group_size: on disk 10"):
        store.prepare(other, resume=True)


def test_resume_refuses_group_files_without_a_manifest(tmp_path) -> None:
    store = RowGroupStore(tmp_path)
    store.prepare(MANIFEST, resume=False)
    store.write(0, frame(range(3)))
    (tmp_path / MANIFEST_NAME).unlink()

    with pytest.raises(RunError, match="no manifest.json"):
        store.prepare(MANIFEST, resume=True)


def test_resume_of_an_empty_folder_is_a_fresh_run(tmp_path) -> None:
    assert RowGroupStore(tmp_path / "new").prepare(MANIFEST, resume=True) == set()
    assert (tmp_path / "new" / MANIFEST_NAME).exists()


def test_the_salvage_rule_decides_a_groups_next_step():
    from dd_core.executors.row_groups import GroupStep, next_group_step

    assert next_group_step(True, 0, 0, 0, 0, 2) is GroupStep.FINISH
    assert next_group_step(True, 1, 0, 0, 0, 2) is GroupStep.WAIT
    assert next_group_step(False, 0, 3, 1, 0, 2) is GroupStep.WAIT
    assert next_group_step(False, 0, 0, 0, 0, 2) is GroupStep.DROP_LIVE
    assert next_group_step(False, 0, 0, 4, 1, 2) is GroupStep.SALVAGE
    assert next_group_step(False, 0, 0, 4, 2, 2) is GroupStep.DROP_DEFERRED
    assert next_group_step(False, 0, 0, 4, 0, 0) is GroupStep.DROP_DEFERRED
