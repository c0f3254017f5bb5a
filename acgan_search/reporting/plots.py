"""PNG plots of a search: FID curves, FID against accuracy, parameter importance, losses.

Each function writes one PNG with matplotlib's non-interactive Agg backend and returns its
path, or None when the data needed for the plot is absent (the caller notes that in the
report).
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # Headless: no display is needed or used.
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import pandas as pd  # noqa: E402

from acgan_search import metric_names as mn  # noqa: E402
from acgan_search.reporting import ranking as rk  # noqa: E402
from acgan_search.reporting import results as rs  # noqa: E402

logger = logging.getLogger(__name__)

FID_CURVES = "fid_vs_step.png"
FID_ACCURACY = "fid_vs_accuracy.png"
PARAM_IMPORTANCE = "param_importance.png"
BEST_SAMPLES = "best_samples.png"
BEST_LOSSES = "best_losses.png"
SAMPLE_GRID_FILE = "sample_grid.png"  # Written into each checkpoint by the search trainable.

_LOSS_KEYS = (
    mn.D_LOSS, mn.G_LOSS, mn.D_ADVERSARIAL_LOSS, mn.D_CLASS_LOSS, mn.G_ADVERSARIAL_LOSS,
    mn.G_CLASS_LOSS, mn.FEATURE_MATCHING_LOSS,
)
_DPI = 110


def plot_fid_curves(history: pd.DataFrame, ranking: pd.DataFrame, path: Path) -> Path | None:
    """Plot FID against training step, one line per trial; diverged trials end in a cross."""
    if history.empty or mn.FID not in history.columns:
        return None
    figure, axes = plt.subplots(figsize=(9.0, 4.5))
    status = dict(zip(ranking[rs.TRIAL_ID], ranking[rs.STATUS]))
    for trial_id, trial in history.groupby(rs.TRIAL_ID, sort=False):
        # A diverged result carries a penalty value in place of FID; plot only healthy intervals.
        trial = _finite(trial[trial[mn.DIVERGED] < 0.5], [mn.STEP, mn.FID])
        if trial.empty:
            axes.plot([], [], "x", color="black", label=f"{trial_id} ({status.get(trial_id, '?')}, no finite FID)")
            continue
        (line,) = axes.plot(trial[mn.STEP], trial[mn.FID], marker=".", label=f"{trial_id} ({status.get(trial_id, '?')})")
        if status.get(trial_id) == rs.DIVERGED:
            axes.plot(trial[mn.STEP].iloc[-1], trial[mn.FID].iloc[-1], "x", color=line.get_color(), markersize=10)
    axes.set_xlabel("training step")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    axes.set_ylabel("FID (evaluator features)")
    axes.set_title("FID during training")
    axes.grid(alpha=0.3)
    if history[rs.TRIAL_ID].nunique() <= 12:
        _legend_outside(axes)
    return _save(figure, path)


def plot_fid_accuracy(ranking: pd.DataFrame, rule: rk.RankingRule, path: Path) -> Path | None:
    """Scatter every trial's best interval as FID against class accuracy, front marked."""
    fid, accuracy = f"{mn.FID}_best", f"{mn.CLASS_ACCURACY}_best"
    if ranking.empty or fid not in ranking or accuracy not in ranking:
        return None
    points = _finite(ranking, [fid, accuracy])
    if points.empty:
        return None
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    others = points[~points[rk.PARETO].astype(bool)]
    front = points[points[rk.PARETO].astype(bool)].sort_values(fid)
    axes.scatter(others[accuracy], others[fid], color="tab:gray", label="trial (best interval)")
    axes.plot(front[accuracy], front[fid], "o-", color="tab:red", label="Pareto front")
    for row in points.itertuples():
        axes.annotate(str(getattr(row, rs.TRIAL_ID)), (getattr(row, accuracy), getattr(row, fid)), fontsize=6)
    axes.axvline(rule.accuracy_threshold, linestyle="--", color="tab:blue", label="accuracy threshold")
    axes.set_xlabel("class accuracy under the evaluator")
    axes.set_ylabel("FID")
    axes.set_title("FID against class accuracy")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    return _save(figure, path)


def plot_param_importance(importances: dict[str, float], metric: str, path: Path) -> Path | None:
    """Plot Optuna's importances of the parameters for ``metric`` as bars, most important on top."""
    if not importances:
        return None
    names = list(importances)[::-1]
    figure, axes = plt.subplots(figsize=(6.5, 0.45 * len(names) + 1.5))
    axes.barh(names, [importances[name] for name in names], color="tab:green")
    axes.set_xlabel(f"importance for {metric} (fANOVA, fraction of explained variance)")
    axes.set_title("Parameter importance")
    axes.grid(axis="x", alpha=0.3)
    return _save(figure, path)


def plot_losses(history: pd.DataFrame, trial_id: str, path: Path) -> Path | None:
    """Plot the training losses of one trial against the training step."""
    trial = history[history[rs.TRIAL_ID] == trial_id]
    trial = trial[trial[mn.DIVERGED] < 0.5]
    keys = [key for key in _LOSS_KEYS if key in trial.columns and trial[key].notna().any()]
    if trial.empty or not keys:
        return None
    figure, axes = plt.subplots(figsize=(9.0, 4.5))
    for key in keys:
        points = _finite(trial, [mn.STEP, key])
        axes.plot(points[mn.STEP], points[key], marker=".", label=key)
    axes.set_xlabel("training step")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    axes.set_ylabel("mean loss over the interval")
    axes.set_title(f"Losses of trial {trial_id}")
    axes.grid(alpha=0.3)
    _legend_outside(axes)
    return _save(figure, path)


def copy_sample_grid(checkpoint_path: str | None, path: Path) -> Path | None:
    """Copy the sample grid PNG that training saved in a checkpoint directory.

    Returns:
        ``path``, or None when ``checkpoint_path`` is None or NaN (no checkpoint on disk when the
        results were read) or the checkpoint directory has no ``sample_grid.png`` any more.
    """
    if not has_checkpoint(checkpoint_path):
        return None
    source = Path(checkpoint_path) / SAMPLE_GRID_FILE
    if not source.is_file():
        return None
    shutil.copyfile(source, path)
    return path


def has_checkpoint(checkpoint_path: object) -> bool:
    """Return whether a ``checkpoint_path`` cell of the results names a checkpoint.

    pandas stores a missing checkpoint as None or NaN, depending on the column's other values.
    """
    return isinstance(checkpoint_path, (str, Path)) and str(checkpoint_path) != ""


def _legend_outside(axes: plt.Axes) -> None:
    # Right of the plot, where it cannot hide a line. tight_layout in _save makes room for it.
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _finite(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    frame = frame.copy()
    for column in columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    mask = frame[columns].map(lambda v: v is not None and math.isfinite(v)).all(axis=1)
    return frame[mask]


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI, format="png")
    plt.close(figure)
    return path
