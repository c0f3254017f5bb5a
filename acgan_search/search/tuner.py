"""Building, running and resuming the Ray Tune search: OptunaSearch for sampling, ASHA for stopping.

Results layout, under ``<storage>/<name>/`` (Ray's experiment directory):
    ``acgan_search.json``: written once when the search starts (``EXPERIMENT_FILE``): the resolved
        search space, objectives and modes, dataset, budget, evaluator fingerprint and held-out
        accuracy, real-versus-real FID floors and software versions.
    ``<trial dir>/result.json``, ``progress.csv``, TensorBoard event files: Ray's per-result logs.
        Every result carries the training losses, the evaluator's metrics, ``step`` and
        ``diverged`` (0.0 or 1.0).
    ``<trial dir>/checkpoint_<index>/``: one per reported interval of a trial that did not
        diverge: the ``Trainer`` checkpoint (``config.yaml``, weights, ``state.json``) and
        ``sample_grid.png``.
    ``searcher-state-*.pkl``, ``experiment_state-*.json``, ``tuner.pkl``: Ray's state for
        ``Tuner.restore``; the searcher state contains the Optuna study, so a resumed search keeps
        sampling from the whole history.
    ``acgan_search_end.json`` (``SEARCH_END_FILE``): written when ``Tuner.fit`` returns, also
        after Ctrl-C, and removed when a resumed search starts. It names the experiment state of
        the session that ended, so the report can tell interrupted trials from running ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fnmatch
import functools
import importlib.metadata
import json
import logging
import os
import platform
from pathlib import Path
from typing import Any, Mapping

from acgan_search import metric_names
from acgan_search.errors import EvaluationError, ResultsError, SearchSpaceError
from acgan_search.reporting.results import EXPERIMENT_STATE_GLOB, SEARCH_END_FILE
from acgan_search.search import ray_adapter
from acgan_search.search.space import CATEGORICAL, INT, LOG_UNIFORM, Parameter, SearchSpace
from acgan_search.search.trainable import DIVERGED_PENALTY, TrialSettings, train_trial

logger = logging.getLogger(__name__)

EXPERIMENT_FILE = "acgan_search.json"
EXPERIMENT_FILE_VERSION = 1
DEFAULT_STORAGE = "results"
EVALUATOR_SEED = 0  # Seed of the evaluator classifier; the same in every search, so FIDs compare.

_SOFTWARE = ("acgan-search", "tensorflow", "keras", "ray", "optuna", "numpy", "scipy")


@dataclasses.dataclass(frozen=True)
class SearchRun:
    """Locations and inputs of one search.

    Attributes:
        space: The validated search space.
        storage: Storage root: an absolute local path or a bucket URI such as ``s3://bucket/x``.
        experiment_path: ``<storage>/<name>``, Ray's experiment directory.
    """

    space: SearchSpace
    storage: str
    experiment_path: str


def resolve_storage(storage: str | os.PathLike | None) -> str:
    """Return the storage root as Ray expects it: a URI unchanged, a local path made absolute.

    Raises:
        ResultsError: ``storage`` is an empty or blank string.
    """
    text = str(storage) if storage is not None else DEFAULT_STORAGE
    if not text.strip():
        raise ResultsError(
            f"The storage root is empty. Received: storage={text!r}. Pass a directory or a bucket URI "
            f"with --storage, or leave the option out to store under {DEFAULT_STORAGE}."
        )
    if "://" in text:
        return text.rstrip("/")
    return str(Path(text).expanduser().resolve())


def check_storage(run: SearchRun) -> None:
    """Raise ResultsError when the local experiment directory, or a folder above it, is a file.

    A bucket URI passes unchecked.
    """
    if "://" in run.storage:
        return
    path = Path(run.experiment_path)
    existing = next((candidate for candidate in (path, *path.parents) if candidate.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ResultsError(
            f"The search cannot be stored under {run.experiment_path} because {existing} is a file, not a "
            f"directory. Received: storage={run.storage!r}. Pass a directory (it is created when missing) "
            f"or a bucket URI with --storage, or change the name in {run.space.path}."
        )


def plan_search(space: SearchSpace, storage: str | os.PathLike | None = None) -> SearchRun:
    """Return the locations of a search over ``space`` stored under ``storage``."""
    root = resolve_storage(storage)
    return SearchRun(space=space, storage=root, experiment_path=f"{root}/{space.name}")


# -------------------------------------------------------------------- searcher and scheduler


def sample_parameters(parameters: tuple[Parameter, ...], fixed_switches: Mapping[str, bool], trial: Any) -> None:
    """Sample one trial's parameters with Optuna's define-by-run API.

    A conditional parameter is sampled only when its switch is on in this trial, so Optuna
    never records a value that the training run would ignore.

    Args:
        parameters: The search space's parameters, switches before the parameters they gate.
        fixed_switches: Values of switches held fixed in the file.
        trial: The Optuna trial (Ray passes a wrapper with the same ``suggest_*`` methods).
    """
    chosen: dict[str, Any] = {}
    for parameter in parameters:
        switch = parameter.condition
        if switch is not None and not chosen.get(switch, fixed_switches.get(switch, False)):
            continue
        if parameter.distribution == CATEGORICAL:
            value = trial.suggest_categorical(parameter.name, list(parameter.choices or ()))
        elif parameter.distribution == INT:
            value = trial.suggest_int(parameter.name, parameter.low, parameter.high, step=parameter.step, log=parameter.log)
        else:
            value = trial.suggest_float(
                parameter.name, parameter.low, parameter.high, log=parameter.distribution == LOG_UNIFORM
            )
        chosen[parameter.name] = value


def build_sampler(space: SearchSpace) -> Any:
    """Return the Optuna sampler the search space names, seeded and with its options."""
    import optuna

    from acgan_search.search.samplers import PicklableNSGAIISampler

    sampler_class = {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "nsga2": PicklableNSGAIISampler,
    }[space.sampler]
    return sampler_class(seed=space.sampler_seed, **dict(space.sampler_options))


def build_searcher(space: SearchSpace) -> Any:
    """Return an ``OptunaSearch`` over the space, single- or multi-objective.

    The objectives are set on the searcher, not on ``TuneConfig``, so ASHA can compare a single
    metric while Optuna optimises two.
    """
    fixed_switches = {name: value for name, value in space.fixed.items() if isinstance(value, bool)}
    metric: str | list[str] = list(space.metrics) if space.is_multi_objective else space.metrics[0]
    mode: str | list[str] = list(space.modes) if space.is_multi_objective else space.modes[0]
    return ray_adapter.OptunaSearch(
        space=functools.partial(sample_parameters, space.parameters, fixed_switches),
        metric=metric,
        mode=mode,
        sampler=build_sampler(space),
        study_name=space.name,
    )


def build_scheduler(space: SearchSpace) -> Any:
    """Return ASHA on the ``step`` time axis, or a FIFO scheduler when the space has none."""
    settings = space.scheduler
    if settings is None:
        return ray_adapter.FIFOScheduler()
    return ray_adapter.ASHAScheduler(
        time_attr=metric_names.STEP,
        metric=settings.metric,
        mode=settings.mode,
        max_t=space.max_steps,
        grace_period=settings.grace_period,
        reduction_factor=settings.reduction_factor,
        brackets=settings.brackets,
    )


def build_progress_reporter(space: SearchSpace) -> Any:
    """Return Ray's progress table with the step, the objectives and the searched parameters."""
    columns = [
        metric_names.STEP,
        metric_names.FID,
        metric_names.CLASS_ACCURACY,
        metric_names.CLASS_ENTROPY,
        metric_names.INTRA_FID,
        metric_names.IMAGES_PER_SECOND,
        metric_names.DIVERGED,
    ]
    ranking_metric = space.scheduler.metric if space.scheduler else space.metrics[0]
    ranking_mode = space.scheduler.mode if space.scheduler else space.modes[0]
    return ray_adapter.CLIReporter(
        metric_columns=columns,
        parameter_columns=list(space.parameter_names),
        metric=ranking_metric,
        mode=ranking_mode,
        max_report_frequency=30,
    )


