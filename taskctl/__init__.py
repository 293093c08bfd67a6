"""taskctl: run Python scripts on schedules from a YAML workspace kept in git."""

__version__ = "0.1.0"

# Environment variables taskctl set for its own process only (see cli.main); the threads it runs get the
# environment without them.
OWN_ENV: set[str] = set()


def inherited_env() -> dict[str, str]:
    """The environment a child process should inherit: ours, less what taskctl set for itself."""
    import os

    return {key: value for key, value in os.environ.items() if key not in OWN_ENV}
