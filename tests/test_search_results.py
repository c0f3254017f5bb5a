"""Tests of the ranking ``python -m acgan_search.run`` prints: statuses and order match the report.

The fast tests write an experiment directory in the layout Ray Tune 2.60 leaves on disk and
build Ray's own ``Result`` objects over it, as ``Tuner.fit`` returns them. The summaries of the
run and the tables of the report are then computed from the same trials without starting Ray.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.fs
import pytest
from ray.tune import Checkpoint, Result

from acgan_search import metric_names as mn
from acgan_search.reporting import ranking as rk
from acgan_search.reporting import results as rs
from acgan_search.search import trainable
from acgan_search.search.results import format_ranking, search_results_from_grid, summarize_results

MAX_STEPS = 40
STATE_FILE = "experiment_state-2026-01-01_00-00-00.json"


class StoredGrid(list):
    """The parts of Ray's ``ResultGrid`` the summaries read: its results, path and filesystem."""

    def __init__(self, results: list[Result], experiment_path: Path) -> None:
        super().__init__(results)
        self.experiment_path = str(experiment_path)
        self.filesystem = pyarrow.fs.LocalFileSystem()


def metrics(fid: float, accuracy: float) -> dict[str, float]:
    return {mn.FID: fid, mn.CLASS_ACCURACY: accuracy, mn.CLASS_ENTROPY: 2.2, mn.INTRA_FID: fid * 1.5}


def write_trial(
    experiment: Path, index: int, params: dict[str, Any], intervals: list[dict[str, Any]], status: str
) -> Path:
    """Write a trial as Ray and the trainable do: params.json, result.json, checkpoints with metrics.json."""
    trial_id = f"abcde_{index:05d}"
    trial_dir = experiment / f"train_trial_{trial_id}_{index}_2026-01-01_00-00-00"
    trial_dir.mkdir(parents=True)
    (trial_dir / "params.json").write_text(json.dumps(params))
    lines = []
    for position, values in enumerate(intervals):
        result = {mn.STEP: 20 * (position + 1), mn.DIVERGED: 0.0, **values}
        checkpoint = trial_dir / f"checkpoint_{position:06d}"
        checkpoint.mkdir()
        (checkpoint / trainable.CHECKPOINT_METRICS_FILE).write_text(json.dumps(result))
        row = {**result, "trial_id": trial_id, "training_iteration": position + 1,
               "time_total_s": 1.5 * (position + 1), "config": params, "checkpoint_dir_name": checkpoint.name}
        lines.append(json.dumps(row))
    (trial_dir / "result.json").write_text("".join(line + "\n" for line in lines))

    state_path = experiment / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {"trial_data": [], "runner_data": {}}
    state["trial_data"].append([
        json.dumps({"trial_id": trial_id, "status": status, "relative_logdir": trial_dir.name, "config": params}),
        json.dumps({"last_result": {}}),
    ])
    state_path.write_text(json.dumps(state))
    return trial_dir


def ray_result(trial_dir: Path, *, readable_log: bool = True) -> Result:
    """Build the ``Result`` Ray 2.60 returns for a trial directory.

    Ray reads ``result.json`` with ``json_normalize``; one unreadable line makes it give up and
    return an empty table (``readable_log=False``). The results stored with the checkpoints
    stay in the driver's memory either way.
    """
    rows = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines() if line.strip()]
    frame = pd.json_normalize(rows, sep="/") if rows and readable_log else pd.DataFrame()
    checkpoints = [
        (Checkpoint.from_directory(str(trial_dir / row["checkpoint_dir_name"])), row) for row in rows
    ]
    return Result(
        metrics=rows[-1] if rows else {},
        checkpoint=checkpoints[-1][0] if checkpoints else None,
        error=None,
        path=str(trial_dir),
        metrics_dataframe=frame,
        best_checkpoints=checkpoints,
    )