def build_trainable(space: SearchSpace, dataset: Any, evaluator: Any) -> Any:
    """Return the trainable with the dataset and evaluator in the object store and its resources."""
    settings = TrialSettings(
        base_config=space.base_config().to_dict(),
        samples_per_class=space.samples_per_class,
        evaluation_seed=space.evaluation_seed,
        cpus_per_trial=space.cpus_per_trial,
    )
    resources = {"cpu": space.cpus_per_trial, "gpu": space.gpus_per_trial}
    return ray_adapter.bind_trainable(train_trial, resources, dataset=dataset, evaluator=evaluator, settings=settings)


def build_tuner(run: SearchRun, dataset: Any, evaluator: Any) -> Any:
    """Return a new ``Tuner`` for the search, not yet started."""
    space = run.space
    ray_adapter.use_classic_progress_reporter()
    tune_config = ray_adapter.TuneConfig(
        search_alg=build_searcher(space),
        scheduler=build_scheduler(space),
        num_samples=space.num_trials,
        max_concurrent_trials=space.max_concurrent_trials,
        # Keep worker processes between trials: a new process re-imports TensorFlow, which
        # costs seconds per trial on a small machine.
        reuse_actors=True,
    )
    run_config = ray_adapter.RunConfig(
        name=space.name,
        storage_path=run.storage,
        failure_config=ray_adapter.FailureConfig(max_failures=space.max_failures),
        progress_reporter=build_progress_reporter(space),
        verbose=1,
    )
    return ray_adapter.Tuner(build_trainable(space, dataset, evaluator), tune_config=tune_config, run_config=run_config)


