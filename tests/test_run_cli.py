"""Tests of ``python -m acgan_search.run`` that need no Ray: option checks, input errors, exit status.

The slow tests at the end interrupt a tiny real search with SIGINT: once, checking that the
printed ranking and the report give the cut-off trial the same status, and twice, checking for
one line instead of a traceback.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
import yaml

from acgan_search.reporting import ranking as rk
from acgan_search.reporting import results as rs
from acgan_search.run import main, parse_arguments, search_exit_status

REPOSITORY = Path(__file__).resolve().parents[1]
SMOKE = REPOSITORY / "search_spaces" / "smoke.yaml"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run ``main``, returning its exit status (argparse's too) and what it wrote to stderr."""
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = int(exit_.code)
    return status, capsys.readouterr().err


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# ------------------------------------------------------------------ numeric options


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--num-cpus", "0", r"argument --num-cpus: must be an integer >= 1\. Received: --num-cpus=0\. Pass 1 or more\."),
        ("--num-cpus", "-2", r"argument --num-cpus: must be an integer >= 1\. Received: --num-cpus=-2\."),
        ("--num-cpus", "1.5", r"argument --num-cpus: must be an integer >= 1\. Received: --num-cpus='1\.5'\. Pass a whole number\."),
        ("--top-k", "0", r"argument --top-k: must be an integer >= 1\. Received: --top-k=0\."),
        ("--top-k", "-1", r"argument --top-k: must be an integer >= 1\. Received: --top-k=-1\."),
        ("--min-accuracy", "1.5", r"argument --min-accuracy: must be a fraction in \[0, 1\]\. Received: --min-accuracy='1\.5'"),
        ("--min-accuracy", "nan", r"argument --min-accuracy: must be a fraction in \[0, 1\]\. Received: --min-accuracy='nan'"),
    ],
)
def test_run_option_out_of_range_rejected(
    capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    status, err = run_cli(capsys, str(SMOKE), f"{option}={value}")
    assert status == 2
    assert re.search(message, last_line(err)), err
    assert not ray.is_initialized()


def test_run_options_in_range_accepted() -> None:
    arguments = parse_arguments([str(SMOKE), "--num-cpus", "1", "--top-k", "3", "--min-accuracy", "0"])
    assert (arguments.num_cpus, arguments.top_k, arguments.min_accuracy) == (1, 3, 0.0)


def test_run_min_accuracy_defaults_to_report_threshold() -> None:
    assert parse_arguments([str(SMOKE)]).min_accuracy == rk.DEFAULT_ACCURACY_THRESHOLD


# ------------------------------------------------------------------ input files


def test_run_non_utf8_space_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(SMOKE.read_bytes().replace(b"# Tiny search", b"# Tiny s\xe9arch"))
    status, err = run_cli(capsys, str(path), "--storage", str(tmp_path / "results"))
    assert status == 2
    assert err.count("\n") == 1
    assert re.match(r"error: .*latin1\.yaml: the search-space file is not UTF-8 text: byte 0xe9", err)


def test_run_malformed_yaml_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(SMOKE.read_text().replace("  num_trials: 4", "  num_trials: [4"), encoding="utf-8")
    status, err = run_cli(capsys, str(path), "--storage", str(tmp_path / "results"))
    assert status == 2
    assert err.count("\n") == 1
    assert re.match(r"error: .*broken\.yaml:\d+:\d+: invalid YAML: ", err), err


def test_run_duplicate_key_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(SMOKE.read_text().replace("  batch_size: 32\n", "  batch_size: 32\n  batch_size: 64\n"), encoding="utf-8")
    line = path.read_text().splitlines().index("  batch_size: 64") + 1
    status, err = run_cli(capsys, str(path), "--storage", str(tmp_path / "results"))
    assert status == 2
    assert f"twice.yaml:{line}:3: duplicate key 'batch_size'" in err


def test_run_negative_startup_trials_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = yaml.safe_load(SMOKE.read_text())
    document["searcher"]["options"] = {"n_startup_trials": -1}
    path = tmp_path / "negative.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    status, err = run_cli(capsys, str(path), "--storage", str(tmp_path / "results"))
    assert status == 2
    assert "searcher.options.n_startup_trials must be >= 0. Received: searcher.options.n_startup_trials=-1" in err
    assert not ray.is_initialized()


@pytest.mark.parametrize("relative", ["results.txt", "results.txt/inner"])
def test_run_storage_is_file_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str], relative: str) -> None:
    (tmp_path / "results.txt").write_text("not a directory")
    status, err = run_cli(capsys, str(SMOKE), "--storage", str(tmp_path / relative))
    assert status == 2
    assert err.count("\n") == 1
    assert f"because {tmp_path / 'results.txt'} is a file, not a directory" in err
    assert not ray.is_initialized()


@pytest.mark.parametrize("storage", ["", "  "])
def test_run_empty_storage_rejected(capsys: pytest.CaptureFixture[str], storage: str) -> None:
    status, err = run_cli(capsys, str(SMOKE), f"--storage={storage}")
    assert status == 2
    assert err.count("\n") == 1
    assert f"The storage root is empty. Received: storage={storage!r}." in err
    assert not ray.is_initialized()