def write_record(experiment: Path) -> None:
    """Write the parts of ``acgan_search.json`` the report reads: objectives, budget, parameters."""
    record = {
        "objectives": [mn.FID],
        "modes": ["min"],
        "budget": {"num_trials": 3, "max_steps": MAX_STEPS, "interval": 20},
        "search_space": {"parameters": {"generator_lr": {"distribution": "log_uniform", "low": 1e-4, "high": 1e-2}}},
    }
    (experiment / rs.SEARCH_RECORD_FILE).write_text(json.dumps(record))


def end_search(experiment: Path) -> None:
    """Write the marker ``run`` leaves when ``Tuner.fit`` returns."""
    (experiment / rs.SEARCH_END_FILE).write_text(json.dumps({"experiment_state": STATE_FILE}))


@pytest.fixture()
def interrupted_search(tmp_path: Path) -> tuple[Path, StoredGrid]:
    """Three trials of a search stopped with Ctrl-C: one completed, one stopped by ASHA, one cut off.

    The trial with the lowest FID (00001) is below the 0.9 class-accuracy threshold.
    """
    experiment = tmp_path / "interrupted"
    experiment.mkdir()
    write_record(experiment)
    directories = [
        write_trial(experiment, 0, {"generator_lr": 1e-3}, [metrics(30, 0.95), metrics(20, 0.96)], "TERMINATED"),
        write_trial(experiment, 1, {"generator_lr": 2e-3}, [metrics(5, 0.5)], "TERMINATED"),
        write_trial(experiment, 2, {"generator_lr": 3e-4}, [metrics(12, 0.93)], "RUNNING"),
    ]
    end_search(experiment)
    return experiment, StoredGrid([ray_result(directory) for directory in directories], experiment)


def statuses_of(summaries: list[Any]) -> dict[str, str]:
    return {summary.trial_id: summary.status for summary in summaries}


def test_summarize_results_interrupted_trial(interrupted_search: tuple[Path, StoredGrid]) -> None:
    _, grid = interrupted_search
    statuses = statuses_of(summarize_results(grid, ["fid"], ["min"], MAX_STEPS))
    assert statuses["abcde_00002"] == rs.INTERRUPTED


def test_summarize_results_scheduler_stop(interrupted_search: tuple[Path, StoredGrid]) -> None:
    _, grid = interrupted_search
    statuses = statuses_of(summarize_results(grid, ["fid"], ["min"], MAX_STEPS))
    assert statuses["abcde_00001"] == rs.STOPPED_EARLY
    assert statuses["abcde_00000"] == rs.COMPLETED


def test_summarize_results_statuses_match_report(interrupted_search: tuple[Path, StoredGrid]) -> None:
    experiment, grid = interrupted_search
    report_trials = rs.load_search_results(experiment).trials
    report_statuses = dict(zip(report_trials[rs.TRIAL_ID], report_trials[rs.STATUS]))
    assert statuses_of(summarize_results(grid, ["fid"], ["min"], MAX_STEPS)) == report_statuses


def test_summarize_results_order_matches_report(interrupted_search: tuple[Path, StoredGrid]) -> None:
    experiment, grid = interrupted_search
    summaries = summarize_results(grid, ["fid"], ["min"], MAX_STEPS)
    report_ranking = rk.rank_trials(rs.load_search_results(experiment), rk.RankingRule())
    assert [summary.trial_id for summary in summaries] == list(report_ranking[rs.TRIAL_ID])


def test_summarize_results_applies_accuracy_threshold(interrupted_search: tuple[Path, StoredGrid]) -> None:
    _, grid = interrupted_search
    summaries = summarize_results(grid, ["fid"], ["min"], MAX_STEPS)
    # 00001 has the lowest FID but a class accuracy of 0.5, so it follows the eligible trials.
    assert [summary.trial_id for summary in summaries] == ["abcde_00002", "abcde_00000", "abcde_00001"]
    assert summaries[-1].tier == rk.BELOW_THRESHOLD


