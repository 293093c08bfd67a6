"""taskctl: run Python scripts on schedules from a YAML workspace kept in git."""

__version__ = "0.1.0"

# Environment variables taskctl set for its own process only (see cli.main); the threads it runs get the
# environment without them.
OWN_ENV: set[str] = set()


# The last answer of `inherited_env`, with the encoded environment and OWN_ENV it was made from: a daemon asks
# for every thread it starts, and decoding the whole environment each time was a noticeable part of a start.
_inherited: tuple[dict[bytes, bytes], frozenset[str], dict[str, str]] | None = None


def inherited_env() -> dict[str, str]:
    """The environment a child process should inherit: ours, less what taskctl set for itself."""
    import os

    global _inherited
    raw = getattr(os.environ, "_data", None)  # CPython: the encoded variables, compared in one C call
    cached = _inherited
    if cached is not None and cached[0] == raw and cached[1] == OWN_ENV:
        return dict(cached[2])
    env = {key: value for key, value in os.environ.items() if key not in OWN_ENV}
    if isinstance(raw, dict):
        _inherited = (dict(raw), frozenset(OWN_ENV), env)
    return dict(env)