def restore_tuner(run: SearchRun, dataset: Any, evaluator: Any) -> Any:
    """Return the interrupted search's ``Tuner``, continuing unfinished and errored trials.

    Ray restores the searcher from its saved state, which includes the Optuna study, so new
    trials are sampled with the knowledge of every trial run before the interruption.
    """
    ray_adapter.use_classic_progress_reporter()
    return ray_adapter.Tuner.restore(
        run.experiment_path,
        trainable=build_trainable(run.space, dataset, evaluator),
        resume_unfinished=True,
        resume_errored=True,
    )


# -------------------------------------------------------------------- the experiment file


def experiment_metadata(run: SearchRun, dataset: Any, evaluator: Any) -> dict[str, Any]:
    """Return the contents of ``acgan_search.json`` for a search that is starting."""
    space = run.space
    floors = real_floors(evaluator, space.samples_per_class)
    return {
        "format_version": EXPERIMENT_FILE_VERSION,
        "experiment_name": space.name,
        "experiment_path": run.experiment_path,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "search_space_file": str(space.path),
        "search_space": space.to_dict(),
        "objectives": list(space.metrics),
        "modes": list(space.modes),
        "scheduler_metric": space.scheduler.metric if space.scheduler else None,
        "budget": {"num_trials": space.num_trials, "max_steps": space.max_steps, "interval": space.interval},
        "base_config": space.base_config().to_dict(),
        "dataset": {
            "name": dataset.name,
            "source": dataset.source,
            "fingerprint": dataset.fingerprint(),
            "train_images": int(len(dataset.x_train)),
            "test_images": int(len(dataset.x_test)),
            "image_shape": list(dataset.image_shape),
            "class_names": list(dataset.class_names),
        },
        "evaluator": {
            metric_names.EVALUATOR_FINGERPRINT: evaluator.fingerprint,
            "heldout_accuracy": float(evaluator.heldout_accuracy),
            "seed": EVALUATOR_SEED,
            "samples_per_class": space.samples_per_class,
            "evaluation_seed": space.evaluation_seed,
            **floors,
        },
        "diverged_penalty": DIVERGED_PENALTY,
        "software": software_versions(),
    }


