"""Tests of reading stored search results, the ranking rule, the Pareto front and importance.

Most tests read experiment directories written here in the layout Ray Tune 2.60 leaves on disk
(``experiment_state-*.json``, trial directories with ``params.json`` and ``result.json``), so
every status and ranking case is covered in seconds. The slow test at the end ranks a real tiny
search run with Ray Tune and the project's trainable.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from acgan_search import metric_names as mn
from acgan_search.errors import ResultsError
from acgan_search.reporting import ranking as rk
from acgan_search.reporting import results as rs
from acgan_search.reporting.importance import param_importances

MAX_STEPS = 40


# ------------------------------------------------------------------ experiment directories


def write_trial(
    experiment_dir: Path,
    index: int,
    params: dict[str, Any],
    intervals: list[dict[str, Any]],
    *,
    status: str = "TERMINATED",
    checkpoints: bool = False,
) -> str:
    """Write one trial directory as Ray does and return its trial ID.

    Each interval dict contains metrics; ``step`` defaults to 20 * (position + 1). With
    ``checkpoints`` every interval gets a ``checkpoint_XXXXXX`` directory (empty unless the
    caller fills it).
    """
    trial_id = f"abcde_{index:05d}"
    trial_dir = experiment_dir / f"train_trial_{trial_id}_{index}_2026-01-01_00-00-00"
    trial_dir.mkdir(parents=True)
    (trial_dir / "params.json").write_text(json.dumps(params))
    lines = []
    for position, metrics in enumerate(intervals):
        row = {mn.STEP: 20 * (position + 1), mn.DIVERGED: 0.0, **metrics}
        row.update(trial_id=trial_id, training_iteration=position + 1, time_total_s=1.5 * (position + 1),
                   config=params, done=False)
        if checkpoints and not row[mn.DIVERGED]:
            name = f"checkpoint_{position:06d}"
            (trial_dir / name).mkdir()
            row["checkpoint_dir_name"] = name
        lines.append(json.dumps(row))
    (trial_dir / "result.json").write_text("\n".join(lines) + ("\n" if lines else ""))
    state = _experiment_state(experiment_dir)
    state["trial_data"].append([
        json.dumps({"trial_id": trial_id, "status": status, "relative_logdir": trial_dir.name, "config": params}),
        json.dumps({"error_filename": "error.txt" if status == "ERROR" else None, "last_result": {}}),
    ])
    (experiment_dir / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(state))
    return trial_id


def _experiment_state(experiment_dir: Path) -> dict[str, Any]:
    path = experiment_dir / "experiment_state-2026-01-01_00-00-00.json"
    if path.exists():
        return json.loads(path.read_text())
    return {"trial_data": [], "runner_data": {}, "stats": {}}


def write_record(experiment_dir: Path, **changes: Any) -> None:
    """Write an ``acgan_search.json`` shaped like the search layer's."""
    record = {
        "experiment_name": "unit",
        "search_space": {"parameters": {
            "generator_lr": {"distribution": "log_uniform", "low": 1e-5, "high": 1e-2},
            "dropout": {"distribution": "uniform", "low": 0.0, "high": 0.5},
        }},
        "objectives": [mn.FID],
        "modes": ["min"],
        "budget": {"num_trials": 5, "max_steps": MAX_STEPS, "interval": 20},
        "dataset": {"name": "mnist-5k", "fingerprint": "d" * 64},
        "evaluator": {mn.EVALUATOR_FINGERPRINT: "e" * 16, "heldout_accuracy": 0.97, mn.FID_REAL_FLOOR: 1.25},
        "software": {"tensorflow": "2.21.0", "ray": "2.60.0"},
    }
    record.update(changes)
    (experiment_dir / rs.SEARCH_RECORD_FILE).write_text(json.dumps(record))


def metrics(fid: float, accuracy: float, **extra: float) -> dict[str, float]:
    return {mn.FID: fid, mn.CLASS_ACCURACY: accuracy, mn.CLASS_ENTROPY: 2.2, mn.INTRA_FID: fid * 1.5,
            mn.D_LOSS: 1.0, mn.G_LOSS: 0.8, **extra}


