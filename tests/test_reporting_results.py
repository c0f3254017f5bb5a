"""Tests of reading stored results: interrupted trials, damaged result.json, checkpoint metrics.

Experiment directories are written in the layout Ray Tune 2.60 leaves on disk, with the
``metrics.json`` the trainable stores in every checkpoint. ``test_search_results`` reads the
same trials through Ray's ``ResultGrid``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from acgan_search import metric_names as mn
from acgan_search.reporting import ranking as rk
from acgan_search.reporting import results as rs
from acgan_search.search.tuner import remove_search_end, write_search_end
from test_search_results import STATE_FILE, metrics, write_record, write_trial


def trial_status(experiment: Path, index: int) -> str:
    trials = rs.load_search_results(experiment).trials.set_index(rs.TRIAL_ID)
    return trials.loc[f"abcde_{index:05d}", rs.STATUS]


@pytest.fixture()
def stopped_search(tmp_path: Path) -> Path:
    """A search whose driver stopped: trial 0 completed, 1 stopped by ASHA, 2 still RUNNING in Ray's state."""
    experiment = tmp_path / "search"
    experiment.mkdir()
    write_record(experiment)
    write_trial(experiment, 0, {"generator_lr": 1e-3}, [metrics(30, 0.95), metrics(20, 0.96)], "TERMINATED")
    write_trial(experiment, 1, {"generator_lr": 2e-3}, [metrics(5, 0.5)], "TERMINATED")
    write_trial(experiment, 2, {"generator_lr": 3e-4}, [metrics(12, 0.93)], "RUNNING")
    return experiment


# ------------------------------------------------------------------ interrupted trials


@pytest.mark.parametrize("ray_status", ["RUNNING", "PAUSED", "PENDING"])
def test_trial_status_unfinished_after_search_ended(ray_status: str) -> None:
    assert rs.trial_status(ray_status, False, 20, 40, search_ended=True) == rs.INTERRUPTED


@pytest.mark.parametrize(
    ("ray_status", "expected"), [("RUNNING", rs.RUNNING), ("PAUSED", rs.PAUSED), ("PENDING", rs.PENDING)]
)
def test_trial_status_unfinished_while_search_runs(ray_status: str, expected: str) -> None:
    assert rs.trial_status(ray_status, False, 20, 40, search_ended=False) == expected


def test_trial_status_scheduler_stop_after_search_ended() -> None:
    assert rs.trial_status("TERMINATED", False, 20, 40, search_ended=True) == rs.STOPPED_EARLY


def test_trial_status_diverged_before_interruption() -> None:
    assert rs.trial_status("RUNNING", True, 20, 40, search_ended=True) == rs.DIVERGED


def test_interrupted_is_unfinished() -> None:
    assert rs.INTERRUPTED in rs.UNFINISHED_STATUSES


def test_load_search_results_interrupted_after_end_marker(stopped_search: Path) -> None:
    write_search_end(str(stopped_search))
    assert trial_status(stopped_search, 2) == rs.INTERRUPTED


def test_load_search_results_scheduler_stop_kept(stopped_search: Path) -> None:
    write_search_end(str(stopped_search))
    assert trial_status(stopped_search, 1) == rs.STOPPED_EARLY


def test_load_search_results_running_without_end_marker(stopped_search: Path) -> None:
    assert trial_status(stopped_search, 2) == rs.RUNNING


def test_load_search_results_search_ended_flag(stopped_search: Path) -> None:
    write_search_end(str(stopped_search))
    assert rs.load_search_results(stopped_search).search_ended


def test_load_search_results_resumed_search_is_running(stopped_search: Path) -> None:
    write_search_end(str(stopped_search))
    # A resumed search writes the experiment state of its new session.
    state = (stopped_search / STATE_FILE).read_text()
    (stopped_search / "experiment_state-2026-01-02_00-00-00.json").write_text(state)
    assert trial_status(stopped_search, 2) == rs.RUNNING


def test_remove_search_end_on_resume(stopped_search: Path) -> None:
    write_search_end(str(stopped_search))
    remove_search_end(str(stopped_search))
    assert trial_status(stopped_search, 2) == rs.RUNNING


def test_remove_search_end_without_marker(stopped_search: Path) -> None:
    remove_search_end(str(stopped_search))
    assert not (stopped_search / rs.SEARCH_END_FILE).exists()


def test_write_search_end_names_newest_state(stopped_search: Path) -> None:
    write_search_end(str(stopped_search))
    marker = json.loads((stopped_search / rs.SEARCH_END_FILE).read_text())
    assert marker["experiment_state"] == STATE_FILE


