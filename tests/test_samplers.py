"""Every sampler a search space can name must build, sample and survive Ray's pickling."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import optuna
import pytest
import ray.cloudpickle

from acgan_search.search.space import load_search_space
from acgan_search.search.tuner import build_sampler, build_searcher

SMOKE = Path(__file__).resolve().parents[1] / "search_spaces" / "smoke.yaml"
SAMPLERS = ("tpe", "random", "cmaes", "nsga2")


def space_with_sampler(sampler: str, objective_count: int = 1):
    space = load_search_space(SMOKE)
    changes = {"sampler": sampler, "sampler_options": {}}
    if objective_count == 2:
        changes.update(metrics=("fid", "class_accuracy"), modes=("min", "max"))
    return dataclasses.replace(space, **changes)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_searcher_pickles_for_ray(sampler):
    searcher = build_searcher(space_with_sampler(sampler))

    restored = ray.cloudpickle.loads(ray.cloudpickle.dumps(searcher))

    assert type(restored) is type(searcher)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sampler_pickles_and_keeps_working(sampler):
    restored = pickle.loads(pickle.dumps(build_sampler(space_with_sampler(sampler))))
    study = optuna.create_study(sampler=restored)

    study.optimize(lambda trial: trial.suggest_float("x", -1.0, 1.0) ** 2, n_trials=3)

    assert len(study.trials) == 3


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sampler_suggests_after_startup(sampler):
    # CMA-ES imports the cmaes package only once it models the history, after its start-up trials.
    study = optuna.create_study(sampler=build_sampler(space_with_sampler(sampler)))

    study.optimize(lambda trial: trial.suggest_float("x", -1.0, 1.0) ** 2 + trial.suggest_float("y", 0.0, 1.0), n_trials=12)

    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials)


def test_nsga2_searcher_pickles_with_two_objectives():
    searcher = build_searcher(space_with_sampler("nsga2", objective_count=2))

    restored = ray.cloudpickle.loads(ray.cloudpickle.dumps(searcher))

    assert type(restored) is type(searcher)