@pytest.fixture()
def mixed_search(tmp_path: Path) -> Path:
    """A search with one trial of every status and tier."""
    experiment = tmp_path / "mixed"
    experiment.mkdir()
    write_record(experiment)
    # Accurate but worse FID, trained to the end.
    write_trial(experiment, 0, {"generator_lr": 1e-3, "dropout": 0.1}, [metrics(30, 0.95), metrics(20, 0.96)])
    # Best FID but inaccurate at every interval, stopped by ASHA at step 20.
    write_trial(experiment, 1, {"generator_lr": 2e-3, "dropout": 0.2}, [metrics(5, 0.5)])
    # Accurate with the lowest FID among accurate intervals (step 20), worse at step 40.
    write_trial(experiment, 2, {"generator_lr": 3e-4, "dropout": 0.3}, [metrics(12, 0.93), metrics(15, 0.97)])
    # Diverged at step 40 after a good first interval; the diverged row carries penalty values.
    write_trial(experiment, 3, {"generator_lr": 5e-3, "dropout": 0.4},
                [metrics(2, 0.99), {**metrics(1e6, 0.0), mn.DIVERGED: 1.0}])
    # Raised an exception before its first interval.
    write_trial(experiment, 4, {"generator_lr": 1e-4, "dropout": 0.0}, [], status="ERROR")
    return experiment


# ------------------------------------------------------------------ reading results


def test_load_search_results_reads_every_trial(mixed_search: Path) -> None:
    results = rs.load_search_results(mixed_search)
    assert len(results.trials) == 5
    assert len(results.history) == 7
    assert results.searched_params == ["generator_lr", "dropout"]
    assert results.max_steps == MAX_STEPS


@pytest.mark.parametrize(
    ("index", "expected"),
    [(0, rs.COMPLETED), (1, rs.STOPPED_EARLY), (2, rs.COMPLETED), (3, rs.DIVERGED), (4, rs.FAILED)],
)
def test_load_search_results_classifies_status(mixed_search: Path, index: int, expected: str) -> None:
    trials = rs.load_search_results(mixed_search).trials.set_index(rs.TRIAL_ID)
    assert trials.loc[f"abcde_{index:05d}", rs.STATUS] == expected


@pytest.mark.parametrize(
    ("ray_status", "diverged", "steps", "expected"),
    [
        ("TERMINATED", False, 40, rs.COMPLETED),
        ("TERMINATED", False, 20, rs.STOPPED_EARLY),
        ("TERMINATED", True, 20, rs.DIVERGED),
        ("ERROR", True, 20, rs.DIVERGED),
        ("ERROR", False, 20, rs.FAILED),
        ("RUNNING", False, 20, rs.RUNNING),
        ("PENDING", False, None, rs.PENDING),
        ("PAUSED", False, 20, rs.PAUSED),
        ("UNKNOWN", False, 40, rs.COMPLETED),
        ("UNKNOWN", False, 20, rs.UNKNOWN),
    ],
)
def test_trial_status_cases(ray_status: str, diverged: bool, steps: int | None, expected: str) -> None:
    assert rs.trial_status(ray_status, diverged, steps, MAX_STEPS) == expected


def test_load_search_results_running_trial_with_torn_line(tmp_path: Path) -> None:
    write_trial(tmp_path, 0, {"generator_lr": 1e-3}, [metrics(30, 0.95)], status="RUNNING")
    result_file = next(tmp_path.glob("*/result.json"))
    with result_file.open("a") as stream:
        stream.write('{"fid": 12.0, "st')  # Ray is in the middle of writing the next line.
    results = rs.load_search_results(tmp_path)
    assert len(results.history) == 1
    assert results.trials.loc[0, rs.STATUS] == rs.RUNNING


def test_load_search_results_restored_trial_repeats_step(tmp_path: Path) -> None:
    # Restored from its step-20 checkpoint after a crash, the trial reports step 40 again.
    write_trial(tmp_path, 0, {"generator_lr": 1e-3}, [metrics(30, 0.95), metrics(25, 0.95)])
    result_file = next(tmp_path.glob("*/result.json"))
    rows = [json.loads(line) for line in result_file.read_text().splitlines()]
    rows.append({**rows[1], mn.FID: 24.0})
    result_file.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    history = rs.load_search_results(tmp_path).history
    assert list(history[mn.STEP]) == [20, 40]
    assert list(history[mn.FID]) == [30.0, 24.0]