def test_run_option_prefix_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_cli(capsys, str(SMOKE), "--resum")
    assert status == 2
    assert "unrecognized arguments: --resum" in last_line(err)
    assert not ray.is_initialized()


# ------------------------------------------------------------------ exit status


def test_search_exit_status_all_completed(capsys: pytest.CaptureFixture[str]) -> None:
    assert search_exit_status([rs.COMPLETED, rs.STOPPED_EARLY, rs.DIVERGED], 3) == 0
    assert capsys.readouterr().err == ""


def test_search_exit_status_all_failed(capsys: pytest.CaptureFixture[str]) -> None:
    assert search_exit_status([rs.FAILED, rs.FAILED], 2) == 1
    err = capsys.readouterr().err
    assert err == "error: all 2 trials failed; each trial folder under the results path contains its error.txt.\n"


def test_search_exit_status_some_failed(capsys: pytest.CaptureFixture[str]) -> None:
    assert search_exit_status([rs.FAILED, rs.COMPLETED], 2) == 0


def test_search_exit_status_interrupted(capsys: pytest.CaptureFixture[str]) -> None:
    assert search_exit_status([rs.COMPLETED, rs.INTERRUPTED], 2) == 1
    assert "stopped with 1 of 2 trials unfinished (1 interrupted, 0 not started). Continue it with the same " \
        "command and --resume." in capsys.readouterr().err


def test_search_exit_status_trials_never_created(capsys: pytest.CaptureFixture[str]) -> None:
    assert search_exit_status([rs.COMPLETED], 3) == 1
    assert "stopped with 2 of 3 trials unfinished (0 interrupted, 2 not started)" in capsys.readouterr().err


def test_search_exit_status_no_trials(capsys: pytest.CaptureFixture[str]) -> None:
    assert search_exit_status([], 0) == 0


# ------------------------------------------------------------------ with Ray


def interrupt_tiny_search(
    tmp_path: Path, name: str, *, max_steps: int, wait_for: str, sigint_gaps: tuple[float, ...]
) -> tuple[Path, int, str, str]:
    """Start a two-trial search of the smoke model, one trial at a time, and send it SIGINTs.

    The first SIGINT goes out once ``wait_for`` (a checkpoint folder name) exists in a trial;
    each gap in ``sigint_gaps`` adds one more SIGINT that many seconds later.

    Returns:
        The experiment folder, the exit status, stdout and stderr.
    """
    document = yaml.safe_load(SMOKE.read_text())
    document.update(name=name, scheduler="none")
    document["budget"] = {"num_trials": 2, "max_steps": max_steps, "interval": 20}
    document["resources"] = {"cpus_per_trial": 1, "max_concurrent_trials": 1}
    space = tmp_path / f"{name}.yaml"
    space.write_text(yaml.safe_dump(document), encoding="utf-8")
    storage = tmp_path / "results"
    experiment = storage / name
    command = [sys.executable, "-m", "acgan_search.run", str(space), "--storage", str(storage), "--num-cpus", "1"]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not list(experiment.glob(f"train_trial_*/{wait_for}")):
            time.sleep(0.5)
        os.kill(driver.pid, signal.SIGINT)
        for gap in sigint_gaps:
            time.sleep(gap)
            os.kill(driver.pid, signal.SIGINT)
        stdout, stderr = driver.communicate(timeout=240)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(timeout=30)
    return experiment, driver.returncode, stdout, stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_interrupted_search_same_status_in_run_and_report(tmp_path: Path, default_sigint: None) -> None:
    """Ctrl-C during the second interval of a two-trial search, one trial at a time."""
    experiment, returncode, stdout, stderr = interrupt_tiny_search(
        tmp_path, "interrupted", max_steps=60, wait_for="checkpoint_000000", sigint_gaps=()
    )
    assert returncode == 1, stderr[-2000:]
    assert "not started). Continue it with the same command and --resume." in stderr
    printed = {}
    for line in stdout.splitlines():
        fields = line.split()
        if fields and fields[0].isdigit() and len(fields) > 2:
            printed[fields[1]] = rs.INTERRUPTED if fields[2] == "interrupted" else " ".join(fields[2:4])
    trials = rs.load_search_results(experiment).trials
    reported = dict(zip(trials[rs.TRIAL_ID], trials[rs.STATUS]))
    assert rs.INTERRUPTED in reported.values()
    assert printed[next(t for t, s in reported.items() if s == rs.INTERRUPTED)] == rs.INTERRUPTED


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_run_double_ctrl_c_one_line(tmp_path: Path, default_sigint: None) -> None:
    """Two SIGINTs half a second apart: no traceback, and the report lists no running trial."""
    experiment, returncode, _, stderr = interrupt_tiny_search(
        tmp_path, "twice", max_steps=6000, wait_for="checkpoint_000001", sigint_gaps=(0.5,)
    )
    assert returncode in (1, 130), stderr[-2000:]
    assert "Traceback" not in stderr
    trials = rs.load_search_results(experiment).trials
    assert rs.RUNNING not in set(trials[rs.STATUS])
