"""Exception tree of acgan_search.

Every error the package raises for bad user input derives from ``ACGANSearchError``, so the
command-line entry points can turn it into a one-line message and a non-zero exit status.
"""


class ACGANSearchError(Exception):
    """Root of every error raised by acgan_search for invalid input or state."""


class ConfigError(ACGANSearchError, ValueError):
    """Invalid training configuration: unknown key, wrong type or value out of range."""


class DataError(ACGANSearchError):
    """A dataset could not be loaded: missing, truncated or unreadable files."""


class CheckpointError(ACGANSearchError):
    """A checkpoint is missing, incomplete or does not match the configuration."""


class EvaluationError(ACGANSearchError, ValueError):
    """Evaluation inputs are invalid (too few samples, NaN images, wrong shapes)."""


class SearchSpaceError(ACGANSearchError, ValueError):
    """A search-space YAML file is invalid."""


class ResultsError(ACGANSearchError):
    """Search results are missing, incomplete or cannot be written without loss."""


class OptionError(ACGANSearchError, ValueError):
    """A command-line option has a value outside its allowed range."""
