"""The search on a real local Ray: end to end, across nodes, after a killed worker or driver, with divergence.

Every search here trains a tiny model for a few dozen steps; the Ray tests are marked slow.
Each test that starts Ray shuts it down, and each process a test starts is ended by its id.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from PIL import Image

from acgan_search import metric_names
from acgan_search.errors import SearchSpaceError
from acgan_search.run import main, search_exit_status
from acgan_search.search import EXPERIMENT_FILE, SAMPLE_GRID_FILE, load_search_space, run_search, summarize_results
from acgan_search.search.results import COMPLETED, DIVERGED, STOPPED_EARLY, format_ranking
from acgan_search.search.trainable import CHECKPOINT_METRICS_FILE, DIVERGED_PENALTY, NODE_ID, diverged_result

REPOSITORY = Path(__file__).resolve().parents[1]
SMOKE = REPOSITORY / "search_spaces" / "smoke.yaml"

TINY: dict[str, Any] = {
    "name": "tiny",
    "dataset": "mnist-5k",
    "budget": {"num_trials": 2, "max_steps": 40, "interval": 20},
    "evaluation": {"samples_per_class": 65, "seed": 0},
    "searcher": {"sampler": "random", "seed": 0},
    "scheduler": "none",
    "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2},
    "failures": {"max_failures": 1},
    "fixed": {
        "batch_size": 32,
        "latent_dim": 16,
        "embedding_dim": 8,
        "generator_filters": 16,
        "discriminator_filters": 8,
        "log_every": 20,
        "grid_columns": 2,
    },
    "parameters": {"class_weight_start": {"distribution": "uniform", "low": 0.3, "high": 1.0}},
}


def write_space(directory: Path, **changes: Any) -> Path:
    document = copy.deepcopy(TINY)
    document.update(changes)
    path = directory / f"{document['name']}.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def trial_directories(experiment: Path) -> list[Path]:
    return sorted(path for path in experiment.glob("train_trial_*") if path.is_dir())


def trial_results(trial_directory: Path) -> list[dict[str, Any]]:
    result_file = trial_directory / "result.json"
    if not result_file.exists():
        return []
    return [json.loads(line) for line in result_file.read_text(encoding="utf-8").splitlines() if line.strip()]


def descendant_pids(pid: int) -> list[int]:
    """Return the ids of every process below ``pid``, read from /proc (Linux)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return found


def trial_worker_pids(trial_name: str) -> list[int]:
    """Return the ids of the processes running a trial, found by title and working directory.

    Ray titles trial processes ``ray::ImplicitFunc.train`` and runs each in a working directory
    named after the trial, which distinguishes this test's trial from trials of other Ray instances.
    """
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command_line = (entry / "cmdline").read_bytes()
            working_directory = os.readlink(entry / "cwd")
        except OSError:
            continue
        if command_line.startswith(b"ray::ImplicitFunc.train") and trial_name in working_directory:
            pids.append(int(entry.name))
    return pids


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


# ------------------------------------------------------------------ without Ray


def test_diverged_result_is_finite() -> None:
    measured = {metric_names.D_LOSS: math.nan, metric_names.G_LOSS: 1.5, metric_names.FID: math.inf}
    result = diverged_result(60, measured, (metric_names.FID, metric_names.CLASS_ACCURACY))
    assert all(math.isfinite(value) for value in result.values())
    assert result[metric_names.DIVERGED] == 1.0
    assert result[metric_names.STEP] == 60


def test_diverged_result_penalises_by_direction() -> None:
    result = diverged_result(20, {metric_names.D_LOSS: math.nan}, (metric_names.FID, metric_names.CLASS_ACCURACY))
    assert result[metric_names.FID] == DIVERGED_PENALTY
    assert result[metric_names.CLASS_ACCURACY] == 0.0
    assert result[metric_names.D_LOSS] == DIVERGED_PENALTY


def test_diverged_result_keeps_finite_values() -> None:
    result = diverged_result(20, {metric_names.G_LOSS: 1.5, metric_names.D_LOSS: math.nan}, ())
    assert result[metric_names.G_LOSS] == 1.5


