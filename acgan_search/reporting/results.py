"""Reading a Ray Tune experiment directory into pandas DataFrames, without a running Ray.

The search stores, under ``<storage>/<name>/``:

- ``experiment_state-<date>.json``: Ray's experiment state. Its ``trial_data`` entries are
  pairs of JSON strings; the first contains the trial's ``trial_id``, ``status``
  (PENDING, RUNNING, PAUSED, TERMINATED, ERROR) and ``relative_logdir``. Only the JSON fields
  are read; the hex-encoded cloudpickle blobs inside are never unpickled.
- one directory per trial with ``params.json`` (the trial's configuration), ``result.json``
  (one JSON object per reported interval) and ``checkpoint_XXXXXX/`` directories, each with a
  ``metrics.json`` copy of the result reported with it. Intervals that ``result.json`` lacks
  (an unreadable line, or rows Ray dropped when the trial restarted) are taken from there.
- ``acgan_search.json``: the search's own record of the resolved search space, objectives,
  dataset, budget, evaluator and software versions.
- ``acgan_search_end.json``: written by ``python -m acgan_search.run`` when ``Tuner.fit``
  returns, naming the experiment state of the session that ended. Trials that state still shows
  as running, paused or pending were cut off (Ctrl-C) and get the status ``interrupted``.

Every file is read as it is on disk, so a finished, an interrupted or a still-running search
and a directory copied from a cluster all load the same way. ``python -m acgan_search.run``
classifies the trials of the search it ran with the same rule (``trial_status``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

from acgan_search import metric_names as mn
from acgan_search.errors import ResultsError

logger = logging.getLogger(__name__)

SEARCH_RECORD_FILE = "acgan_search.json"
SEARCH_END_FILE = "acgan_search_end.json"
EXPERIMENT_STATE_GLOB = "experiment_state-*.json"
# Written beside every checkpoint by the trainable (search.trainable.CHECKPOINT_METRICS_FILE);
# repeated here because importing the search layer would import Ray.
CHECKPOINT_METRICS_FILE = "metrics.json"
CHECKPOINT_DIR_NAME = "checkpoint_dir_name"  # Ray's result key naming the interval's checkpoint.

# Status of a trial as the report shows it.
COMPLETED = "completed"
STOPPED_EARLY = "stopped early"  # Terminated by the scheduler before the maximum steps.
DIVERGED = "diverged"  # Reported the DIVERGED flag: losses or metrics became NaN or infinite.
FAILED = "failed"  # Ray marked the trial ERROR (an exception, retries exhausted).
INTERRUPTED = "interrupted"  # Not ended when the search itself ended (Ctrl-C); --resume continues it.
RUNNING = "running"
PENDING = "pending"
PAUSED = "paused"
UNKNOWN = "unknown"  # No experiment state names the trial (e.g. a partial copy).
# Trials a resumed search would continue, or whose end is unknown.
UNFINISHED_STATUSES = (INTERRUPTED, RUNNING, PENDING, PAUSED, UNKNOWN)

TRIAL_ID = "trial_id"
TRIAL_DIR = "trial_dir"
RAY_STATUS = "ray_status"
STATUS = "status"
CHECKPOINT_PATH = "checkpoint_path"
WALL_TIME = "time_total_s"  # Ray's key: seconds of training in the trial so far.

# Keys Ray adds to every result row; they are bookkeeping, not metrics.
_RAY_BOOKKEEPING_KEYS = {
    "config", "timestamp", "should_checkpoint", "done", "training_iteration", "date",
    "time_this_iter_s", "pid", "hostname", "node_ip", "time_since_restore",
    "iterations_since_restore", "experiment_tag", CHECKPOINT_DIR_NAME,
}


@dataclasses.dataclass(frozen=True)
class SearchResults:
    """Everything stored about one search, as tables.

    Attributes:
        experiment_dir: The Ray Tune experiment directory that was read.
        trials: One row per trial, indexed by position, with columns ``trial_id``, ``status``
            (one of the status constants of this module), ``ray_status``, ``trial_dir``,
            ``steps_trained``, ``time_total_s`` and one column per searched parameter.
        history: One row per reported interval with ``trial_id``, ``step``, every reported
            metric, ``time_total_s`` and ``checkpoint_path`` (None when the interval's
            checkpoint is not on disk).
        record: The contents of ``acgan_search.json``, or an empty dict when it is missing.
        searched_params: Names of the searched parameters, in search-space order.
        max_steps: Training steps a trial runs when no scheduler stops it, or None if unknown.
        search_ended: Whether the search had ended when the files were read, so unfinished
            trials are ``interrupted`` rather than ``running``, ``paused`` or ``pending``.
    """

    experiment_dir: Path
    trials: pd.DataFrame
    history: pd.DataFrame
    record: dict[str, Any]
    searched_params: list[str]
    max_steps: int | None
    search_ended: bool = False

    @property
    def has_finished_interval(self) -> bool:
        """Whether at least one trial reported at least one evaluation interval."""
        return not self.history.empty

    def trial_ids(self) -> list[str]:
        """Return the trial IDs in the order Ray created the trials."""
        return list(self.trials[TRIAL_ID])


def load_search_results(experiment_dir: str | Path) -> SearchResults:
    """Read a Ray Tune experiment directory written by ``python -m acgan_search.run``.

    Args:
        experiment_dir: ``<storage>/<experiment name>``, the directory that contains Ray's
            ``experiment_state-*.json`` and the trial directories.

    Returns:
        The trials, their reported intervals and the search record.

    Raises:
        ResultsError: The directory does not exist or contains neither an experiment state nor
            trial directories.
    """
    experiment_dir = Path(experiment_dir)
    if not experiment_dir.is_dir():
        raise ResultsError(
            f"Search results directory not found. Received: results_dir={str(experiment_dir)!r}. "
            "Pass the experiment directory that `python -m acgan_search.run` printed at the end."
        )

    state_file = _newest_experiment_state_file(experiment_dir)
    states = _read_experiment_state(state_file) if state_file is not None else {}
    trial_dirs = _find_trial_dirs(experiment_dir)
    if not states and not trial_dirs:
        raise ResultsError(_no_results_message(experiment_dir))

    for state in states.values():
        relative = state.pop("relative_logdir")
        state["dir"] = experiment_dir / relative if relative and (experiment_dir / relative).is_dir() else None
    record = _read_search_record(experiment_dir)
    entries = []
    state_dirs = {state["dir"] for state in states.values() if state["dir"] is not None}
    for trial_dir in sorted(set(trial_dirs) | state_dirs):
        entries.append(_read_trial(trial_dir, _state_for_dir(states, trial_dir)))

    # Trials Ray created but that never got a directory (still pending).
    known_ids = {entry[TRIAL_ID] for entry in entries}
    for state in states.values():
        if state["trial_id"] not in known_ids:
            entries.append(
                {TRIAL_ID: state["trial_id"], RAY_STATUS: state["status"], TRIAL_DIR: None,
                 "params": state["config"], "rows": []}
            )

    search_ended = state_file is not None and _search_ended(experiment_dir, state_file.name)
    return build_search_results(experiment_dir, entries, record, search_ended=search_ended)


def build_search_results(
    experiment_dir: str | Path,
    entries: list[dict[str, Any]],
    record: dict[str, Any],
    *,
    search_ended: bool,
    searched_params: list[str] | None = None,
    max_steps: int | None = None,
) -> SearchResults:
    """Assemble the tables of a search from what was read about each trial.

    ``load_search_results`` reads the entries from an experiment directory; the search layer
    builds them from Ray's ``ResultGrid``. Both then classify and tabulate the trials here.

    Args:
        experiment_dir: The experiment directory (a local path or a bucket path).
        entries: One dict per trial with ``trial_id``, ``ray_status`` (Ray's status as its
            experiment state stores it, or ``UNKNOWN``), ``trial_dir`` (or None), ``params``
            (the trial's configuration) and ``rows`` (its reported results, oldest first,
            including the intervals recovered from checkpoints).
        record: The contents of ``acgan_search.json``, or an empty dict.
        search_ended: Whether the search had ended; see ``trial_status``.
        searched_params: Names of the searched parameters; None derives them from the record
            or, without one, from the parameters the trials disagree on.
        max_steps: The budget's maximum steps per trial; None reads it from the record or the
            trials' configurations.

    Returns:
        The search's tables.
    """
    experiment_dir = Path(experiment_dir)
    history_frames = [
        _rows_to_history(entry[TRIAL_ID], Path(entry[TRIAL_DIR]) if entry[TRIAL_DIR] else None, entry["rows"])
        for entry in entries
    ]
    history = _concat_history(history_frames)
    params = [entry["params"] for entry in entries]
    searched = searched_params if searched_params is not None else _searched_param_names(record, params)
    max_steps = max_steps if max_steps is not None else _max_steps(record, params)
    trials = _build_trials_table(entries, history, searched, max_steps, search_ended)
    logger.info(
        "Read %d trials and %d reported intervals from %s", len(trials), len(history), experiment_dir
    )
    return SearchResults(
        experiment_dir=experiment_dir,
        trials=trials,
        history=history,
        record=record,
        searched_params=searched,
        max_steps=max_steps,
        search_ended=search_ended,
    )


# ------------------------------------------------------------------ Ray's files


def _newest_experiment_state_file(experiment_dir: Path) -> Path | None:
    # The file name carries the session start time, so the last name is the newest session.
    state_files = sorted(experiment_dir.glob(EXPERIMENT_STATE_GLOB))
    return state_files[-1] if state_files else None


def _read_experiment_state(state_file: Path) -> dict[str, dict[str, Any]]:
    try:
        content = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        # Ray rewrites this file while a search runs; a torn read loses only the statuses.
        logger.warning("Cannot read Ray's experiment state %s (%s); trial statuses are inferred", state_file, error)
        return {}
    return parse_experiment_state(content, str(state_file))


def parse_experiment_state(content: Any, source: str) -> dict[str, dict[str, Any]]:
    """Map trial ID to the status, log directory and configuration in Ray's experiment state.

    Only the JSON fields of each ``trial_data`` entry are read; the hex-encoded cloudpickle
    blobs inside are never unpickled.

    Args:
        content: The parsed ``experiment_state-*.json``.
        source: Where it was read from, for warnings.

    Returns:
        For each trial: ``trial_id``, ``status`` (Ray's: PENDING, RUNNING, PAUSED, TERMINATED,
        ERROR), ``relative_logdir`` (the trial directory's name, or None) and ``config``.
    """
    states = {}
    entries = content.get("trial_data", []) if isinstance(content, dict) else []
    for entry in entries:
        try:
            trial = json.loads(entry[0]) if isinstance(entry[0], str) else entry[0]
            trial_id = trial["trial_id"]
        except (IndexError, KeyError, TypeError, json.JSONDecodeError):
            logger.warning("Skipping an unreadable trial entry in %s", source)
            continue
        states[trial_id] = {
            "trial_id": trial_id,
            "status": trial.get("status", UNKNOWN.upper()),
            "relative_logdir": trial.get("relative_logdir"),
            "config": trial.get("config") if isinstance(trial.get("config"), dict) else {},
        }
    return states


def _search_ended(experiment_dir: Path, state_file_name: str) -> bool:
    """Return whether ``run`` recorded the end of the session that wrote the newest experiment state."""
    path = experiment_dir / SEARCH_END_FILE
    if not path.exists():
        return False
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning("Cannot read %s (%s); unfinished trials are shown as running", path, error)
        return False
    # A resumed search writes a newer experiment state, so an older marker no longer applies.
    return isinstance(marker, dict) and marker.get("experiment_state") == state_file_name


def _find_trial_dirs(experiment_dir: Path) -> list[Path]:
    return [
        child
        for child in experiment_dir.iterdir()
        if child.is_dir() and ((child / "result.json").exists() or (child / "params.json").exists())
    ]


def _read_trial(trial_dir: Path, state: dict[str, Any] | None) -> dict[str, Any]:
    """Read one trial directory into an entry for ``build_search_results``."""
    state = state or {}
    rows = merge_checkpoint_rows(_read_result_rows(trial_dir), _read_checkpoint_rows(trial_dir), str(trial_dir))
    trial_id = state.get("trial_id") or next((row[TRIAL_ID] for row in rows if row.get(TRIAL_ID)), None)
    return {
        TRIAL_ID: trial_id or trial_id_from_dir_name(trial_dir.name),
        RAY_STATUS: state.get("status", UNKNOWN.upper()),
        TRIAL_DIR: str(trial_dir),
        "params": _read_params(trial_dir) or state.get("config") or {},
        "rows": rows,
    }


def _state_for_dir(states: dict[str, dict[str, Any]], trial_dir: Path) -> dict[str, Any] | None:
    for state in states.values():
        if state["dir"] is not None and state["dir"] == trial_dir:
            return state
    return None


def trial_id_from_dir_name(name: str) -> str:
    """Return the trial ID in a Ray trial directory name, or the whole name when none is found.

    Ray names trial directories ``<trainable>_<experiment id>_<index>_<tag>_<date>``; the trial
    ID is ``<experiment id>_<index zero-padded to 5 digits>``.
    """
    parts = name.split("_")
    for index in range(len(parts) - 1):
        if len(parts[index + 1]) == 5 and parts[index + 1].isdigit():
            return f"{parts[index]}_{parts[index + 1]}"
    return name


def _read_params(trial_dir: Path) -> dict[str, Any]:
    path = trial_dir / "params.json"
    if not path.exists():
        return {}
    try:
        params = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning("Cannot read %s (%s); the trial's parameters are taken from Ray's state", path, error)
        return {}
    return params if isinstance(params, dict) else {}


def _read_result_rows(trial_dir: Path) -> list[dict[str, Any]]:
    """Read ``result.json``, skipping each line that is not one JSON object, with a warning."""
    path = trial_dir / "result.json"
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as error:
        logger.warning("Cannot read %s (%s); its intervals are taken from the checkpoints", path, error)
        return []
    rows = []
    lines = content.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            row = None
        if isinstance(row, dict):
            rows.append(row)
        elif number == len(lines):
            # A running trial may be writing its last line right now.
            logger.warning("Ignoring the incomplete last line %d of %s", number, path)
        else:
            logger.warning("Ignoring unreadable line %d of %s", number, path)
    return rows


def _read_checkpoint_rows(trial_dir: Path) -> list[dict[str, Any]]:
    """Read the result stored in each checkpoint's ``metrics.json``, naming its checkpoint."""
    rows = []
    for path in sorted(trial_dir.glob(f"checkpoint_*/{CHECKPOINT_METRICS_FILE}")):
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            logger.warning("Ignoring unreadable %s (%s)", path, error)
            continue
        if isinstance(row, dict):
            rows.append({**row, CHECKPOINT_DIR_NAME: path.parent.name})
    return rows


def merge_checkpoint_rows(
    rows: list[dict[str, Any]], checkpoint_rows: list[dict[str, Any]], source: str
) -> list[dict[str, Any]]:
    """Add the checkpointed intervals that the result rows lack, ordered by step.

    Args:
        rows: A trial's results as Ray logged them (``result.json``), oldest first.
        checkpoint_rows: The results stored with the trial's checkpoints, each with the
            checkpoint's directory name under ``checkpoint_dir_name``.
        source: The trial directory, for the log line.

    Returns:
        ``rows`` plus every checkpoint row whose ``step`` no result row reports, sorted by step
        (rows without a step keep their place at the end).
    """
    logged_steps = {row.get(mn.STEP) for row in rows}
    missing = [row for row in checkpoint_rows if row.get(mn.STEP) is not None and row[mn.STEP] not in logged_steps]
    if not missing:
        return rows
    logger.info("Recovered %d intervals of %s from its checkpoints' %s", len(missing), source, CHECKPOINT_METRICS_FILE)
    merged = rows + missing
    return sorted(merged, key=lambda row: _step_order(row.get(mn.STEP)))


def _step_order(step: Any) -> float:
    try:
        return float(step)
    except (TypeError, ValueError):
        return math.inf


def _rows_to_history(trial_id: str, trial_dir: Path | None, rows: list[dict[str, Any]]) -> pd.DataFrame:
    records = []
    for row in rows:
        record = {
            key: value for key, value in row.items()
            if key not in _RAY_BOOKKEEPING_KEYS and not key.startswith("config/")
        }
        record[TRIAL_ID] = trial_id
        checkpoint_name = row.get(CHECKPOINT_DIR_NAME)
        checkpoint = trial_dir / checkpoint_name if trial_dir is not None and isinstance(checkpoint_name, str) else None
        record[CHECKPOINT_PATH] = str(checkpoint) if checkpoint is not None and checkpoint.is_dir() else None
        records.append(record)
    return pd.DataFrame.from_records(records)


def _concat_history(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=[TRIAL_ID, mn.STEP, CHECKPOINT_PATH])
    history = pd.concat(frames, ignore_index=True)
    if mn.STEP not in history.columns:
        history[mn.STEP] = pd.NA
    else:
        # A trial restored from a checkpoint reports the intervals after it again; keep the
        # newest report of each step.
        history = history.drop_duplicates(subset=[TRIAL_ID, mn.STEP], keep="last").reset_index(drop=True)
    if mn.DIVERGED not in history.columns:
        history[mn.DIVERGED] = 0.0
    history[mn.DIVERGED] = history[mn.DIVERGED].fillna(0.0)
    return history


# ------------------------------------------------------------------ the search record


def _read_search_record(experiment_dir: Path) -> dict[str, Any]:
    path = experiment_dir / SEARCH_RECORD_FILE
    if not path.exists():
        logger.warning(
            "%s has no %s: objectives default to minimising FID and the evaluator, dataset and "
            "software versions are not shown",
            experiment_dir,
            SEARCH_RECORD_FILE,
        )
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ResultsError(
            f"The search record {path} is not valid JSON: {error}. "
            "Restore it from the search's storage, or delete it to report without it."
        ) from None
    return record if isinstance(record, dict) else {}


def _searched_param_names(record: dict[str, Any], params: list[dict[str, Any]]) -> list[str]:
    space = record.get("search_space") or record.get("parameters")
    if isinstance(space, dict) and space:
        names = space.get("parameters", space) if isinstance(space.get("parameters"), dict) else space
        return [str(name) for name in names]
    if isinstance(space, list) and space:
        return [str(item["name"]) for item in space if isinstance(item, dict) and "name" in item]
    # Without a record, a parameter counts as searched when trials disagree on it.
    keys: list[str] = []
    for entry in params:
        keys.extend(key for key in entry if key not in keys)
    return [
        key for key in keys
        if len({json.dumps(entry.get(key), sort_keys=True, default=str) for entry in params}) > 1
    ]


def _max_steps(record: dict[str, Any], params: list[dict[str, Any]]) -> int | None:
    budget = record.get("budget")
    if isinstance(budget, dict) and budget.get("max_steps"):
        return int(budget["max_steps"])
    if record.get("max_steps"):
        return int(record["max_steps"])
    values = {entry.get("max_steps") for entry in params if isinstance(entry.get("max_steps"), int)}
    return max(values) if values else None


# ------------------------------------------------------------------ the trials table


def _build_trials_table(
    entries: list[dict[str, Any]],
    history: pd.DataFrame,
    searched: list[str],
    max_steps: int | None,
    search_ended: bool,
) -> pd.DataFrame:
    records = []
    for entry in entries:
        trial_history = history[history[TRIAL_ID] == entry[TRIAL_ID]] if not history.empty else history
        steps = _last_finite(trial_history, mn.STEP)
        wall_time = _last_finite(trial_history, WALL_TIME)
        diverged = bool(not trial_history.empty and (trial_history[mn.DIVERGED] >= 0.5).any())
        record = {
            TRIAL_ID: entry[TRIAL_ID],
            STATUS: trial_status(entry[RAY_STATUS], diverged, steps, max_steps, search_ended=search_ended),
            RAY_STATUS: entry[RAY_STATUS],
            "steps_trained": int(steps) if steps is not None else 0,
            WALL_TIME: wall_time,
            "intervals": len(trial_history),
            TRIAL_DIR: entry[TRIAL_DIR],
        }
        for name in searched:
            record[name] = entry["params"].get(name)
        records.append(record)
    return pd.DataFrame.from_records(records)


def trial_status(
    ray_status: str,
    diverged: bool,
    steps_trained: float | None,
    max_steps: int | None,
    *,
    search_ended: bool = False,
) -> str:
    """Classify a trial from Ray's status and what it reported.

    The report and the ranking that ``python -m acgan_search.run`` prints both use this rule.
    Ray 2.60 writes a trial's status to ``experiment_state-*.json``: TERMINATED when the trial
    returned or the scheduler (ASHA) stopped it, ERROR when it failed. On Ctrl-C, Ray saves that
    file once more before it stops the trials, so a trial cut off by the user keeps RUNNING,
    PAUSED or PENDING there. (The trials in the driver's memory, and so in the ``ResultGrid``,
    are TERMINATED by then, so that status alone cannot tell an ASHA stop from an interruption.)

    Args:
        ray_status: Ray's trial status in the newest experiment state (TERMINATED, ERROR,
            RUNNING, PENDING, PAUSED), or UNKNOWN when no experiment state names the trial.
        diverged: Whether any reported interval carried DIVERGED = 1.
        steps_trained: Step of the last reported interval, or None.
        max_steps: The budget's maximum steps per trial, or None if unknown.
        search_ended: Whether the search had ended (``Tuner.fit`` returned) when that
            experiment state was written.

    Returns:
        ``diverged`` takes precedence, then ``failed`` (Ray status ERROR). A terminated trial
        is ``completed`` when it reached ``max_steps`` and ``stopped early`` otherwise. A
        running, paused or pending trial is ``interrupted`` once the search has ended, and
        ``running``, ``paused`` or ``pending`` while it goes on.
    """
    if diverged:
        return DIVERGED
    if ray_status == "ERROR":
        return FAILED
    if ray_status in ("TERMINATED", UNKNOWN.upper()):
        if max_steps is None or steps_trained is None:
            return COMPLETED if ray_status == "TERMINATED" else UNKNOWN
        if steps_trained >= max_steps:
            return COMPLETED
        return STOPPED_EARLY if ray_status == "TERMINATED" else UNKNOWN
    if ray_status in ("RUNNING", "PAUSED", "PENDING") and search_ended:
        return INTERRUPTED
    return {"RUNNING": RUNNING, "PENDING": PENDING, "PAUSED": PAUSED}.get(ray_status, UNKNOWN)


def _last_finite(frame: pd.DataFrame, column: str) -> float | None:
    if frame.empty or column not in frame.columns:
        return None
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    values = values[values.map(math.isfinite)]
    return float(values.iloc[-1]) if not values.empty else None


def _no_results_message(experiment_dir: Path) -> str:
    candidates = sorted(
        child.name for child in experiment_dir.iterdir()
        if child.is_dir() and any(child.glob(EXPERIMENT_STATE_GLOB))
    )
    hint = (
        f" It contains these experiment directories: {', '.join(candidates)}; pass one of them."
        if candidates
        else " Pass the experiment directory that `python -m acgan_search.run` printed at the end."
    )
    return (
        f"No search results in {experiment_dir}: expected Ray's {EXPERIMENT_STATE_GLOB} or trial "
        f"directories with result.json. Received: results_dir={str(experiment_dir)!r}.{hint}"
    )
