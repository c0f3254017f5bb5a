"""Parameter importance from Optuna's evaluators, on a study rebuilt from stored trials.

The live search's Optuna study is not needed. Every trial with a best interval becomes a
completed ``FrozenTrial`` whose value is its ranking metric at that interval. Its
distributions come from the search record, or from the range of values the trials took when
the record lacks them.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from acgan_search.reporting import ranking as rk

logger = logging.getLogger(__name__)

MIN_TRIALS_FOR_IMPORTANCE = 3


def param_importances(
    ranking: pd.DataFrame, searched_params: list[str], record: dict[str, Any], rule: rk.RankingRule
) -> dict[str, float]:
    """Compute each searched parameter's importance for the ranking metric.

    Uses ``optuna.importance.get_param_importances`` with its default evaluator (fANOVA in
    Optuna 4 and 5) and a fixed seed, so the same results give the same numbers.

    Args:
        ranking: Output of ``rank_trials``.
        searched_params: Parameter names, columns of ``ranking``.
        record: The search record; its search space gives the distributions.
        rule: The ranking rule; its primary objective is the value being explained.

    Returns:
        Parameter name to importance (summing to 1), most important first. Empty when fewer
        than ``MIN_TRIALS_FOR_IMPORTANCE`` trials have a finite value or no parameter varies.
    """
    value_column = f"{rule.primary.metric}_best"
    usable = ranking[ranking[rk.TIER].isin([rk.ELIGIBLE, rk.BELOW_THRESHOLD, rk.UNHEALTHY])]
    usable = usable[pd.to_numeric(usable[value_column], errors="coerce").map(_is_finite)]
    params = [name for name in searched_params if name in usable and usable[name].nunique(dropna=True) > 1]
    if len(usable) < MIN_TRIALS_FOR_IMPORTANCE or not params:
        logger.info(
            "Parameter importance skipped: %d trials with a finite %s and %d varying parameters",
            len(usable), value_column, len(params),
        )
        return {}

    distributions = {name: _distribution(name, record, usable[name]) for name in params}
    direction = "minimize" if rule.primary.mode == "min" else "maximize"
    study = optuna.create_study(direction=direction)
    for row in usable.to_dict("records"):
        trial_params = {name: _to_python(row[name]) for name in params if _present(row[name])}
        trial_distributions = {name: distributions[name] for name in trial_params}
        study.add_trial(
            optuna.trial.create_trial(
                params=trial_params,
                distributions=trial_distributions,
                value=float(row[value_column]),
            )
        )
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError) as error:
        # Optuna raises when, e.g., no parameter is shared by every completed trial.
        logger.warning("Parameter importance could not be computed: %s", error)
        return {}


def _distribution(name: str, record: dict[str, Any], values: pd.Series) -> BaseDistribution:
    spec = _spec_from_record(name, record)
    if spec is not None:
        try:
            return _distribution_from_spec(spec)
        except (KeyError, TypeError, ValueError) as error:
            logger.warning("Search-space entry for %s not understood (%s); using the observed range", name, error)
    return _distribution_from_values(values)


def _spec_from_record(name: str, record: dict[str, Any]) -> dict[str, Any] | None:
    space = record.get("search_space") or record.get("parameters")
    if isinstance(space, dict) and isinstance(space.get("parameters"), (dict, list)):
        space = space["parameters"]
    if isinstance(space, dict):
        spec = space.get(name)
        return spec if isinstance(spec, dict) else None
    if isinstance(space, list):
        for item in space:
            if isinstance(item, dict) and item.get("name") == name:
                return item
    return None


def _distribution_from_spec(spec: dict[str, Any]) -> BaseDistribution:
    kind = str(spec.get("distribution") or spec.get("type") or spec.get("kind")).lower()
    if kind in ("categorical", "choice", "bool", "boolean"):
        return CategoricalDistribution(list(spec.get("choices", spec.get("values", [False, True]))))
    if kind in ("int", "integer", "randint", "qrandint", "lograndint"):
        log = bool(spec.get("log") or "log" in kind)
        return IntDistribution(int(spec["low"]), int(spec["high"]), log=log, step=1 if log else int(spec.get("step") or 1))
    if kind in ("uniform", "float", "loguniform", "log-uniform", "log_uniform", "quniform"):
        log = bool(spec.get("log", kind.startswith("log")))
        return FloatDistribution(float(spec["low"]), float(spec["high"]), log=log)
    raise ValueError(f"unknown distribution {kind!r}")


def _distribution_from_values(values: pd.Series) -> BaseDistribution:
    present = [_to_python(value) for value in values if _present(value)]
    if all(isinstance(value, bool) for value in present) or any(isinstance(value, str) for value in present):
        return CategoricalDistribution(sorted(set(present), key=str))
    if all(isinstance(value, int) for value in present):
        return IntDistribution(min(present), max(present))
    return FloatDistribution(float(min(present)), float(max(present)))


def _to_python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _is_finite(value: Any) -> bool:
    return value is not None and isinstance(value, float) and math.isfinite(value)