def test_run_invalid_space_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = write_space(tmp_path, parameters={"generator_lrr": {"distribution": "uniform", "low": 0.1, "high": 0.2}})
    storage = tmp_path / "results"
    status = main([str(space), "--storage", str(storage)])
    assert status == 2
    assert "parameters.generator_lrr is not a training setting" in capsys.readouterr().err
    assert not storage.exists()
    assert not ray.is_initialized()


def test_run_resume_without_search_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main([str(write_space(tmp_path)), "--storage", str(tmp_path / "results"), "--resume"])
    assert status == 2
    assert "No search to resume at" in capsys.readouterr().err
    assert not ray.is_initialized()


# ------------------------------------------------------------------ with Ray


@pytest.mark.slow
def test_smoke_space_end_to_end(tmp_path: Path, local_ray: None) -> None:
    space = load_search_space(SMOKE)
    run, grid = run_search(space, storage=tmp_path / "results")
    experiment = Path(run.experiment_path)

    metadata = json.loads((experiment / EXPERIMENT_FILE).read_text(encoding="utf-8"))
    assert metadata["search_space"]["name"] == "smoke"
    assert metadata["objectives"] == ["fid"]
    assert metadata["evaluator"][metric_names.EVALUATOR_FINGERPRINT]
    assert 0.9 < metadata["evaluator"]["heldout_accuracy"] <= 1.0
    assert metadata["evaluator"][metric_names.FID_REAL_FLOOR] > 0
    assert metadata["software"]["ray"].startswith("2.")

    assert len(grid) == space.num_trials
    assert not grid.errors
    statuses = [s.status for s in summarize_results(grid, space.metrics, space.modes, space.max_steps)]
    assert search_exit_status(statuses, space.num_trials) == 0
    assert search_exit_status(statuses, space.num_trials + 1) == 1  # A trial never started is unfinished.
    for result in grid:
        frame = result.metrics_dataframe
        for key in (metric_names.FID, metric_names.CLASS_ACCURACY, metric_names.D_LOSS, metric_names.STEP):
            assert key in frame, key
        assert (frame[metric_names.DIVERGED] == 0).all()
        assert list(frame[metric_names.STEP]) == list(range(20, 20 * len(frame) + 1, 20))

    checkpoint = Path(grid[0].checkpoint.path)
    for name in ("config.yaml", "state.json", SAMPLE_GRID_FILE):
        assert (checkpoint / name).exists(), name
    with Image.open(checkpoint / SAMPLE_GRID_FILE) as image:
        assert image.format == "PNG"

    summaries = summarize_results(grid, space.metrics, space.modes, space.max_steps)
    statuses = {summary.status for summary in summaries}
    assert statuses <= {COMPLETED, STOPPED_EARLY}
    assert "rank" in format_ranking(summaries, space.metrics, space.top_k)


@pytest.mark.slow
def test_diverging_trial_marked_while_others_finish(tmp_path: Path, local_ray: None) -> None:
    # Random sampling with seed 8 picks the absurd rate for the first trial and 2e-4 for the second.
    space_file = write_space(
        tmp_path,
        name="diverging",
        searcher={"sampler": "random", "seed": 8},
        parameters={"discriminator_lr": {"distribution": "categorical", "choices": [2.0e-4, 1.0e12]}},
    )
    space = load_search_space(space_file)
    _, grid = run_search(space, storage=tmp_path / "results")

    diverged = [result for result in grid if result.config["discriminator_lr"] == 1.0e12]
    healthy = [result for result in grid if result.config["discriminator_lr"] == 2.0e-4]
    assert diverged and healthy
    for result in diverged:
        assert result.metrics[metric_names.DIVERGED] == 1.0
        assert result.metrics[metric_names.FID] == DIVERGED_PENALTY
        assert all(math.isfinite(v) for v in result.metrics.values() if isinstance(v, float))
    for result in healthy:
        assert result.metrics[metric_names.DIVERGED] == 0.0
        assert result.metrics[metric_names.STEP] == space.max_steps

    statuses = {s.trial_id: s.status for s in summarize_results(grid, space.metrics, space.modes, space.max_steps)}
    assert sorted(statuses.values()) == [COMPLETED, DIVERGED]


