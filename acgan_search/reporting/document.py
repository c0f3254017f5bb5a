"""The content of a search report, independent of its format (Markdown or HTML)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from acgan_search import metric_names as mn
from acgan_search.reporting import ranking as rk
from acgan_search.reporting import results as rs


# Meaning of the ranked table's columns, printed below the table in both formats.
RANKING_LEGEND = (
    "Columns ending in `_best` are taken at the trial's best interval and those ending in `_last` at "
    "its last interval that did not diverge; `class_accuracy`, `class_entropy` (nats) and `intra_fid` "
    "are at the best interval. Steps count training steps; `wall_time_s` is seconds of training "
    "(Ray's `time_total_s`). `pareto` marks the Pareto front. Empty cells: no finite value was reported."
)


@dataclasses.dataclass(frozen=True)
class Plot:
    """One figure of the report: its file, or why it is missing."""

    title: str
    path: Path | None
    missing_reason: str = ""


@dataclasses.dataclass(frozen=True)
class ReportDocument:
    """Everything a report shows.

    Attributes:
        title: Heading of the report.
        experiment_dir: The results that were read.
        generated_at: UTC time the report was written, ISO 8601.
        rule_text: The ranking rule in sentences.
        table: The ranked table as displayed (rounded, selected columns).
        status_counts: Number of trials in each status.
        best: The top-ranked evaluated trial's summary, or None.
        importances: Parameter importances, most important first.
        plots: The figures, in display order.
        provenance: Labelled values that decide whether two reports are comparable.
        notes: Warnings for the reader (missing record, running search, ...).
    """

    title: str
    experiment_dir: Path
    generated_at: str
    rule_text: str
    table: pd.DataFrame
    status_counts: dict[str, int]
    best: dict[str, Any] | None
    importances: dict[str, float]
    plots: list[Plot]
    provenance: list[tuple[str, str]]
    notes: list[str]


def display_table(ranking: pd.DataFrame, rule: rk.RankingRule, searched_params: list[str]) -> pd.DataFrame:
    """Select and round the ranking's columns for a human reader."""
    metrics = list(dict.fromkeys([o.metric for o in rule.objectives] + [mn.FID]))
    columns = [rk.RANK, rs.TRIAL_ID, rs.STATUS]
    for metric in metrics:
        columns += [f"{metric}_best", f"{metric}_last"]
    columns += [f"{mn.CLASS_ACCURACY}_best", mn.CLASS_ENTROPY, mn.INTRA_FID, rk.BEST_STEP, "steps_trained",
                rs.WALL_TIME, rk.TIER, rk.PARETO]
    columns += [name for name in searched_params if name not in columns]
    columns = list(dict.fromkeys(column for column in columns if column in ranking.columns))
    table = ranking[columns].copy()
    for column in table.columns:
        if pd.api.types.is_bool_dtype(table[column]):
            table[column] = table[column].map(lambda v: "yes" if v else "")
        else:
            table[column] = format_column(table[column])
    return table.rename(columns={rs.WALL_TIME: "wall_time_s", f"{mn.CLASS_ACCURACY}_best": mn.CLASS_ACCURACY})


def format_column(values: pd.Series) -> pd.Series:
    """Format a table column with ``format_value``, all in scientific notation if one value needs it.

    A column of learning rates such as 2e-3 and 1e-9 then reads ``2.00e-03`` and ``1.00e-09``
    instead of mixing ``0.002`` with ``1e-09``.
    """
    numbers = [abs(v) for v in values if _is_finite_float(v) and v != 0 and not float(v).is_integer()]
    scientific = any(v < _SMALLEST_FIXED or v >= _LARGEST_FIXED for v in numbers)
    return values.map(lambda v: format_value(v, scientific=scientific and _is_finite_float(v)))


_SMALLEST_FIXED = 1e-3
_LARGEST_FIXED = 1e5


def _is_finite_float(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def format_value(value: Any, *, scientific: bool = False) -> str:
    """Format a table cell for a reader.

    Whole numbers below 1e5 print without a fraction (steps, counts). Other floats get four
    significant digits, in scientific notation below 1e-3 and from 1e5 up, or always with
    ``scientific``. None and NaN print as empty cells, booleans as ``yes`` or empty.
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if not isinstance(value, float):
        return str(value)
    magnitude = abs(value)
    if scientific:
        return f"{value:.2e}"
    if math.isinf(value) or (value.is_integer() and magnitude < _LARGEST_FIXED):
        return str(int(value)) if math.isfinite(value) else str(value)
    if magnitude != 0 and (magnitude < _SMALLEST_FIXED or magnitude >= _LARGEST_FIXED):
        return f"{value:.3g}"
    if magnitude >= 1e4:
        return f"{value:.0f}"  # The 4-significant-digit form of 12345.6 would be 1.235e+04.
    return f"{value:.4g}"


def format_utc(iso_time: str) -> str:
    """Return an ISO 8601 UTC time such as ``2026-01-01T12:00:00+00:00`` as ``2026-01-01 12:00:00 UTC``."""
    try:
        moment = datetime.datetime.fromisoformat(iso_time)
    except ValueError:
        return iso_time
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def provenance_rows(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Flatten the search record (without the search space) into labelled rows.

    The evaluator fingerprint and held-out accuracy, the real-versus-real FID floor, the dataset,
    the budget and the software versions come first when the record has them.
    """
    flat = _flatten({key: value for key, value in record.items() if key not in ("search_space", "parameters")})
    first_words = ("evaluator", mn.FID_REAL_FLOOR, "fid_floor", "dataset", "budget", "version", "software")
    ordered = sorted(flat.items(), key=lambda item: next(
        (index for index, word in enumerate(first_words) if word in item[0]), len(first_words)))
    return [(key, value) for key, value in ordered]


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        flat: dict[str, str] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list):
        return {prefix: json.dumps(value, sort_keys=True)}
    return {prefix: format_value(value)}


def utc_now() -> str:
    """Return the current UTC time as ISO 8601 with seconds."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
