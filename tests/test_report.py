"""Tests of ``python -m acgan_search.report``: files, plots, HTML in headless Chromium, bad input.

The fast tests report on experiment directories written in Ray's layout (see
``test_ranking.write_trial``); the slow ones report on a real tiny search run.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from acgan_search import metric_names as mn
from acgan_search import report as report_cli
from acgan_search.errors import ResultsError
from acgan_search.reporting import plots
from acgan_search.reporting import results as rs
from acgan_search.reporting.build import PLOTS_DIR, REPORT_HTML, REPORT_MARKDOWN, RANKING_CSV, write_report
from acgan_search.reporting.document import format_column, format_value
from acgan_search.reporting.html import image_size_attributes
from test_ranking import metrics, tiny_search_dir, write_record, write_trial

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_TIMEOUT_SECONDS = 120
ALL_PLOTS = (plots.FID_CURVES, plots.FID_ACCURACY, plots.PARAM_IMPORTANCE, plots.BEST_SAMPLES, plots.BEST_LOSSES)


@pytest.fixture()
def search_dir(tmp_path: Path) -> Path:
    """Five trials with checkpoints, each holding a sample grid PNG."""
    experiment = tmp_path / "search"
    experiment.mkdir()
    write_record(experiment)
    rng = np.random.default_rng(0)
    for index in range(5):
        lr = float(10 ** rng.uniform(-5, -2))
        history = [metrics(60.0 - 5 * index, 0.85 + 0.02 * index), metrics(50.0 - 5 * index, 0.88 + 0.02 * index)]
        write_trial(experiment, index, {"generator_lr": lr, "dropout": 0.1 * index}, history, checkpoints=True)
    for checkpoint in experiment.glob("*/checkpoint_*"):
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(checkpoint / "sample_grid.png")
    return experiment


def test_write_report_files(search_dir: Path) -> None:
    files = write_report(search_dir)
    assert files.directory == search_dir / "report"
    assert files.ranking_csv.is_file()
    assert files.markdown.is_file()
    assert files.html.is_file()


def test_write_report_every_plot_is_png(search_dir: Path) -> None:
    files = write_report(search_dir)
    assert sorted(files.plots) == sorted(ALL_PLOTS)
    for path in files.plots.values():
        with Image.open(path) as image:
            assert image.format == "PNG", path
            image.verify()


def test_write_report_ranking_csv(search_dir: Path) -> None:
    ranking = pd.read_csv(write_report(search_dir).ranking_csv)
    # Trial 4 has the lowest FID and all trials but trial 0 reach 0.9 accuracy at step 40.
    assert ranking.loc[0, rs.TRIAL_ID] == "abcde_00004"
    assert ranking.loc[0, f"{mn.FID}_best"] == 30.0
    assert {"generator_lr", "dropout", rs.STATUS, "steps_trained", rs.WALL_TIME} <= set(ranking.columns)


def test_write_report_markdown_content(search_dir: Path) -> None:
    text = write_report(search_dir).markdown.read_text()
    assert "## How trials are ranked" in text
    assert "class_accuracy` >= 0.9" in text
    assert "eeeeeeeeeeeeeeee" in text  # The evaluator fingerprint.
    assert f"]({PLOTS_DIR}/{plots.FID_CURVES})" in text


def test_write_report_html_self_contained(search_dir: Path) -> None:
    html = write_report(search_dir).html.read_text()
    assert html.count('src="data:image/png;base64,') == len(ALL_PLOTS)
    assert not re.search(r'(src|href)="(https?:|file:|/)', html)


def test_write_report_custom_threshold(search_dir: Path) -> None:
    text = write_report(search_dir, accuracy_threshold=0.5).markdown.read_text()
    assert "class_accuracy` >= 0.5" in text


def test_write_report_without_record(search_dir: Path) -> None:
    (search_dir / rs.SEARCH_RECORD_FILE).unlink()
    text = write_report(search_dir).markdown.read_text()
    assert "acgan_search.json is missing" in text


def test_write_report_existing_output_rejected(search_dir: Path) -> None:
    out = search_dir / "report"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ResultsError, match=r"Output directory already exists; nothing was written.*--overwrite"):
        write_report(search_dir)
    assert (out / "keep.txt").read_text() == "mine"
    assert sorted(path.name for path in out.iterdir()) == ["keep.txt"]


def test_write_report_overwrite_replaces(search_dir: Path) -> None:
    out = search_dir / "report"
    out.mkdir()
    (out / "old.txt").write_text("old")
    write_report(search_dir, overwrite=True)
    assert not (out / "old.txt").exists()
    assert (out / REPORT_HTML).is_file()
    assert [path.name for path in search_dir.iterdir() if path.name.startswith(".report")] == []


def test_write_report_no_finished_interval(tmp_path: Path) -> None:
    write_trial(tmp_path, 0, {"generator_lr": 1e-3}, [], status="RUNNING")
    with pytest.raises(ResultsError, match=r"no finished evaluation interval yet.*0 reported intervals"):
        write_report(tmp_path)
    assert not (tmp_path / "report").exists()


def test_write_report_dir_without_results(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"No search results in"):
        write_report(tmp_path)
    assert list(tmp_path.iterdir()) == []


def best_checkpoint(search_dir: Path) -> Path:
    """The best interval's checkpoint of ``search_dir``: trial 4 at step 40."""
    return next(search_dir.glob("train_trial_abcde_00004_*/checkpoint_000001"))


