"""The content of a search report, independent of its format (Markdown or HTML)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

import pandas as pd

from acgan_search import metric_names as mn
from acgan_search.reporting import ranking as rk
from acgan_search.reporting import results as rs


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
        elif pd.api.types.is_float_dtype(table[column]):
            table[column] = table[column].map(format_value)
        elif table[column].dtype == object:
            table[column] = table[column].map(lambda v: "" if v is None else format_value(v))
    return table.rename(columns={rs.WALL_TIME: "wall_time_s", f"{mn.CLASS_ACCURACY}_best": mn.CLASS_ACCURACY})


def format_value(value: Any) -> str:
    """Format a table cell: floats to four significant digits, None and NaN as empty."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


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