def real_floors(evaluator: Any, samples_per_class: int) -> dict[str, float]:
    """Return the real-versus-real FID and intra-class FID at the search's sample count."""
    return {name: float(value) for name, value in evaluator.real_floors(samples_per_class).items()}


def software_versions() -> dict[str, str]:
    """Return the Python version and the versions of the packages results depend on."""
    versions = {"python": platform.python_version()}
    for package in _SOFTWARE:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def write_experiment_file(experiment_path: str, metadata: Mapping[str, Any]) -> None:
    """Write ``acgan_search.json`` into the experiment directory, local or in a bucket."""
    filesystem, directory = _filesystem_and_path(experiment_path)
    filesystem.create_dir(directory, recursive=True)
    with filesystem.open_output_stream(f"{directory}/{EXPERIMENT_FILE}") as stream:
        stream.write(json.dumps(metadata, indent=2, sort_keys=False).encode("utf-8"))


def read_experiment_file(experiment_path: str) -> dict[str, Any]:
    """Read ``acgan_search.json`` from an experiment directory.

    Raises:
        ResultsError: The file is missing or is not valid JSON.
    """
    filesystem, directory = _filesystem_and_path(experiment_path)
    try:
        with filesystem.open_input_stream(f"{directory}/{EXPERIMENT_FILE}") as stream:
            return json.loads(stream.read().decode("utf-8"))
    except FileNotFoundError:
        raise ResultsError(
            f"{EXPERIMENT_FILE} not found in {experiment_path}, so acgan_search.run did not start a search there. "
            f"Pass the directory <storage>/<name> of a search."
        ) from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{experiment_path}/{EXPERIMENT_FILE} is not valid JSON: {error}") from None


def write_search_end(experiment_path: str) -> None:
    """Record in ``SEARCH_END_FILE`` that the search ended, naming Ray's newest experiment state."""
    import pyarrow.fs

    filesystem, directory = _filesystem_and_path(experiment_path)
    infos = filesystem.get_file_info(pyarrow.fs.FileSelector(directory))
    states = sorted(info.base_name for info in infos if fnmatch.fnmatch(info.base_name, EXPERIMENT_STATE_GLOB))
    marker = {
        "ended_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "experiment_state": states[-1] if states else None,
    }
    with filesystem.open_output_stream(f"{directory}/{SEARCH_END_FILE}") as stream:
        stream.write(json.dumps(marker, indent=2).encode("utf-8"))


def remove_search_end(experiment_path: str) -> None:
    """Delete ``SEARCH_END_FILE`` before a resumed search starts, so its trials read as running."""
    filesystem, directory = _filesystem_and_path(experiment_path)
    try:
        filesystem.delete_file(f"{directory}/{SEARCH_END_FILE}")
    except FileNotFoundError:
        pass


def _filesystem_and_path(uri: str) -> tuple[Any, str]:
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(uri)


# -------------------------------------------------------------------- running


