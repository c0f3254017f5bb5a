"""Summaries of a finished search: each trial at its best interval, ranked, and the top-k table.

Ranking: trials that never diverged come first, ordered by the first objective at the
interval where it was best; diverged trials and trials without a result follow. With two
objectives, ``on_pareto_front`` marks the trials no other trial beats on both.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Sequence

from acgan_search import metric_names

COMPLETED = "completed"
STOPPED_EARLY = "stopped early"
DIVERGED = "diverged"
FAILED = "failed"
NO_RESULT = "no result"


@dataclasses.dataclass(frozen=True)
class TrialSummary:
    """One trial of a search, at the interval where its first objective was best.

    Attributes:
        trial_id: Ray's trial id.
        status: One of ``completed``, ``stopped early``, ``diverged``, ``failed``, ``no result``.
        parameters: The sampled parameter values.
        best: The result (all reported metrics) at the best interval; empty without results.
        last_step: Training steps of the last reported result.
        path: The trial's directory.
        best_checkpoint: Path of the checkpoint saved with the best result, if any.
        on_pareto_front: Whether no other trial is at least as good on every objective and
            better on one (always False for diverged trials).
    """

    trial_id: str
    status: str
    parameters: dict[str, Any]
    best: dict[str, Any]
    last_step: int
    path: str
    best_checkpoint: str | None
    on_pareto_front: bool = False


def summarize_results(
    results: Iterable[Any], metrics: Sequence[str], modes: Sequence[str], max_steps: int
) -> list[TrialSummary]:
    """Summarise every trial of a Ray ``ResultGrid`` and rank them.

    Args:
        results: The ``ResultGrid`` from ``Tuner.fit`` (or any iterable of Ray ``Result``).
        metrics: Objective metrics; the first one ranks.
        modes: ``min`` or ``max`` for each objective.
        max_steps: The budget, to tell completed trials from trials stopped early.

    Returns:
        The trials, best first.
    """
    summaries = [_summarize_one(result, metrics[0], modes[0], max_steps) for result in results]
    summaries = _mark_pareto_front(summaries, metrics, modes)
    return sorted(summaries, key=lambda summary: _ranking_key(summary, metrics[0], modes[0]))


def _summarize_one(result: Any, metric: str, mode: str, max_steps: int) -> TrialSummary:
    frame = result.metrics_dataframe
    parameters = {key: value for key, value in (result.config or {}).items()}
    trial_id = str((result.metrics or {}).get("trial_id") or result.path.rsplit("/", 1)[-1])
    if frame is None or frame.empty or metric not in frame:
        status = FAILED if result.error else NO_RESULT
        return TrialSummary(trial_id, status, parameters, {}, 0, result.path, None)

    diverged = metric_names.DIVERGED in frame and bool((frame[metric_names.DIVERGED] > 0).any())
    healthy = frame[frame[metric_names.DIVERGED] == 0] if metric_names.DIVERGED in frame else frame
    rows = healthy if not healthy.empty else frame
    best_index = rows[metric].idxmin() if mode == "min" else rows[metric].idxmax()
    best = {key: _plain(value) for key, value in rows.loc[best_index].items()}
    last_step = int(frame[metric_names.STEP].iloc[-1]) if metric_names.STEP in frame else 0

    if diverged:
        status = DIVERGED
    elif result.error:
        status = FAILED
    elif last_step < max_steps:
        status = STOPPED_EARLY
    else:
        status = COMPLETED
    return TrialSummary(
        trial_id=trial_id,
        status=status,
        parameters=parameters,
        best=best,
        last_step=last_step,
        path=result.path,
        best_checkpoint=_checkpoint_at_step(result, best.get(metric_names.STEP)),
    )


def _checkpoint_at_step(result: Any, step: Any) -> str | None:
    for checkpoint, metrics in result.best_checkpoints or []:
        if metrics.get(metric_names.STEP) == step:
            return checkpoint.path
    return None


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _is_ranked(summary: TrialSummary, metric: str) -> bool:
    return summary.status not in (DIVERGED, NO_RESULT) and metric in summary.best


def _ranking_key(summary: TrialSummary, metric: str, mode: str) -> tuple[int, float]:
    if not _is_ranked(summary, metric):
        return (1, math.inf)
    value = float(summary.best[metric])
    return (0, value if mode == "min" else -value)


def _mark_pareto_front(
    summaries: list[TrialSummary], metrics: Sequence[str], modes: Sequence[str]
) -> list[TrialSummary]:
    """Mark the trials whose best-interval objectives no other trial dominates."""
    candidates = [s for s in summaries if _is_ranked(s, metrics[0]) and all(m in s.best for m in metrics)]

    def oriented(summary: TrialSummary) -> list[float]:
        # Lower is better on every coordinate after this sign flip.
        return [float(summary.best[m]) * (1 if mode == "min" else -1) for m, mode in zip(metrics, modes)]

    front = set()
    for summary in candidates:
        mine = oriented(summary)
        dominated = any(
            all(o <= m for o, m in zip(oriented(other), mine)) and any(o < m for o, m in zip(oriented(other), mine))
            for other in candidates
            if other is not summary
        )
        if not dominated:
            front.add(summary.trial_id)
    return [dataclasses.replace(s, on_pareto_front=s.trial_id in front) for s in summaries]


def format_ranking(summaries: Sequence[TrialSummary], metrics: Sequence[str], top_k: int) -> str:
    """Return the top-k trials as a fixed-width text table, best first.

    Columns: rank, trial id, status, step of the best interval (best_step), the objectives, class accuracy
    and FID when they are not objectives, a Pareto-front mark with two objectives, and the
    sampled parameters.
    """
    shown_metrics = list(dict.fromkeys([*metrics, metric_names.FID, metric_names.CLASS_ACCURACY]))
    header = ["rank", "trial", "status", "best_step", *shown_metrics]
    if len(metrics) > 1:
        header.append("pareto")
    header.append("parameters")
    rows = []
    for rank, summary in enumerate(summaries[:top_k], start=1):
        row = [str(rank), summary.trial_id, summary.status, str(summary.best.get(metric_names.STEP, "-"))]
        row += [_format_number(summary.best.get(metric)) for metric in shown_metrics]
        if len(metrics) > 1:
            row.append("*" if summary.on_pareto_front else "")
        row.append(", ".join(f"{key}={_format_number(value)}" for key, value in sorted(summary.parameters.items())))
        rows.append(row)
    widths = [max(len(line[column]) for line in [header, *rows]) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *rows]]
    return "\n".join(lines)


def _format_number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"