def test_load_search_results_unreadable_end_marker(stopped_search: Path, caplog: pytest.LogCaptureFixture) -> None:
    (stopped_search / rs.SEARCH_END_FILE).write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert trial_status(stopped_search, 2) == rs.RUNNING
    assert rs.SEARCH_END_FILE in caplog.text


# ------------------------------------------------------------------ damaged result.json


def result_file(experiment: Path, index: int) -> Path:
    return next(experiment.glob(f"train_trial_abcde_{index:05d}_*/result.json"))


def test_load_search_results_truncated_first_line_recovered(stopped_search: Path) -> None:
    path = result_file(stopped_search, 1)
    path.write_text(path.read_text()[:25] + "\n")  # The only line of the trial, cut short.
    results = rs.load_search_results(stopped_search)
    history = results.history[results.history[rs.TRIAL_ID] == "abcde_00001"]
    assert list(history[mn.FID]) == [5.0]


def test_load_search_results_truncated_first_line_keeps_tier(stopped_search: Path) -> None:
    path = result_file(stopped_search, 1)
    path.write_text(path.read_text()[:25] + "\n")
    ranking = rk.rank_trials(rs.load_search_results(stopped_search), rk.RankingRule()).set_index(rs.TRIAL_ID)
    assert ranking.loc["abcde_00001", rk.TIER] == rk.BELOW_THRESHOLD


def test_load_search_results_recovered_interval_has_checkpoint(stopped_search: Path) -> None:
    path = result_file(stopped_search, 1)
    path.write_text("garbage\n")
    history = rs.load_search_results(stopped_search).history.set_index(rs.TRIAL_ID)
    assert history.loc["abcde_00001", rs.CHECKPOINT_PATH].endswith("checkpoint_000000")


def test_load_search_results_recovered_interval_keeps_order(stopped_search: Path) -> None:
    path = result_file(stopped_search, 0)
    lines = path.read_text().splitlines()
    path.write_text("{\"step\": 2\n" + lines[1] + "\n")  # The first interval's line is damaged.
    results = rs.load_search_results(stopped_search)
    history = results.history[results.history[rs.TRIAL_ID] == "abcde_00000"]
    assert list(history[mn.STEP]) == [20, 40]


def test_load_search_results_non_utf8_line_skipped(stopped_search: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = result_file(stopped_search, 0)
    lines = path.read_bytes().splitlines()
    path.write_bytes(lines[0] + b"\n\xff\xfe\x00garbage\n" + lines[1] + b"\n")
    with caplog.at_level(logging.WARNING):
        results = rs.load_search_results(stopped_search)
    assert f"Ignoring unreadable line 2 of {path}" in caplog.text
    assert len(results.history[results.history[rs.TRIAL_ID] == "abcde_00000"]) == 2


def test_load_search_results_warns_about_first_line(stopped_search: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = result_file(stopped_search, 1)
    path.write_text("{\"fid\": \n")
    with caplog.at_level(logging.WARNING):
        rs.load_search_results(stopped_search)
    assert f"Ignoring unreadable line 1 of {path}" in caplog.text


def test_load_search_results_non_object_line_skipped(stopped_search: Path) -> None:
    path = result_file(stopped_search, 1)
    path.write_text("[1, 2]\n" + path.read_text())
    results = rs.load_search_results(stopped_search)
    assert len(results.history[results.history[rs.TRIAL_ID] == "abcde_00001"]) == 1


def test_load_search_results_unreadable_checkpoint_metrics_ignored(stopped_search: Path) -> None:
    path = result_file(stopped_search, 1)
    path.write_text("garbage\n")
    next(path.parent.glob("checkpoint_*/metrics.json")).write_text("{")
    trials = rs.load_search_results(stopped_search).trials.set_index(rs.TRIAL_ID)
    assert trials.loc["abcde_00001", "intervals"] == 0


def test_merge_checkpoint_rows_adds_only_missing_steps() -> None:
    rows = [{mn.STEP: 40, mn.FID: 9.0}]
    checkpoint_rows = [{mn.STEP: 20, mn.FID: 10.0}, {mn.STEP: 40, mn.FID: 99.0}]
    assert rs.merge_checkpoint_rows(rows, checkpoint_rows, "trial") == [{mn.STEP: 20, mn.FID: 10.0}, {mn.STEP: 40, mn.FID: 9.0}]
