"""taskctl: run Python scripts on schedules from a YAML workspace kept in git."""

__version__ = "0.1.0"
