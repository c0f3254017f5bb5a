"""Rendering a ``ReportDocument`` as one self-contained HTML page (PNGs embedded as base64).

The page uses no JavaScript and loads nothing from the network, so it can be mailed or
opened from an archive.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd
from PIL import Image

from acgan_search.reporting.document import RANKING_LEGEND, ReportDocument, format_utc

RANKING_TABLE_ID = "ranking"
DISPLAY_LONG_SIDE = 600  # Pixels; PNGs whose longer side is at most half of this are shown enlarged.

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; }
#ranking td:nth-child(2), #ranking td:nth-child(3), #ranking th:nth-child(2), #ranking th:nth-child(3) { text-align: left; }
table.key-value th, table.key-value td { text-align: left; }
table.key-value td:first-child { font-family: ui-monospace, monospace; }
table.key-value td:last-child { white-space: normal; overflow-wrap: anywhere; }
tr.pareto td { background: #fff3e0; }
.note { background: #fff8c4; padding: 0.5em 1em; border-left: 4px solid #e0c000; }
.legend { font-size: 0.85em; color: #555; }
figure { display: inline-block; margin: 1em; vertical-align: top; max-width: 100%; }
figcaption { font-weight: bold; margin-bottom: 0.3em; }
img { max-width: 100%; height: auto; }
.scroll { overflow-x: auto; }
"""



def render_html(document: ReportDocument) -> str:
    """Return the report as a complete HTML document."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_text(document.title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_text(document.title)}</h1>",
        f"<p>Results: <code>{_text(document.experiment_dir)}</code><br>"
        f"Generated: {_text(format_utc(document.generated_at))}</p>",
    ]
    parts += [f'<p class="note"><strong>Note:</strong> {_inline(note)}</p>' for note in document.notes]

    parts.append("<h2>Best trial</h2>")
    if document.best is None:
        parts.append("<p>No trial has a finished evaluation interval yet.</p>")
    else:
        parts.append(_key_value_table(list(document.best.items()), "best"))

    parts += ["<h2>How trials are ranked</h2>", f"<p>{_inline(document.rule_text)}</p>"]
    counts = ", ".join(f"{status}: {count}" for status, count in document.status_counts.items())
    parts.append(f"<p>Trial statuses: {_text(counts)}.</p>")

    parts += ["<h2>Ranked trials</h2>", '<div class="scroll">', _ranking_table(document.table), "</div>",
              f'<p class="legend">{_inline(RANKING_LEGEND)}</p>']

    parts.append("<h2>Plots</h2>")
    for plot in document.plots:
        if plot.path is None:
            parts.append(f"<p><strong>{_text(plot.title)}:</strong> not available: {_text(plot.missing_reason)}</p>")
            continue
        encoded = base64.b64encode(plot.path.read_bytes()).decode("ascii")
        parts.append(
            f"<figure><figcaption>{_text(plot.title)}</figcaption>"
            f'<img alt="{_text(plot.title)}" {image_size_attributes(plot.path)}src="data:image/png;base64,{encoded}"></figure>'
        )

    if document.importances:
        parts.append("<h2>Parameter importance</h2>")
        parts.append(_key_value_table([(name, f"{value:.3f}") for name, value in document.importances.items()],
                                      "importance", header=("parameter", "importance")))

    parts += [
        "<h2>Comparability</h2>",
        "<p>Numbers from two reports are comparable only when the evaluator fingerprint, the dataset and "
        "the evaluation sample count are equal. The real-versus-real FID floor is the FID two real samples "
        "of this size reach, so values near it cannot be told apart.</p>",
    ]
    if document.provenance:
        parts.append(_key_value_table(document.provenance, "provenance", header=("field", "value")))
    else:
        parts.append("<p>The search record is missing, so comparability cannot be checked.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def image_size_attributes(path: Path) -> str:
    """Return the ``<img>`` size attributes that enlarge a small PNG, or an empty string.

    Small PNGs (sample grids of 28x28 images) are enlarged by a whole factor, without smoothing,
    while their longer side stays within ``DISPLAY_LONG_SIDE``, so a tall grid of one row per
    class still fits on the screen.
    """
    with Image.open(path) as image:
        width, height = image.size
    factor = max(1, DISPLAY_LONG_SIDE // max(width, height, 1))
    if factor == 1:
        return ""
    return f'width="{width * factor}" height="{height * factor}" style="image-rendering: pixelated" '


def _ranking_table(table: pd.DataFrame) -> str:
    rows = [f'<table id="{RANKING_TABLE_ID}"><thead><tr>']
    rows += [f"<th>{_text(column)}</th>" for column in table.columns]
    rows.append("</tr></thead><tbody>")
    pareto_index = list(table.columns).index("pareto") if "pareto" in table.columns else None
    for values in table.itertuples(index=False):
        is_pareto = pareto_index is not None and values[pareto_index] == "yes"
        rows.append('<tr class="pareto">' if is_pareto else "<tr>")
        rows += [f"<td>{_text(value)}</td>" for value in values]
        rows.append("</tr>")
    rows.append("</tbody></table>")
    return "".join(rows)


def _key_value_table(items: list[tuple[object, object]], table_id: str, header: tuple[str, str] | None = None) -> str:
    rows = [f'<table id="{table_id}" class="key-value">']
    if header:
        rows.append(f"<thead><tr><th>{_text(header[0])}</th><th>{_text(header[1])}</th></tr></thead>")
    rows.append("<tbody>")
    rows += [f"<tr><td>{_text(key)}</td><td>{_text(value)}</td></tr>" for key, value in items]
    rows.append("</tbody></table>")
    return "".join(rows)


def _text(value: object) -> str:
    return html.escape(str(value))


def _inline(text: str) -> str:
    # Escape the text and show its Markdown code spans (`name`) as <code>, as the Markdown report does.
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))
