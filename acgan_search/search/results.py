"""Summaries of a search that just ran: each trial at its best interval, ranked, and the top-k table.

The trials are classified and ranked exactly as ``python -m acgan_search.report`` does. The
``ResultGrid`` is turned into the tables that ``reporting.results`` reads from disk. The
statuses then come from ``reporting.results.trial_status`` and the order from
``reporting.ranking.rank_trials``: lowest FID among intervals whose class accuracy reaches a
threshold (0.9 by default), in tiers. Ray's status of each trial is read from the experiment
state Ray saved when ``Tuner.fit`` returned, because by then every trial in the ``ResultGrid``
is TERMINATED, including the ones that Ctrl-C cut off."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import math
import posixpath
from typing import Any, Iterable, Sequence

from acgan_search import metric_names
from acgan_search.reporting import ranking as rk
from acgan_search.reporting import results as rs
from acgan_search.reporting.results import (  # noqa: F401  (re-exported status names)
    COMPLETED,
    DIVERGED,
    FAILED,
    INTERRUPTED,
    PAUSED,
    PENDING,
    RUNNING,
    STOPPED_EARLY,
    UNFINISHED_STATUSES,
    UNKNOWN,
)

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrialSummary:
    """One trial of a search, at its best interval under the report's ranking rule.

    Attributes:
        trial_id: Ray's trial id.
        status: A status of ``reporting.results``: ``completed``, ``stopped early``,
            ``interrupted``, ``diverged``, ``failed``, ...
        parameters: The trial's configuration as Ray passed it (the sampled parameters).
        best: The objectives, FID, class accuracy and ``step`` at the best interval; empty
            without a finished interval.
        last_step: Training steps of the last reported result.
        path: The trial's directory, or None when Ray never created it.
        best_checkpoint: Path of the checkpoint saved with the best interval, if on disk.
        tier: The ranking tier of ``reporting.ranking`` (``eligible``, ``below accuracy
            threshold``, ``diverged or failed``, ``no finished interval``).
        on_pareto_front: Whether no other trial is at least as good on every Pareto objective
            and better on one (the objectives, or FID and class accuracy with one objective).
    """

    trial_id: str
    status: str
    parameters: dict[str, Any]
    best: dict[str, Any]
    last_step: int
    path: str | None
    best_checkpoint: str | None
    tier: str = rk.NOT_EVALUATED
    on_pareto_front: bool = False


def summarize_results(
    results: Iterable[Any],
    metrics: Sequence[str],
    modes: Sequence[str],
    max_steps: int,
    *,
    accuracy_threshold: float = rk.DEFAULT_ACCURACY_THRESHOLD,
    parameter_names: Sequence[str] | None = None,
) -> list[TrialSummary]:
    """Summarise every trial of a finished or interrupted search and rank them like the report.

    Args:
        results: The ``ResultGrid`` from ``Tuner.fit`` (or any iterable of Ray ``Result``;
            without the grid's ``experiment_path`` and ``filesystem``, Ray's statuses are
            unknown).
        metrics: Objective metrics; the first one ranks.
        modes: ``min`` or ``max`` for each objective.
        max_steps: The budget, to tell completed trials from trials stopped early.
        accuracy_threshold: Class-accuracy threshold of the ranking rule.
        parameter_names: The searched parameters, shown in the table; None shows every key of
            the trials' configurations.

    Returns:
        The trials, best first.
    """
    search = search_results_from_grid(results, max_steps, parameter_names)
    rule = rk.RankingRule(
        accuracy_threshold=accuracy_threshold,
        objectives=tuple(rk.Objective(metric, mode) for metric, mode in zip(metrics, modes)),
    )
    ranking = rk.rank_trials(search, rule)
    if ranking.empty:
        return []
    trials = search.trials.set_index(rs.TRIAL_ID)
    shown = list(dict.fromkeys([*metrics, metric_names.FID, metric_names.CLASS_ACCURACY]))
    summaries = []
    for row in ranking.to_dict("records"):
        row = {key: None if _is_missing(value) else _plain(value) for key, value in row.items()}
        trial_id = row[rs.TRIAL_ID]
        best: dict[str, Any] = {}
        if row[rk.BEST_STEP] is not None:
            best = {metric: row.get(f"{metric}_best") for metric in shown}
            best[metric_names.STEP] = int(row[rk.BEST_STEP])
        summaries.append(
            TrialSummary(
                trial_id=trial_id,
                status=row[rs.STATUS],
                # A conditional parameter whose switch was off has no value in that trial.
                parameters={name: row[name] for name in search.searched_params if row.get(name) is not None},
                best=best,
                last_step=int(row["steps_trained"]),
                path=trials.loc[trial_id, rs.TRIAL_DIR],
                best_checkpoint=row[rs.CHECKPOINT_PATH],
                tier=row[rk.TIER],
                on_pareto_front=bool(row[rk.PARETO]),
            )
        )
    return summaries


def search_results_from_grid(
    results: Iterable[Any], max_steps: int, parameter_names: Sequence[str] | None = None
) -> rs.SearchResults:
    """Turn Ray's ``ResultGrid`` into the tables ``reporting.results.load_search_results`` returns.

    Call it after ``Tuner.fit`` returned: the search counts as ended, so a trial that Ray's
    experiment state still shows as running is ``interrupted``. Each trial's intervals are the
    rows Ray read from its ``result.json``, plus the results Ray keeps with its checkpoints for
    intervals those rows lack. Ray 2.60 drops the whole table of a trial when one line of its
    ``result.json`` is unreadable, so then every interval comes from the checkpoints.
    """
    experiment_path = getattr(results, "experiment_path", None)
    filesystem = getattr(results, "filesystem", None)
    statuses = _ray_statuses(filesystem, experiment_path) if filesystem is not None and experiment_path else {}
    entries = []
    for result in results:
        directory = str(result.path) if result.path else None
        name = posixpath.basename(directory.rstrip("/")) if directory else ""
        state = statuses.get(name, {})
        trial_id = state.get("trial_id") or (result.metrics or {}).get(rs.TRIAL_ID) or rs.trial_id_from_dir_name(name)
        ray_status = state.get("status") or ("ERROR" if result.error else rs.UNKNOWN.upper())
        entries.append(
            {
                rs.TRIAL_ID: str(trial_id),
                rs.RAY_STATUS: ray_status,
                rs.TRIAL_DIR: directory,
                "params": dict(result.config or {}),
                "rows": rs.merge_checkpoint_rows(
                    _frame_rows(result), _checkpoint_rows(result, filesystem), directory or trial_id
                ),
            }
        )
    if parameter_names is None:
        parameter_names = list(dict.fromkeys(key for entry in entries for key in entry["params"]))
    return rs.build_search_results(
        experiment_path or "",
        entries,
        {},
        search_ended=True,
        searched_params=list(parameter_names),
        max_steps=max_steps,
    )


def _ray_statuses(filesystem: Any, experiment_path: str) -> dict[str, dict[str, Any]]:
    """Read the trial statuses of the newest experiment state, keyed by trial directory name."""
    import pyarrow.fs

    try:
        infos = filesystem.get_file_info(pyarrow.fs.FileSelector(experiment_path))
        names = sorted(
            info.base_name for info in infos
            if info.type == pyarrow.fs.FileType.File and fnmatch.fnmatch(info.base_name, rs.EXPERIMENT_STATE_GLOB)
        )
        if not names:
            logger.warning("No %s in %s; trial statuses are inferred", rs.EXPERIMENT_STATE_GLOB, experiment_path)
            return {}
        # The file name carries the session start time, so the last name is the newest session.
        with filesystem.open_input_stream(f"{experiment_path}/{names[-1]}") as stream:
            content = json.loads(stream.readall().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning("Cannot read Ray's experiment state in %s (%s); trial statuses are inferred", experiment_path, error)
        return {}
    states = rs.parse_experiment_state(content, f"{experiment_path}/{names[-1]}")
    return {state["relative_logdir"]: state for state in states.values() if state["relative_logdir"]}


def _frame_rows(result: Any) -> list[dict[str, Any]]:
    """Return the trial's results as Ray read them from ``result.json``, without NaN fill-ins."""
    frame = result.metrics_dataframe
    if frame is None or frame.empty:
        return []
    rows = []
    for record in frame.to_dict("records"):
        # json_normalize fills keys a row lacks with NaN; leave them out as result.json does.
        rows.append({key: _plain(value) for key, value in record.items() if not _is_missing(value)})
    return rows