def run_search(
    space: SearchSpace,
    *,
    storage: str | os.PathLike | None = None,
    address: str | None = None,
    resume: bool = False,
    num_cpus: int | None = None,
) -> tuple[SearchRun, Any]:
    """Run a search to the end, or continue an interrupted one, and return its results.

    Ray is started embedded (with ``num_cpus`` CPUs, default all) unless this process is already
    connected to Ray or ``address`` names a running cluster. An embedded instance is stopped
    before returning.

    Args:
        space: The validated search space.
        storage: Storage root; a local path or a bucket URI every node reaches. Default
            ``results`` in the working directory.
        address: Address of a running Ray cluster, e.g. ``auto`` or ``ray://head:10001``.
        resume: Continue the search stored at ``<storage>/<name>`` instead of starting one.
        num_cpus: CPUs of an embedded Ray instance.

    Returns:
        The search's locations and Ray's ``ResultGrid``.

    Raises:
        ResultsError: The local storage path is a file, ``resume`` is set and no search is
            stored there, or it is not set and a search is stored there already, or the stored
            search used another search space or evaluator.
    """
    from acgan_search.data import load_dataset
    from acgan_search.evaluation import Evaluator

    run = plan_search(space, storage)
    check_storage(run)
    exists = ray_adapter.can_restore(run.experiment_path)
    if resume and not exists:
        raise ResultsError(
            f"No search to resume at {run.experiment_path}. Start it without --resume, or pass the "
            f"--storage it was started with."
        )
    if not resume and exists:
        raise ResultsError(
            f"A search is already stored at {run.experiment_path}. Continue it with --resume, or change "
            f"the name in {space.path} or the --storage path."
        )
    if resume:
        _check_same_search_space(run)

    # Load the data and the evaluator, and check the sample count against them, before Ray
    # starts, so an invalid file never starts a trial.
    dataset = load_dataset(space.base_config())
    evaluator = Evaluator.for_dataset(dataset, seed=EVALUATOR_SEED)
    try:
        evaluator.real_floors(space.samples_per_class)
    except EvaluationError as error:
        raise SearchSpaceError(
            f"{space.path}: evaluation.samples_per_class={space.samples_per_class} does not fit dataset "
            f"{dataset.name!r}: {error}"
        ) from None

    started_ray = not ray_adapter.is_ray_initialized()
    if started_ray:
        ray_adapter.init_ray(address, num_cpus=num_cpus)
    try:
        if resume:
            _check_same_evaluator(run, evaluator)
            logger.info("Resuming search %s from %s", space.name, run.experiment_path)
            remove_search_end(run.experiment_path)
            tuner = restore_tuner(run, dataset, evaluator)
        else:
            write_experiment_file(run.experiment_path, experiment_metadata(run, dataset, evaluator))
            logger.info(
                "Starting search %s: %d trials, %s, results in %s",
                space.name, space.num_trials, ", ".join(f"{m} ({o})" for m, o in zip(space.metrics, space.modes)),
                run.experiment_path,
            )
            tuner = build_tuner(run, dataset, evaluator)
        try:
            grid = tuner.fit()
        except KeyboardInterrupt:
            # A second Ctrl-C stops Tuner.fit before it returns. Mark the end anyway, so the
            # report calls the unfinished trials interrupted instead of running.
            with contextlib.suppress(OSError):
                write_search_end(run.experiment_path)
            raise
        # Tuner.fit also returns after one Ctrl-C, once Ray has saved the experiment state.
        write_search_end(run.experiment_path)
    finally:
        if started_ray:
            ray_adapter.shutdown_ray()
    return run, grid


def _check_same_search_space(run: SearchRun) -> None:
    stored = read_experiment_file(run.experiment_path)["search_space"]
    current = json.loads(json.dumps(run.space.to_dict()))
    if stored != current:
        changed = sorted(key for key in set(stored) | set(current) if stored.get(key) != current.get(key))
        raise ResultsError(
            f"{run.space.path} differs from the search space stored in {run.experiment_path}/{EXPERIMENT_FILE} "
            f"in the sections: {', '.join(changed)}. A resumed search must use the file it started with; "
            f"restore that file, or start a new search under another name."
        )


def _check_same_evaluator(run: SearchRun, evaluator: Any) -> None:
    stored = read_experiment_file(run.experiment_path)["evaluator"][metric_names.EVALUATOR_FINGERPRINT]
    if stored != evaluator.fingerprint:
        raise ResultsError(
            f"The evaluator classifier changed since the search at {run.experiment_path} started, so new "
            f"metrics would not compare with stored ones. Received: stored fingerprint={stored}, "
            f"current fingerprint={evaluator.fingerprint}. Restore the evaluator cache or start a new search."
        )
