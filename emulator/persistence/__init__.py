"""Durable state for ``--data-dir``: see ``durable.py`` for what is kept and when, ``restore.py`` for how a
start reads the folder back, and ``records.py`` for the lines of its files."""

from emulator.persistence.durable import DurableState, StorageRefused
from emulator.persistence.files import StorageError
from emulator.persistence.restore import LOG_NAME, SNAPSHOT, PersistenceError, log_name

__all__ = ["LOG_NAME", "SNAPSHOT", "DurableState", "PersistenceError", "StorageError", "StorageRefused", "log_name"]
