"""Rendering a ``ReportDocument`` as GitHub-flavoured Markdown with PNGs linked by path."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from acgan_search.reporting.document import RANKING_LEGEND, ReportDocument, format_utc


def render_markdown(document: ReportDocument, report_dir: Path) -> str:
    """Return the report as Markdown; image links are relative to ``report_dir``."""
    lines = [f"# {document.title}", ""]
    lines += [f"Results: `{document.experiment_dir}`  ", f"Generated: {format_utc(document.generated_at)}", ""]
    for note in document.notes:
        lines += [f"> **Note:** {note}", ""]

    lines += ["## Best trial", ""]
    if document.best is None:
        lines += ["No trial has a finished evaluation interval yet.", ""]
    else:
        lines += [f"- {key}: {value}" for key, value in document.best.items()] + [""]

    lines += ["## How trials are ranked", "", document.rule_text, ""]
    counts = ", ".join(f"{status}: {count}" for status, count in document.status_counts.items())
    lines += [f"Trial statuses: {counts}.", ""]

    lines += ["## Ranked trials", "", table_to_markdown(document.table), "", RANKING_LEGEND, ""]

    lines += ["## Plots", ""]
    for plot in document.plots:
        lines += [f"### {plot.title}", ""]
        if plot.path is None:
            lines += [f"_Not available: {plot.missing_reason}_", ""]
        else:
            relative = Path(os.path.relpath(plot.path, report_dir)).as_posix()
            lines += [f"![{plot.title}]({relative})", ""]

    if document.importances:
        lines += ["## Parameter importance", ""]
        lines += [table_to_markdown(pd.DataFrame(
            {"parameter": list(document.importances), "importance": [f"{v:.3f}" for v in document.importances.values()]}
        )), ""]

    lines += ["## Comparability", ""]
    lines += [
        "Numbers from two reports are comparable only when the evaluator fingerprint, the dataset "
        "and the evaluation sample count are equal. The real-versus-real FID floor is the FID "
        "two real samples of this size reach, so values near it cannot be told apart.",
        "",
    ]
    if document.provenance:
        lines += [table_to_markdown(pd.DataFrame(document.provenance, columns=["field", "value"])), ""]
    else:
        lines += ["_The search record is missing, so comparability cannot be checked._", ""]
    return "\n".join(lines)


def table_to_markdown(table: pd.DataFrame) -> str:
    """Render a DataFrame of strings as a Markdown pipe table."""
    header = "| " + " | ".join(_escape(str(column)) for column in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(_escape(str(value)) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