def test_write_report_best_checkpoint_deleted(search_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    shutil.rmtree(best_checkpoint(search_dir))
    files = write_report(search_dir)
    text = files.markdown.read_text()
    assert plots.BEST_SAMPLES not in files.plots
    assert "sample grid is missing: the checkpoint of the best interval (trial abcde_00004, step 40) is not on disk" in text
    assert "checkpoint_path: missing: not on disk" in text
    assert "The report shows no samples of the best trial" in caplog.text


def test_write_report_best_sample_grid_deleted(search_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    checkpoint = best_checkpoint(search_dir)
    (checkpoint / plots.SAMPLE_GRID_FILE).unlink()
    text = write_report(search_dir).markdown.read_text()
    assert f"the checkpoint {checkpoint} of the best interval (step 40) has no sample_grid.png" in text
    assert "The report shows no samples of the best trial" in caplog.text


def test_write_report_html_code_spans(search_dir: Path) -> None:
    html = write_report(search_dir).html.read_text()
    assert "<code>class_accuracy</code> &gt;= 0.9" in html
    assert "`" not in html


def test_write_report_ranking_legend(search_dir: Path) -> None:
    text = write_report(search_dir).markdown.read_text()
    assert "`wall_time_s` is seconds of training" in text


def test_write_report_generated_time_readable(search_dir: Path) -> None:
    text = write_report(search_dir).markdown.read_text()
    assert re.search(r"Generated: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)


def test_write_report_searched_column_one_notation(search_dir: Path) -> None:
    # generator_lr spans 1e-5 to 1e-2: every cell of its column is in scientific notation.
    table = write_report(search_dir).markdown.read_text().split("## Ranked trials")[1].split("## Plots")[0]
    header = [cell.strip() for cell in table.strip().splitlines()[0].strip("|").split("|")]
    rows = [line.strip("|").split("|") for line in table.strip().splitlines()[2:7]]
    column = header.index("generator_lr")
    assert all(re.fullmatch(r"\d\.\d\de-0\d", row[column].strip()) for row in rows), rows


def test_write_report_dir_mode_follows_umask(search_dir: Path) -> None:
    previous = os.umask(0o022)
    try:
        files = write_report(search_dir)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(files.directory.stat().st_mode) == 0o755


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12500.0, "12500"), (20.0, "20"), (12345.678, "12346"), (10.794, "10.79"), (0.5915, "0.5915"),
     (2e-5, "2e-05"), (float("nan"), ""), (None, ""), (True, "yes")],
)
def test_format_value_cases(value: object, expected: str) -> None:
    assert format_value(value) == expected


def test_format_column_scientific_when_one_needs_it() -> None:
    assert list(format_column(pd.Series([2e-3, 1e-9, None]))) == ["2.00e-03", "1.00e-09", ""]


def test_image_size_attributes_tall_grid(tmp_path: Path) -> None:
    grid = tmp_path / "grid.png"
    Image.fromarray(np.zeros((298, 118), dtype=np.uint8)).save(grid)  # Ten rows, four columns of 28 pixels.
    assert image_size_attributes(grid) == 'width="236" height="596" style="image-rendering: pixelated" '


