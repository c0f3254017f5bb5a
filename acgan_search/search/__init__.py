"""The search layer: search-space files, the Ray Tune trainable, and building and running the Tuner.

Only ``acgan_search.search.ray_adapter`` imports Ray Tune; the other modules go through it.

Example:
    >>> from acgan_search.search import load_search_space, run_search
    >>> space = load_search_space("search_spaces/smoke.yaml")
    >>> run, grid = run_search(space, storage="results")
"""

from acgan_search.search.results import TrialSummary, format_ranking, summarize_results
from acgan_search.search.space import Parameter, SchedulerSettings, SearchSpace, load_search_space, parse_search_space
from acgan_search.search.trainable import DIVERGED_PENALTY, SAMPLE_GRID_FILE
from acgan_search.search.tuner import (
    EXPERIMENT_FILE,
    SearchRun,
    build_tuner,
    plan_search,
    read_experiment_file,
    run_search,
)

__all__ = [
    "DIVERGED_PENALTY",
    "EXPERIMENT_FILE",
    "Parameter",
    "SAMPLE_GRID_FILE",
    "SchedulerSettings",
    "SearchRun",
    "SearchSpace",
    "TrialSummary",
    "build_tuner",
    "format_ranking",
    "load_search_space",
    "parse_search_space",
    "plan_search",
    "read_experiment_file",
    "run_search",
    "summarize_results",
]
