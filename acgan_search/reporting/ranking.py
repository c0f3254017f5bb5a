"""The ranking rule shared by the report and the export, and the Pareto front.

Default rule: every trial is represented by its best interval, the reported interval with the
lowest FID among those whose class accuracy is at or above a threshold (intervals that
reported DIVERGED = 1 never count). Trials are then ranked in four tiers, FID ascending within
each tier:

1. trials with such an interval (the eligible ones);
2. trials whose every interval is below the accuracy threshold, by their lowest FID;
3. diverged and failed trials, by their lowest finite FID before the failure (those without
   one last);
4. trials with no reported interval.

With two objectives (FID and class accuracy) the ranking stays the same and the report also
marks the Pareto front over every trial's best interval.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from acgan_search import metric_names as mn
from acgan_search.errors import ResultsError
from acgan_search.reporting import results as rs

DEFAULT_ACCURACY_THRESHOLD = 0.9

ELIGIBLE = "eligible"
BELOW_THRESHOLD = "below accuracy threshold"
UNHEALTHY = "diverged or failed"
NOT_EVALUATED = "no finished interval"
_TIER_ORDER = (ELIGIBLE, BELOW_THRESHOLD, UNHEALTHY, NOT_EVALUATED)

RANK = "rank"
TIER = "tier"
PARETO = "pareto"
BEST_STEP = "best_step"


@dataclasses.dataclass(frozen=True)
class Objective:
    """One metric the search optimised, and its direction."""

    metric: str
    mode: Literal["min", "max"]

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ResultsError(
                f"An objective's mode must be 'min' or 'max'. Received: metric={self.metric!r}, "
                f"mode={self.mode!r}. Check the objectives in the search record."
            )


@dataclasses.dataclass(frozen=True)
class RankingRule:
    """Ranking rule: FID among trials that reach a class-accuracy threshold.

    Attributes:
        accuracy_threshold: Minimum class accuracy (fraction in [0, 1]) under the evaluator for
            an interval to count as a trial's best interval.
        objectives: The search's objectives; the first is the ranking metric. Default: minimise
            FID. A second objective only adds the Pareto front to the report.
    """

    accuracy_threshold: float = DEFAULT_ACCURACY_THRESHOLD
    objectives: tuple[Objective, ...] = (Objective(mn.FID, "min"),)

    def __post_init__(self) -> None:
        if not 0.0 <= self.accuracy_threshold <= 1.0:
            raise ResultsError(
                "The class-accuracy threshold must be a fraction in [0, 1]. "
                f"Received: accuracy_threshold={self.accuracy_threshold!r}. Use e.g. 0.9 for 90%."
            )
        if not self.objectives:
            raise ResultsError("A ranking rule needs at least one objective. Received: objectives=()")

    @property
    def primary(self) -> Objective:
        return self.objectives[0]

    def describe(self) -> str:
        """Return the rule as sentences for the report."""
        primary = self.primary
        direction = "lowest" if primary.mode == "min" else "highest"
        text = (
            f"Each trial is represented by its best interval: the reported interval with the {direction} "
            f"`{primary.metric}` among those with `{mn.CLASS_ACCURACY}` >= {self.accuracy_threshold:g}. "
            "Intervals that reported divergence never count. Trials are ranked in tiers, by that value "
            f"within each tier: (1) {ELIGIBLE}; (2) {BELOW_THRESHOLD}, by their {direction} value over all "
            f"intervals; (3) {UNHEALTHY}, by their {direction} finite value before the failure; "
            f"(4) {NOT_EVALUATED}."
        )
        if len(self.objectives) > 1:
            names = ", ".join(f"`{o.metric}` ({o.mode})" for o in self.objectives)
            text += (
                f" The search optimised several objectives ({names}): the Pareto front over every "
                "trial's best interval is marked in the table and the scatter plot."
            )
        return text


def rule_from_record(record: dict[str, Any], accuracy_threshold: float | None = None) -> RankingRule:
    """Build the ranking rule from a search record's objectives and an optional threshold."""
    objectives = _objectives_from_record(record)
    threshold = DEFAULT_ACCURACY_THRESHOLD if accuracy_threshold is None else accuracy_threshold
    return RankingRule(accuracy_threshold=threshold, objectives=objectives)