def test_report_cli_threshold_out_of_range(search_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = report_cli.main([str(search_dir), "--min-accuracy", "-0.5"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: The class-accuracy threshold must be a fraction in [0, 1]")
    assert "Traceback" not in err


def test_report_cli_error_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = report_cli.main([str(tmp_path / "absent")])
    assert status == 2
    assert re.match(r"error: Search results directory not found", capsys.readouterr().err)


def test_report_cli_prints_paths(search_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = report_cli.main([str(search_dir), "--out", str(search_dir / "r"), "--min-accuracy", "0.8"])
    assert status == 0
    assert str(search_dir / "r" / REPORT_HTML) in capsys.readouterr().out


# ------------------------------------------------------------------ headless Chromium


def run_chromium(html_path: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Open a file in headless Chromium with networking and background services off."""
    profile = tmp_path / "chromium-profile"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, html_path.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_SECONDS, check=False)


def console_messages(stderr: str) -> list[str]:
    # Chromium logs every page console message, uncaught exceptions included, as ":CONSOLE".
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


requires_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed at /usr/bin/chromium")


@requires_chromium
def test_report_html_renders_table_in_chromium(search_dir: Path, tmp_path: Path) -> None:
    html = write_report(search_dir).html
    completed = run_chromium(html, tmp_path, "--dump-dom")
    assert completed.returncode == 0, completed.stderr[-2000:]
    dom = completed.stdout
    table = re.search(r'<table id="ranking">.*?</table>', dom, re.S)
    assert table is not None
    assert len(re.findall(r"<tr", table.group(0))) == 1 + 5  # Header and one row per trial.
    assert "abcde_00004" in table.group(0)
    assert console_messages(completed.stderr) == []


@requires_chromium
def test_report_html_screenshot_in_chromium(search_dir: Path, tmp_path: Path) -> None:
    html = write_report(search_dir).html
    screenshot = tmp_path / "report.png"
    completed = run_chromium(html, tmp_path, f"--screenshot={screenshot}", "--window-size=1400,2400")
    assert completed.returncode == 0, completed.stderr[-2000:]
    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # Not a blank page.
    assert console_messages(completed.stderr) == []


def test_console_messages_detects_uncaught_error(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium not installed at /usr/bin/chromium")
    page = tmp_path / "broken.html"
    page.write_text('<html><body><script>throw new Error("broken page")</script></body></html>')
    completed = run_chromium(page, tmp_path, "--dump-dom")
    assert any("broken page" in line for line in console_messages(completed.stderr))


# ------------------------------------------------------------------ a real tiny search


@pytest.fixture(scope="module")
def real_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    experiment = tiny_search_dir(tmp_path_factory)
    out = tmp_path_factory.mktemp("real_report") / "report"
    write_report(experiment, out, accuracy_threshold=0.0)
    return out


@pytest.mark.slow
def test_real_report_statuses(real_report: Path) -> None:
    statuses = pd.read_csv(real_report / RANKING_CSV).set_index(rs.TRIAL_ID).sort_index()[rs.STATUS]
    assert list(statuses)[:3] == [rs.COMPLETED, rs.STOPPED_EARLY, rs.DIVERGED]


@pytest.mark.slow
def test_real_report_every_plot_is_png(real_report: Path) -> None:
    for name in ALL_PLOTS:
        with Image.open(real_report / PLOTS_DIR / name) as image:
            assert image.format == "PNG", name
            image.verify()


@pytest.mark.slow
def test_real_report_comparability_section(real_report: Path) -> None:
    text = (real_report / REPORT_MARKDOWN).read_text()
    assert "evaluator.evaluator_fingerprint" in text
    assert "evaluator.fid_real_floor" in text
    assert "dataset.name | mnist-5k" in text
    assert "software.ray" in text


@requires_chromium
@pytest.mark.slow
def test_real_report_html_in_chromium(real_report: Path, tmp_path: Path) -> None:
    completed = run_chromium(real_report / REPORT_HTML, tmp_path, "--dump-dom")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert '<table id="ranking">' in completed.stdout
    assert console_messages(completed.stderr) == []