def test_load_search_results_without_experiment_state(mixed_search: Path) -> None:
    # A partial copy from a cluster: trial directories but no Ray state, so Ray's status is unknown.
    next(mixed_search.glob("experiment_state-*.json")).unlink()
    trials = rs.load_search_results(mixed_search).trials.set_index(rs.TRIAL_ID)
    assert trials.loc["abcde_00000", rs.STATUS] == rs.COMPLETED
    assert trials.loc["abcde_00001", rs.STATUS] == rs.UNKNOWN
    assert trials.loc["abcde_00003", rs.STATUS] == rs.DIVERGED


def test_load_search_results_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"Search results directory not found.*results_dir="):
        rs.load_search_results(tmp_path / "absent")


def test_load_search_results_dir_without_results(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a search")
    with pytest.raises(ResultsError, match=r"No search results in .*experiment_state-\*\.json"):
        rs.load_search_results(tmp_path)


def test_load_search_results_storage_root_hint(mixed_search: Path) -> None:
    with pytest.raises(ResultsError, match=r"contains these experiment directories: mixed"):
        rs.load_search_results(mixed_search.parent)


def test_load_search_results_invalid_record(mixed_search: Path) -> None:
    (mixed_search / rs.SEARCH_RECORD_FILE).write_text("{not json")
    with pytest.raises(ResultsError, match=r"acgan_search.json is not valid JSON"):
        rs.load_search_results(mixed_search)


# ------------------------------------------------------------------ the ranking rule


def test_rank_trials_order_and_tiers(mixed_search: Path) -> None:
    ranking = rk.rank_trials(rs.load_search_results(mixed_search), rk.RankingRule(accuracy_threshold=0.9))
    assert list(ranking[rs.TRIAL_ID]) == ["abcde_00002", "abcde_00000", "abcde_00001", "abcde_00003", "abcde_00004"]
    assert list(ranking[rk.TIER]) == [rk.ELIGIBLE, rk.ELIGIBLE, rk.BELOW_THRESHOLD, rk.UNHEALTHY, rk.UNHEALTHY]
    assert list(ranking[rk.RANK]) == [1, 2, 3, 4, 5]


def test_rank_trials_running_trial_without_interval_last(mixed_search: Path) -> None:
    write_trial(mixed_search, 5, {"generator_lr": 1e-3, "dropout": 0.1}, [], status="PENDING")
    ranking = rk.rank_trials(rs.load_search_results(mixed_search), rk.RankingRule())
    assert ranking.iloc[-1][rs.TRIAL_ID] == "abcde_00005"
    assert ranking.iloc[-1][rk.TIER] == rk.NOT_EVALUATED


def test_rank_trials_best_and_last_values(mixed_search: Path) -> None:
    ranking = rk.rank_trials(rs.load_search_results(mixed_search), rk.RankingRule()).set_index(rs.TRIAL_ID)
    best = ranking.loc["abcde_00002"]
    assert best[f"{mn.FID}_best"] == 12
    assert best[f"{mn.FID}_last"] == 15
    assert best[rk.BEST_STEP] == 20
    assert best[f"{mn.CLASS_ACCURACY}_best"] == 0.93


def test_rank_trials_threshold_is_configurable(mixed_search: Path) -> None:
    ranking = rk.rank_trials(rs.load_search_results(mixed_search), rk.RankingRule(accuracy_threshold=0.4))
    assert ranking.loc[0, rs.TRIAL_ID] == "abcde_00001"


def test_rank_trials_diverged_row_never_best(mixed_search: Path) -> None:
    ranking = rk.rank_trials(rs.load_search_results(mixed_search), rk.RankingRule()).set_index(rs.TRIAL_ID)
    diverged = ranking.loc["abcde_00003"]
    assert diverged[f"{mn.FID}_best"] == 2
    assert diverged[f"{mn.FID}_last"] == 2


def test_rank_trials_threshold_above_every_interval(mixed_search: Path) -> None:
    ranking = rk.rank_trials(rs.load_search_results(mixed_search), rk.RankingRule(accuracy_threshold=1.0))
    assert ranking.loc[0, rk.TIER] == rk.BELOW_THRESHOLD
    assert ranking.loc[0, rs.TRIAL_ID] == "abcde_00001"


def test_rank_trials_pareto_over_fid_and_accuracy(mixed_search: Path) -> None:
    ranking = rk.rank_trials(rs.load_search_results(mixed_search), rk.RankingRule()).set_index(rs.TRIAL_ID)
    # Trial 1 has the lowest FID, trial 0 the highest accuracy; trial 2 is beaten by neither.
    assert set(ranking.index[ranking[rk.PARETO]]) == {"abcde_00000", "abcde_00001", "abcde_00002"}


def test_rank_trials_two_objectives_from_record(mixed_search: Path) -> None:
    write_record(mixed_search, objectives=[mn.FID, mn.CLASS_ACCURACY], modes=["min", "max"])
    results = rs.load_search_results(mixed_search)
    rule = rk.rule_from_record(results.record)
    ranking = rk.rank_trials(results, rule)
    assert rule.objectives == (rk.Objective(mn.FID, "min"), rk.Objective(mn.CLASS_ACCURACY, "max"))
    assert f"{mn.CLASS_ACCURACY}_last" in ranking.columns
    assert "Pareto front" in rule.describe()


def test_rule_from_record_default_objective() -> None:
    assert rk.rule_from_record({}).objectives == (rk.Objective(mn.FID, "min"),)


def test_ranking_rule_threshold_out_of_range() -> None:
    with pytest.raises(ResultsError, match=r"threshold must be a fraction in \[0, 1\].*accuracy_threshold=95"):
        rk.RankingRule(accuracy_threshold=95)


def test_objective_invalid_mode() -> None:
    with pytest.raises(ResultsError, match=r"mode must be 'min' or 'max'.*mode='lowest'"):
        rk.Objective(mn.FID, "lowest")


def test_select_best_without_intervals(tmp_path: Path) -> None:
    write_trial(tmp_path, 0, {"generator_lr": 1e-3}, [], status="RUNNING")
    ranking = rk.rank_trials(rs.load_search_results(tmp_path), rk.RankingRule())
    with pytest.raises(ResultsError, match=r"no finished evaluation interval"):
        rk.select_best(ranking)


# ------------------------------------------------------------------ Pareto front


def test_pareto_front_min_and_max() -> None:
    points = pd.DataFrame({"fid": [10.0, 5.0, 12.0, 5.0, 20.0], "accuracy": [0.9, 0.8, 0.95, 0.7, 0.5]})
    front = rk.pareto_front(points, ["min", "max"])
    assert list(front) == [True, True, True, False, False]


def test_pareto_front_identical_points_both_kept() -> None:
    points = pd.DataFrame({"fid": [3.0, 3.0], "accuracy": [0.9, 0.9]})
    assert list(rk.pareto_front(points, ["min", "max"])) == [True, True]


def test_pareto_front_missing_value_excluded() -> None:
    points = pd.DataFrame({"fid": [np.nan, 5.0], "accuracy": [0.99, 0.8]})
    assert list(rk.pareto_front(points, ["min", "max"])) == [False, True]


def test_pareto_front_mode_count_mismatch() -> None:
    points = pd.DataFrame({"fid": [1.0], "accuracy": [0.5]})
    with pytest.raises(ResultsError, match=r"Each objective column needs a mode.*2 columns"):
        rk.pareto_front(points, ["min"])


# ------------------------------------------------------------------ parameter importance


def test_param_importances_finds_the_parameter_that_matters(tmp_path: Path) -> None:
    write_record(tmp_path)
    rng = np.random.default_rng(0)
    for index in range(16):
        lr = float(10 ** rng.uniform(-5, -2))
        dropout = float(rng.uniform(0.0, 0.5))
        fid = 100.0 + 20.0 * np.log10(lr)  # Depends on the learning rate only.
        write_trial(tmp_path, index, {"generator_lr": lr, "dropout": dropout}, [metrics(fid, 0.95)])
    results = rs.load_search_results(tmp_path)
    rule = rk.rule_from_record(results.record)
    importances = param_importances(rk.rank_trials(results, rule), results.searched_params, results.record, rule)
    assert list(importances)[0] == "generator_lr"
    assert importances["generator_lr"] > 0.8


def test_param_importances_too_few_trials(mixed_search: Path) -> None:
    results = rs.load_search_results(mixed_search)
    rule = rk.RankingRule()
    ranking = rk.rank_trials(results, rule).head(2)
    assert param_importances(ranking, results.searched_params, results.record, rule) == {}


# ------------------------------------------------------------------ a real tiny search


def run_tiny_search(storage: Path) -> Path:
    """Run three trials of the smoke search space through Ray Tune and the project's trainable.

    The trials run one at a time (Ray gets one CPU) in a fixed order, under the smoke space's
    ASHA scheduler (one rung at step 20, reduction factor 2):

    - ``00000`` trains with usable learning rates and is first at the rung, so it completes;
    - ``00001`` has learning rates of 1e-9, so its generator stays at initialisation. Its FID
      at step 20 is worse than the first trial's, so ASHA stops it;
    - ``00002`` has learning rates of 1e6, its losses become NaN and it reports divergence;
    - ``00003`` has learning rates of 1e-3; ASHA may stop it or not, so no test depends on its
      status. It gives parameter importance a third evaluated trial.

    The search record lists the three learning rates as the searched parameters, as the search
    layer would for a space that searched them.

    Returns:
        The experiment directory.
    """
    import ray
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from acgan_search.data import load_dataset
    from acgan_search.evaluation import Evaluator
    from acgan_search.search import tuner as search_tuner
    from acgan_search.search.space import load_search_space

    space = load_search_space(Path(__file__).parents[1] / "search_spaces" / "smoke.yaml")
    run = search_tuner.plan_search(space, storage)
    dataset = load_dataset(space.base_config())
    evaluator = Evaluator.for_dataset(dataset, seed=search_tuner.EVALUATOR_SEED)
    learning_rates = ("generator_lr", "discriminator_lr", "class_head_lr")
    metadata = search_tuner.experiment_metadata(run, dataset, evaluator)
    metadata["search_space"]["parameters"] = {
        name: {"distribution": "log_uniform", "low": 1e-9, "high": 1e6} for name in learning_rates
    }
    search_tuner.write_experiment_file(run.experiment_path, metadata)
    points = [
        {"generator_lr": 2e-3, "discriminator_lr": 2e-4, "class_head_lr": 1e-3},
        dict.fromkeys(learning_rates, 1e-9),
        dict.fromkeys(learning_rates, 1e6),
        dict.fromkeys(learning_rates, 1e-3),
    ]
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            search_tuner.build_trainable(space, dataset, evaluator),
            param_space={name: tune.loguniform(1e-9, 1e6) for name in learning_rates},
            tune_config=tune.TuneConfig(
                search_alg=BasicVariantGenerator(points_to_evaluate=points),
                scheduler=search_tuner.build_scheduler(space),
                num_samples=len(points),
            ),
            run_config=tune.RunConfig(name=space.name, storage_path=run.storage, verbose=0),
        )
        tuner.fit()
    finally:
        ray.shutdown()
    return Path(run.experiment_path)