def _objectives_from_record(record: dict[str, Any]) -> tuple[Objective, ...]:
    raw = record.get("objectives") or record.get("objective")
    if raw is None:
        return (Objective(mn.FID, "min"),)
    if isinstance(raw, dict) and "metric" in raw:
        raw = [raw]
    if isinstance(raw, dict):
        if isinstance(raw.get("metrics"), list):
            return tuple(Objective(str(m), str(o)) for m, o in zip(raw["metrics"], raw.get("modes", [])))
        return tuple(Objective(str(metric), str(mode)) for metric, mode in raw.items())
    modes = record.get("modes")
    if isinstance(raw, list) and isinstance(modes, list) and len(modes) == len(raw):
        return tuple(Objective(str(metric), str(mode)) for metric, mode in zip(raw, modes))
    objectives = []
    for item in raw:
        if isinstance(item, dict):
            objectives.append(Objective(str(item["metric"]), str(item.get("mode", "min"))))
        else:
            objectives.append(Objective(str(item), "max" if item == mn.CLASS_ACCURACY else "min"))
    return tuple(objectives) or (Objective(mn.FID, "min"),)


# ------------------------------------------------------------------ best interval


def best_interval_index(history: pd.DataFrame, rule: RankingRule) -> tuple[int | None, bool]:
    """Find a trial's best interval under the rule.

    Args:
        history: The reported intervals of one trial (rows of ``SearchResults.history``).
        rule: The ranking rule.

    Returns:
        The row label of the best interval and whether it meets the accuracy threshold, or
        ``(None, False)`` when no interval has a finite value of the ranking metric.
    """
    metric = rule.primary.metric
    if history.empty or metric not in history.columns:
        return None, False
    healthy = history[pd.to_numeric(history.get(mn.DIVERGED, 0.0), errors="coerce").fillna(0.0) < 0.5]
    values = pd.to_numeric(healthy[metric], errors="coerce")
    healthy = healthy[values.map(lambda v: v is not None and math.isfinite(v))]
    if healthy.empty:
        return None, False
    accuracy = pd.to_numeric(healthy.get(mn.CLASS_ACCURACY, np.nan), errors="coerce")
    passing = healthy[accuracy >= rule.accuracy_threshold] if mn.CLASS_ACCURACY in healthy else healthy.iloc[0:0]
    pool, eligible = (passing, True) if not passing.empty else (healthy, False)
    ordered = pd.to_numeric(pool[metric], errors="coerce")
    index = ordered.idxmin() if rule.primary.mode == "min" else ordered.idxmax()
    return index, eligible


# ------------------------------------------------------------------ ranking


def rank_trials(results: rs.SearchResults, rule: RankingRule) -> pd.DataFrame:
    """Rank every trial of a search under the rule.

    Returns:
        One row per trial, best first, with ``rank`` (1 = best), ``tier``, each objective at
        the best interval (``<metric>_best``) and at the last interval (``<metric>_last``),
        class accuracy, class entropy and intra-class FID at the best interval, ``best_step``,
        ``checkpoint_path`` of the best interval, ``steps_trained``, ``time_total_s``,
        ``status``, ``pareto`` and the searched parameters.
    """
    rows = []
    for trial in results.trials.to_dict("records"):
        history = results.history[results.history[rs.TRIAL_ID] == trial[rs.TRIAL_ID]]
        rows.append(_trial_summary(trial, history, rule))
    table = pd.DataFrame.from_records(rows)
    if table.empty:
        return table

    primary_best = f"{rule.primary.metric}_best"
    sort_value = pd.to_numeric(table[primary_best], errors="coerce")
    if rule.primary.mode == "max":
        sort_value = -sort_value
    table["_tier_order"] = table[TIER].map(_TIER_ORDER.index)
    table["_sort_value"] = sort_value.fillna(np.inf)
    table = table.sort_values(["_tier_order", "_sort_value", rs.TRIAL_ID], kind="stable")
    table = table.drop(columns=["_tier_order", "_sort_value"]).reset_index(drop=True)
    table.insert(0, RANK, range(1, len(table) + 1))

    pareto_objectives = _pareto_objectives(rule)
    candidates = table[TIER].isin([ELIGIBLE, BELOW_THRESHOLD])
    columns = [f"{o.metric}_best" for o in pareto_objectives]
    table[PARETO] = False
    if candidates.any() and all(column in table for column in columns):
        mask = pareto_front(table.loc[candidates, columns], [o.mode for o in pareto_objectives])
        table.loc[candidates, PARETO] = mask
    return table