@pytest.mark.slow
def test_trials_spread_over_two_nodes(tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address)
        cluster.wait_for_nodes()
        space = load_search_space(write_space(tmp_path, name="two_nodes"))
        _, grid = run_search(space, storage=tmp_path / "results")
        nodes = {result.metrics[NODE_ID] for result in grid}
        assert len(nodes) == 2
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.slow
def test_killed_worker_resumes_from_checkpoint(tmp_path: Path, local_ray: None) -> None:
    space = load_search_space(
        write_space(tmp_path, name="killed_worker", budget={"num_trials": 1, "max_steps": 80, "interval": 20})
    )
    experiment = tmp_path / "results" / "killed_worker"
    killed: list[int] = []

    def kill_worker_after_first_checkpoint() -> None:
        # A checkpoint reaches storage while tune.report runs, before the driver registers it, so
        # wait for the second one: by then the driver has registered the first and restores from it.
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            checkpoints = list(experiment.glob("train_trial_*/checkpoint_000001"))
            if checkpoints:
                trial_id = "_".join(checkpoints[0].parent.name.split("_")[:3])  # train_trial_<id>
                for pid in trial_worker_pids(trial_id):
                    kill_quietly(pid)
                    killed.append(pid)
                if killed:
                    return
            time.sleep(0.1)

    watcher = threading.Thread(target=kill_worker_after_first_checkpoint, daemon=True)
    watcher.start()
    _, grid = run_search(space, storage=tmp_path / "results")
    watcher.join(timeout=5)

    assert killed, "the trial's worker was never killed"
    assert not grid.errors
    trial = trial_directories(experiment)[0]
    checkpoint_steps = [
        json.loads((checkpoint / CHECKPOINT_METRICS_FILE).read_text())[metric_names.STEP]
        for checkpoint in sorted(trial.glob("checkpoint_*"))
    ]
    assert checkpoint_steps == [20, 40, 60, 80]
    rows = trial_results(trial)
    assert rows[-1][metric_names.STEP] == 80
    assert rows[-1]["pid"] != killed[0]
    assert any(row["iterations_since_restore"] < row["training_iteration"] for row in rows)


@pytest.mark.slow
def test_killed_driver_resumes_with_resume(tmp_path: Path) -> None:
    space_file = write_space(
        tmp_path,
        name="killed_driver",
        budget={"num_trials": 3, "max_steps": 40, "interval": 20},
        resources={"cpus_per_trial": 1, "max_concurrent_trials": 1},
    )
    storage = tmp_path / "results"
    experiment = storage / "killed_driver"
    command = [sys.executable, "-m", "acgan_search.run", str(space_file), "--storage", str(storage), "--num-cpus", "2"]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    finished: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not finished:
            for trial in trial_directories(experiment):
                rows = trial_results(trial)
                if rows and rows[-1][metric_names.STEP] == 40:
                    finished[trial.name] = len(rows)
            time.sleep(0.5)
    finally:
        # Kill the driver and the Ray processes it started, by their ids.
        children = descendant_pids(driver.pid)
        driver.kill()
        driver.wait(timeout=30)
        for child in children:
            kill_quietly(child)
        time.sleep(2)
    assert finished, "no trial finished before the deadline"

    space = load_search_space(space_file)
    _, grid = run_search(space, storage=storage, resume=True, num_cpus=2)

    assert len(grid) == 3
    assert not grid.errors
    for name, row_count in finished.items():
        assert len(trial_results(experiment / name)) == row_count, name
    assert all(result.metrics[metric_names.STEP] == 40 for result in grid)

    searcher_state = sorted(experiment.glob("searcher-state-*.pkl"))[-1]
    with searcher_state.open("rb") as stream:
        study = pickle.load(stream)["_ot_study"]
    assert len(study.trials) == 3


def test_sample_count_over_dataset_limit_rejected_before_ray(tmp_path):
    document = yaml.safe_load(SMOKE.read_text())
    document["evaluation"]["samples_per_class"] = 300  # mnist-5k allows at most 200 per class.
    path = tmp_path / "too_many_samples.yaml"
    path.write_text(yaml.safe_dump(document))

    with pytest.raises(SearchSpaceError, match=r"evaluation\.samples_per_class=300 does not fit dataset 'mnist-5k'"):
        run_search(load_search_space(path), storage=tmp_path / "results")

    assert not ray.is_initialized()
    assert not (tmp_path / "results").exists()
