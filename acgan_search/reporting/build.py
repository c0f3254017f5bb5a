"""Writing a search report: ranking.csv, report.md, report.html and the PNG plots."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd

from acgan_search.errors import ResultsError
from acgan_search.reporting import plots
from acgan_search.reporting import ranking as rk
from acgan_search.reporting import results as rs
from acgan_search.reporting.document import (
    Plot,
    ReportDocument,
    display_table,
    format_value,
    provenance_rows,
    utc_now,
)
from acgan_search.reporting.html import render_html
from acgan_search.reporting.importance import MIN_TRIALS_FOR_IMPORTANCE, param_importances
from acgan_search.reporting.markdown import render_markdown
from acgan_search.reporting.output_dir import staged_output_dir

logger = logging.getLogger(__name__)

REPORT_DIR_NAME = "report"
RANKING_CSV = "ranking.csv"
REPORT_MARKDOWN = "report.md"
REPORT_HTML = "report.html"
PLOTS_DIR = "plots"


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    """Paths of a written report."""

    directory: Path
    ranking_csv: Path
    markdown: Path
    html: Path
    plots: dict[str, Path]


def write_report(
    results_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    accuracy_threshold: float | None = None,
    overwrite: bool = False,
) -> ReportFiles:
    """Rank a search's trials and write the report files.

    Args:
        results_dir: The experiment directory of the search.
        out_dir: Where to write; default ``<results_dir>/report``.
        accuracy_threshold: Class-accuracy threshold of the ranking rule (fraction in [0, 1]);
            None uses ``ranking.DEFAULT_ACCURACY_THRESHOLD``.
        overwrite: Replace an existing output directory.

    Returns:
        The paths written.

    Raises:
        ResultsError: The directory contains no search results, no trial has a finished interval,
            or the output directory exists and ``overwrite`` is False.
    """
    results_dir = Path(results_dir)
    out_dir = Path(out_dir) if out_dir is not None else results_dir / REPORT_DIR_NAME
    results = rs.load_search_results(results_dir)
    if not results.has_finished_interval:
        raise ResultsError(
            f"The search in {results_dir} has no finished evaluation interval yet, so there is nothing "
            f"to report. Received: {len(results.trials)} trials, 0 reported intervals. "
            "Run the report again after the first interval has been reported."
        )
    rule = rk.rule_from_record(results.record, accuracy_threshold)
    ranking = rk.rank_trials(results, rule)

    with staged_output_dir(out_dir, overwrite=overwrite) as staging:
        document = _build_document(results, ranking, rule, staging)
        ranking.to_csv(staging / RANKING_CSV, index=False)
        (staging / REPORT_MARKDOWN).write_text(render_markdown(document, staging), encoding="utf-8")
        (staging / REPORT_HTML).write_text(render_html(document), encoding="utf-8")
        plot_names = [plot.path.name for plot in document.plots if plot.path is not None]

    files = ReportFiles(
        directory=out_dir,
        ranking_csv=out_dir / RANKING_CSV,
        markdown=out_dir / REPORT_MARKDOWN,
        html=out_dir / REPORT_HTML,
        plots={name: out_dir / PLOTS_DIR / name for name in plot_names},
    )
    logger.info("Wrote the report of %d trials to %s", len(ranking), out_dir)
    return files


def _build_document(
    results: rs.SearchResults, ranking: pd.DataFrame, rule: rk.RankingRule, staging: Path
) -> ReportDocument:
    plot_dir = staging / PLOTS_DIR
    plot_dir.mkdir()
    best = rk.select_best(ranking)
    importances = param_importances(ranking, results.searched_params, results.record, rule)
    figures = [
        Plot("FID against training step", plots.plot_fid_curves(results.history, ranking, plot_dir / plots.FID_CURVES),
             "no trial reported FID"),
        Plot("FID against class accuracy (best interval of each trial)",
             plots.plot_fid_accuracy(ranking, rule, plot_dir / plots.FID_ACCURACY),
             "no trial reported both FID and class accuracy"),
        Plot("Parameter importance (Optuna fANOVA)",
             plots.plot_param_importance(importances, rule.primary.metric, plot_dir / plots.PARAM_IMPORTANCE),
             f"needs at least {MIN_TRIALS_FOR_IMPORTANCE} evaluated trials and a searched parameter that varies"),
        _best_samples_plot(results, best, plot_dir),
        Plot(f"Losses of the best trial ({best[rs.TRIAL_ID]})",
             plots.plot_losses(results.history, best[rs.TRIAL_ID], plot_dir / plots.BEST_LOSSES),
             "the best trial reported no losses"),
    ]
    best_summary = {
        key: format_value(best[key]) for key in ranking.columns
        if key in (rs.TRIAL_ID, rs.STATUS, rk.TIER, rk.BEST_STEP, rs.CHECKPOINT_PATH)
        or key.endswith("_best") or key in results.searched_params
    }
    if not plots.has_checkpoint(best[rs.CHECKPOINT_PATH]):
        best_summary[rs.CHECKPOINT_PATH] = "missing: not on disk"
    notes = _notes(results, ranking)
    samples = figures[3]
    if samples.path is None:
        notes.append(f"The best trial's sample grid is missing: {samples.missing_reason}.")
    return ReportDocument(
        title=f"Search report: {results.record.get('experiment_name', results.experiment_dir.name)}",
        experiment_dir=results.experiment_dir,
        generated_at=utc_now(),
        rule_text=rule.describe(),
        table=display_table(ranking, rule, results.searched_params),
        status_counts=ranking[rs.STATUS].value_counts().to_dict(),
        best=best_summary,
        importances=importances,
        plots=figures,
        provenance=provenance_rows(results.record),
        notes=notes,
    )


def _best_samples_plot(results: rs.SearchResults, best: pd.Series, plot_dir: Path) -> Plot:
    trial_id = best[rs.TRIAL_ID]
    title = f"Samples of the best trial ({trial_id}, one row per class)"
    checkpoint = best[rs.CHECKPOINT_PATH]
    path = plots.copy_sample_grid(checkpoint, plot_dir / plots.BEST_SAMPLES)
    if path is not None:
        return Plot(title, path)

    step = format_value(best[rk.BEST_STEP])
    if plots.has_checkpoint(checkpoint):
        reason = f"the checkpoint {checkpoint} of the best interval (step {step}) has no {plots.SAMPLE_GRID_FILE}"
    else:
        trial_dirs = results.trials.loc[results.trials[rs.TRIAL_ID] == trial_id, rs.TRIAL_DIR]
        trial_dir = trial_dirs.iloc[0] if not trial_dirs.empty and trial_dirs.iloc[0] else "its trial directory"
        reason = (f"the checkpoint of the best interval (trial {trial_id}, step {step}) is not on disk in "
                  f"{trial_dir}; it was deleted, or the trial kept no checkpoint for that step")
    logger.warning("The report shows no samples of the best trial: %s", reason)
    return Plot(title, None, reason)


def _notes(results: rs.SearchResults, ranking: pd.DataFrame) -> list[str]:
    notes = []
    if not results.record:
        notes.append(f"{rs.SEARCH_RECORD_FILE} is missing: objectives default to minimising FID and "
                     "the evaluator, dataset and versions are unknown.")
    unfinished = ranking[ranking[rs.STATUS].isin([*rs.UNFINISHED_STATUSES, rs.UNKNOWN])]
    if not unfinished.empty:
        notes.append(f"{len(unfinished)} trials had not finished when this report was written (running, "
                     "pending, paused, or interrupted); their rows show the intervals reported so far.")
    if (ranking[rk.TIER] != rk.ELIGIBLE).all():
        notes.append("No trial reached the class-accuracy threshold; the best trial is below it.")
    return notes
