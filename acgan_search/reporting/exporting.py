"""Choosing the checkpoint to deploy and exporting it as a bundle.

The checkpoint is chosen by the report's ranking rule (``acgan_search.reporting.ranking``):
the best interval of the top-ranked trial. ``trial_id`` picks a trial's best interval
instead, and ``checkpoint`` bypasses the search results altogether.
"""

from __future__ import annotations

import logging
import math
import numbers
from pathlib import Path
from typing import Any

import pandas as pd

from acgan_search import metric_names as mn
from acgan_search.errors import ResultsError
from acgan_search.reporting import ranking as rk
from acgan_search.reporting import results as rs
from acgan_search.reporting.bundle import write_bundle
from acgan_search.reporting.output_dir import check_output_dir
from acgan_search.training.checkpoint import load_generator, read_state

logger = logging.getLogger(__name__)


def export_bundle(
    out_dir: str | Path,
    *,
    results_dir: str | Path | None = None,
    trial_id: str | None = None,
    checkpoint: str | Path | None = None,
    accuracy_threshold: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Export a generator checkpoint as a deployment bundle.

    Args:
        out_dir: The bundle directory to create.
        results_dir: The search's experiment directory. Required unless ``checkpoint`` is given;
            with ``checkpoint`` it only supplies the metrics and search record of the card.
        trial_id: Export this trial's best interval instead of the top-ranked trial's.
        checkpoint: Export this checkpoint directory as it is.
        accuracy_threshold: Class-accuracy threshold of the ranking rule; None uses the default.
        overwrite: Replace an existing ``out_dir``.

    Returns:
        ``out_dir``.

    Raises:
        ResultsError: ``out_dir`` exists without ``overwrite``; ``results_dir`` contains no search
            results or no finished interval; ``trial_id`` is not in the search; the chosen
            interval has no checkpoint on disk; or neither ``results_dir`` nor ``checkpoint``
            is given.
        CheckpointError: ``checkpoint`` is not a complete checkpoint directory.
    """
    out_dir = Path(out_dir)
    check_output_dir(out_dir, overwrite=overwrite)
    if checkpoint is None and results_dir is None:
        raise ResultsError(
            "Nothing to export: pass the search's results directory, or --checkpoint PATH. "
            "Received: results_dir=None, checkpoint=None."
        )
    if checkpoint is not None and trial_id is not None:
        raise ResultsError(
            f"--trial and --checkpoint both choose the checkpoint; pass only one. "
            f"Received: trial={trial_id!r}, checkpoint={str(checkpoint)!r}."
        )

    results = rs.load_search_results(results_dir) if results_dir is not None else None
    rule = rk.rule_from_record(results.record if results else {}, accuracy_threshold)
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        read_state(checkpoint)  # Raises CheckpointError for an incomplete directory.
        row = _row_for_checkpoint(results, checkpoint) if results is not None else None
        trial_id = row[rs.TRIAL_ID] if row is not None else _trial_containing(results, checkpoint)
        if results is not None and trial_id is None:
            logger.warning(
                "Checkpoint %s is not inside any trial of the search in %s, so the model card records no "
                "trial, metrics or search record for it", checkpoint, results.experiment_dir,
            )
            results = None
        selection = "checkpoint given with --checkpoint"
    else:
        row, selection = _choose_interval(results, rule, trial_id)
        trial_id = row[rs.TRIAL_ID]
        checkpoint = Path(row[rs.CHECKPOINT_PATH])

    generator, config, num_classes = load_generator(checkpoint)
    state = read_state(checkpoint)
    card = {
        "num_classes": num_classes,
        "config": config.to_dict(),
        "metrics": _metrics(row),
        "evaluator": _evaluator(row, results.record if results else {}),
        "dataset": {"name": state.get("dataset", config.dataset), "fingerprint": state.get("dataset_fingerprint")},
        "origin": {
            "checkpoint": str(checkpoint.resolve()),
            "step": state.get("step"),
            "experiment_dir": str(results.experiment_dir.resolve()) if results else None,
            "trial_id": trial_id,
            "selection": selection,
        },
        "search": {key: value for key, value in (results.record if results else {}).items() if key != "search_space"},
    }
    write_bundle(generator, out_dir, card=card, overwrite=overwrite)
    logger.info("Exported %s (%s) to %s", checkpoint, selection, out_dir)
    return out_dir


def _choose_interval(
    results: rs.SearchResults, rule: rk.RankingRule, trial_id: str | None
) -> tuple[pd.Series, str]:
    if not results.has_finished_interval:
        raise ResultsError(
            f"The search in {results.experiment_dir} has no finished evaluation interval yet, so no "
            f"checkpoint can be chosen. Received: {len(results.trials)} trials, 0 reported intervals. "
            "Wait for the first interval, or pass --checkpoint PATH."
        )
    ranking = rk.rank_trials(results, rule)
    if trial_id is None:
        best = rk.select_best(ranking)
        trial_id = str(best[rs.TRIAL_ID])
        selection = f"rank 1 under the ranking rule ({best[rk.TIER]}, accuracy threshold {rule.accuracy_threshold:g})"
        if best[rk.TIER] != rk.ELIGIBLE:
            logger.warning("The best trial %s is %s; exporting it anyway", trial_id, best[rk.TIER])
    else:
        known = results.trial_ids()
        if trial_id not in known:
            raise ResultsError(
                f"Trial not found in {results.experiment_dir}. Received: trial={trial_id!r}. "
                f"Known trial IDs: {', '.join(known)}."
            )
        selection = f"best interval of trial {trial_id} given with --trial"

    history = results.history[results.history[rs.TRIAL_ID] == trial_id]
    with_checkpoint = history[history[rs.CHECKPOINT_PATH].notna()]
    index, _ = rk.best_interval_index(with_checkpoint, rule)
    if index is None:
        raise ResultsError(
            f"Trial {trial_id} has no evaluated interval with a checkpoint on disk in "
            f"{results.experiment_dir}. Received: trial={trial_id!r}, {len(history)} reported intervals. "
            "Pick another trial with --trial, or pass --checkpoint PATH."
        )
    overall, _ = rk.best_interval_index(history, rule)
    if overall != index:
        logger.warning(
            "The best interval of trial %s (step %s) has no checkpoint on disk; exporting step %s instead",
            trial_id, history.loc[overall, mn.STEP], with_checkpoint.loc[index, mn.STEP],
        )
    return with_checkpoint.loc[index], selection


def _row_for_checkpoint(results: rs.SearchResults, checkpoint: Path) -> pd.Series | None:
    if results.history.empty:
        return None
    target = str(checkpoint.resolve())
    paths = results.history[rs.CHECKPOINT_PATH].map(lambda p: str(Path(p).resolve()) if p else None)
    matches = results.history[paths == target]
    return matches.iloc[-1] if not matches.empty else None


def _trial_containing(results: rs.SearchResults | None, checkpoint: Path) -> str | None:
    # A checkpoint inside a trial's directory came from that trial even when no reported interval
    # names it (for example when the result line of its interval was lost).
    if results is None:
        return None
    target = checkpoint.resolve()
    for trial_id, trial_dir in zip(results.trials[rs.TRIAL_ID], results.trials[rs.TRIAL_DIR]):
        if trial_dir and target.is_relative_to(Path(trial_dir).resolve()):
            return str(trial_id)
    return None


def _metrics(row: pd.Series | None) -> dict[str, Any]:
    if row is None:
        return {}
    metrics = {}
    for key, value in row.items():
        if key in (rs.TRIAL_ID, rs.CHECKPOINT_PATH) or key.startswith(("intra_fid_class_", "class_accuracy_class_")):
            continue
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if math.isfinite(float(value)):
                metrics[key] = value.item() if hasattr(value, "item") else value
    return metrics


def _evaluator(row: pd.Series | None, record: dict[str, Any]) -> dict[str, Any]:
    evaluator = dict(record.get("evaluator") or {}) if isinstance(record.get("evaluator"), dict) else {}
    if row is not None:
        for key in (mn.EVALUATOR_FINGERPRINT, mn.EVALUATOR_ACCURACY, mn.FID_REAL_FLOOR, mn.INTRA_FID_REAL_FLOOR,
                    mn.EVAL_SAMPLES):
            if key in row.index and row[key] is not None and not (isinstance(row[key], float) and math.isnan(row[key])):
                evaluator[key] = row[key]
    for key in (mn.EVALUATOR_FINGERPRINT, mn.EVALUATOR_ACCURACY, mn.FID_REAL_FLOOR):
        if key in record and key not in evaluator:
            evaluator[key] = record[key]
    return evaluator