def _checkpoint_rows(result: Any, filesystem: Any = None) -> list[dict[str, Any]]:
    """Return the results stored with the trial's checkpoints, naming each checkpoint.

    These are the results Ray keeps in the driver, plus the ``metrics.json`` of checkpoints
    whose result Ray never recorded. A worker uploads its checkpoint before the driver reads
    the result, so after Ctrl-C the newest checkpoint can be such a one.
    ``python -m acgan_search.report`` reads the same files.
    """
    rows = []
    for checkpoint, metrics in result.best_checkpoints or []:
        name = posixpath.basename(str(checkpoint.path).rstrip("/"))
        rows.append({**metrics, rs.CHECKPOINT_DIR_NAME: name})
    if filesystem is not None and result.path:
        known = {row[rs.CHECKPOINT_DIR_NAME] for row in rows}
        rows.extend(_stored_checkpoint_rows(filesystem, str(result.path), known))
    return rows


def _stored_checkpoint_rows(filesystem: Any, trial_dir: str, known: set[str]) -> list[dict[str, Any]]:
    import pyarrow.fs

    try:
        infos = filesystem.get_file_info(pyarrow.fs.FileSelector(trial_dir, allow_not_found=True))
    except OSError as error:
        logger.warning("Cannot list the checkpoints of %s: %s", trial_dir, error)
        return []
    rows = []
    for info in sorted(infos, key=lambda item: item.base_name):
        if info.type != pyarrow.fs.FileType.Directory or not info.base_name.startswith("checkpoint_"):
            continue
        if info.base_name in known:
            continue
        try:
            with filesystem.open_input_stream(f"{info.path}/{rs.CHECKPOINT_METRICS_FILE}") as stream:
                metrics = json.loads(stream.read().decode("utf-8"))
        except (OSError, ValueError):
            continue  # A checkpoint without a readable metrics.json adds no interval.
        if isinstance(metrics, dict):
            rows.append({**metrics, rs.CHECKPOINT_DIR_NAME: info.base_name})
    return rows


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _is_missing(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def format_ranking(summaries: Sequence[TrialSummary], metrics: Sequence[str], top_k: int) -> str:
    """Return the top-k trials as a fixed-width text table, best first.

    Columns: rank, trial id, status, ranking tier, step of the best interval (best_step), the
    objectives, class accuracy and FID when they are not objectives, a Pareto-front mark with
    two objectives, and the sampled parameters.
    """
    shown_metrics = list(dict.fromkeys([*metrics, metric_names.FID, metric_names.CLASS_ACCURACY]))
    header = ["rank", "trial", "status", "tier", "best_step", *shown_metrics]
    if len(metrics) > 1:
        header.append("pareto")
    header.append("parameters")
    rows = []
    for rank, summary in enumerate(summaries[:top_k], start=1):
        row = [
            str(rank),
            summary.trial_id,
            summary.status,
            summary.tier,
            str(summary.best.get(metric_names.STEP, "-")),
        ]
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