def tiny_search_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the tiny search run of this pytest session, running it on first use.

    The test modules of the report and the export share it through a marker file in the
    session's base temporary directory, so the search runs once per session.
    """
    root = tmp_path_factory.getbasetemp() / "tiny_search"
    marker = root / "finished"
    if not marker.exists():
        started = time.monotonic()
        experiment = run_tiny_search(root / "storage")
        marker.write_text(f"{experiment}\n{time.monotonic() - started:.1f}\n")
    return Path(marker.read_text().splitlines()[0])


@pytest.fixture(scope="module")
def real_search(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_search_dir(tmp_path_factory)


@pytest.mark.slow
def test_real_search_statuses(real_search: Path) -> None:
    trials = rs.load_search_results(real_search).trials.set_index(rs.TRIAL_ID).sort_index()
    assert list(trials[rs.STATUS])[:3] == [rs.COMPLETED, rs.STOPPED_EARLY, rs.DIVERGED]


@pytest.mark.slow
def test_real_search_ranking_order(real_search: Path) -> None:
    results = rs.load_search_results(real_search)
    # The tiny models never reach a meaningful class accuracy, so rank by FID alone.
    ranking = rk.rank_trials(results, rk.rule_from_record(results.record, accuracy_threshold=0.0))
    suffixes = [trial_id.rsplit("_", 1)[1] for trial_id in ranking[rs.TRIAL_ID]]
    assert suffixes.index("00000") < suffixes.index("00001")
    assert suffixes[-1] == "00002"
    assert list(ranking[rk.TIER])[-1] == rk.UNHEALTHY
    assert set(ranking[rk.TIER][:-1]) == {rk.ELIGIBLE}


@pytest.mark.slow
def test_real_search_record_read(real_search: Path) -> None:
    results = rs.load_search_results(real_search)
    assert results.max_steps == 40
    assert results.record["evaluator"][mn.EVALUATOR_FINGERPRINT]
    assert os.path.isdir(results.history[rs.CHECKPOINT_PATH].dropna().iloc[0])