def test_summarize_results_threshold_is_configurable(interrupted_search: tuple[Path, StoredGrid]) -> None:
    _, grid = interrupted_search
    summaries = summarize_results(grid, ["fid"], ["min"], MAX_STEPS, accuracy_threshold=0.0)
    assert summaries[0].trial_id == "abcde_00001"


def test_summarize_results_best_interval(interrupted_search: tuple[Path, StoredGrid]) -> None:
    experiment, grid = interrupted_search
    best = {summary.trial_id: summary for summary in summarize_results(grid, ["fid"], ["min"], MAX_STEPS)}
    assert best["abcde_00000"].best == {mn.FID: 20.0, mn.CLASS_ACCURACY: 0.96, mn.STEP: 40}
    assert best["abcde_00000"].best_checkpoint.endswith("checkpoint_000001")
    assert best["abcde_00000"].parameters == {"generator_lr": 1e-3}


def test_summarize_results_recovers_intervals_from_checkpoints(tmp_path: Path) -> None:
    experiment = tmp_path / "search"
    trial_dir = write_trial(experiment, 0, {"generator_lr": 1e-3}, [metrics(30, 0.95)], "TERMINATED")
    end_search(experiment)
    grid = StoredGrid([ray_result(trial_dir, readable_log=False)], experiment)
    summaries = summarize_results(grid, ["fid"], ["min"], MAX_STEPS)
    assert summaries[0].tier == rk.ELIGIBLE
    assert summaries[0].best[mn.FID] == 30.0


def test_summarize_results_reads_checkpoint_ray_never_saw(tmp_path: Path) -> None:
    """After Ctrl-C the newest checkpoint can be in storage while Ray's driver lacks its result."""
    experiment = tmp_path / "search"
    trial_dir = write_trial(experiment, 0, {"generator_lr": 1e-3}, [metrics(30, 0.95)], "RUNNING")
    end_search(experiment)
    grid = StoredGrid([ray_result(trial_dir)], experiment)
    unseen = trial_dir / "checkpoint_000001"
    unseen.mkdir()
    (unseen / trainable.CHECKPOINT_METRICS_FILE).write_text(json.dumps({mn.STEP: 40, mn.DIVERGED: 0.0, **metrics(10, 0.97)}))
    summary = summarize_results(grid, ["fid"], ["min"], MAX_STEPS)[0]
    assert summary.best[mn.FID] == 10.0
    assert summary.best[mn.STEP] == 40
    assert summary.best_checkpoint.endswith("checkpoint_000001")


def test_search_results_from_grid_without_state_file(interrupted_search: tuple[Path, StoredGrid]) -> None:
    experiment, grid = interrupted_search
    (experiment / STATE_FILE).unlink()
    trials = search_results_from_grid(grid, MAX_STEPS).trials.set_index(rs.TRIAL_ID)
    assert trials.loc["abcde_00000", rs.STATUS] == rs.COMPLETED
    assert trials.loc["abcde_00002", rs.STATUS] == rs.UNKNOWN


def test_format_ranking_shows_status_and_tier(interrupted_search: tuple[Path, StoredGrid]) -> None:
    _, grid = interrupted_search
    table = format_ranking(summarize_results(grid, ["fid"], ["min"], MAX_STEPS), ["fid"], 3)
    first_row = table.splitlines()[1].split()
    assert first_row[:4] == ["1", "abcde_00002", "interrupted", "eligible"]


def test_format_ranking_top_k_rows(interrupted_search: tuple[Path, StoredGrid]) -> None:
    _, grid = interrupted_search
    table = format_ranking(summarize_results(grid, ["fid"], ["min"], MAX_STEPS), ["fid"], 2)
    assert len(table.splitlines()) == 3


def test_checkpoint_metrics_file_name_shared() -> None:
    assert rs.CHECKPOINT_METRICS_FILE == trainable.CHECKPOINT_METRICS_FILE