def _trial_summary(trial: dict[str, Any], history: pd.DataFrame, rule: RankingRule) -> dict[str, Any]:
    index, eligible = best_interval_index(history, rule)
    status = trial[rs.STATUS]
    if status in (rs.DIVERGED, rs.FAILED):
        tier = UNHEALTHY
    elif index is None:
        tier = NOT_EVALUATED
    else:
        tier = ELIGIBLE if eligible else BELOW_THRESHOLD
    best = history.loc[index] if index is not None else None
    last = _last_healthy_row(history)

    summary: dict[str, Any] = {rs.TRIAL_ID: trial[rs.TRIAL_ID], TIER: tier}
    metrics = [o.metric for o in rule.objectives]
    for metric in dict.fromkeys(metrics + [mn.FID, mn.CLASS_ACCURACY]):
        summary[f"{metric}_best"] = _value(best, metric)
        summary[f"{metric}_last"] = _value(last, metric)
    summary[mn.CLASS_ENTROPY] = _value(best, mn.CLASS_ENTROPY)
    summary[mn.INTRA_FID] = _value(best, mn.INTRA_FID)
    summary[BEST_STEP] = _value(best, mn.STEP)
    summary[rs.CHECKPOINT_PATH] = best[rs.CHECKPOINT_PATH] if best is not None else None
    summary["steps_trained"] = trial["steps_trained"]
    summary[rs.WALL_TIME] = trial[rs.WALL_TIME]
    summary[rs.STATUS] = status
    for key, value in trial.items():
        if key not in summary and key not in (rs.RAY_STATUS, rs.TRIAL_DIR, "intervals"):
            summary[key] = value
    return summary


def _last_healthy_row(history: pd.DataFrame) -> pd.Series | None:
    if history.empty:
        return None
    healthy = history[pd.to_numeric(history.get(mn.DIVERGED, 0.0), errors="coerce").fillna(0.0) < 0.5]
    return healthy.iloc[-1] if not healthy.empty else None


def _value(row: pd.Series | None, key: str) -> float | None:
    if row is None or key not in row.index:
        return None
    try:
        value = float(row[key])
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _pareto_objectives(rule: RankingRule) -> tuple[Objective, ...]:
    # The scatter plot always shows FID against class accuracy, so the front defaults to them.
    if len(rule.objectives) > 1:
        return rule.objectives
    return (Objective(mn.FID, "min"), Objective(mn.CLASS_ACCURACY, "max"))


def pareto_objectives(rule: RankingRule) -> tuple[Objective, ...]:
    """Return the objectives the Pareto front is taken over: the rule's, or FID and accuracy."""
    return _pareto_objectives(rule)


def pareto_front(points: pd.DataFrame, modes: Sequence[str]) -> np.ndarray:
    """Mark the points that no other point dominates.

    A point dominates another when it is at least as good in every column (lower for ``min``,
    higher for ``max``) and strictly better in one. Rows with a missing value are never on the
    front.

    Args:
        points: One row per candidate, one column per objective.
        modes: ``"min"`` or ``"max"`` for each column.

    Returns:
        A boolean array, True for rows on the Pareto front.
    """
    if len(modes) != points.shape[1]:
        raise ResultsError(
            f"Each objective column needs a mode. Received: {points.shape[1]} columns, modes={list(modes)!r}"
        )
    values = points.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    signs = np.array([1.0 if mode == "min" else -1.0 for mode in modes])
    costs = values * signs  # Lower is better in every column.
    valid = np.isfinite(costs).all(axis=1)
    on_front = valid.copy()
    for i in np.flatnonzero(valid):
        others = costs[valid]
        dominated = np.any(np.all(others <= costs[i], axis=1) & np.any(others < costs[i], axis=1))
        on_front[i] = not dominated
    return on_front


def select_best(ranking: pd.DataFrame) -> pd.Series:
    """Return the top-ranked trial that has an evaluated interval.

    Raises:
        ResultsError: No trial has a finished interval.
    """
    evaluated = ranking[ranking[TIER] != NOT_EVALUATED]
    if evaluated.empty:
        raise ResultsError(
            "The search has no finished evaluation interval yet, so nothing can be ranked. "
            f"Received: {len(ranking)} trials, 0 with a reported interval. "
            "Wait until the first interval is reported, or pass --checkpoint PATH to export."
        )
    return evaluated.iloc[0]
