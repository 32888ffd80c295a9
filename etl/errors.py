"""The exception tree of the ETL. Every error says what was received, what was expected,
and what to do next; the CLI turns each into a one-line message and an exit code."""

from __future__ import annotations


class UptakeError(Exception):
    """Root of every error Uptake raises on purpose."""

    exit_code = 4


class ConfigError(UptakeError):
    """A setting, flag or mapping is invalid (exit code 2)."""

    exit_code = 2


class UsageError(UptakeError):
    """The command was called wrongly, e.g. a path that does not exist (exit code 2)."""

    exit_code = 2


class InputError(UptakeError):
    """An input file cannot be used as a whole (missing columns, unreadable bytes).

    The ingestion records it in the file ledger and moves the file to `rejected/`;
    it only reaches the CLI when a single file was asked for directly."""

    exit_code = 1


class LockedError(UptakeError):
    """Another process holds the warehouse lock (exit code 3)."""

    exit_code = 3


class WarehouseError(UptakeError):
    """The warehouse is missing, damaged or of an unknown schema version (exit code 4)."""

    exit_code = 4


class SnapshotError(UptakeError):
    """No serving snapshot is published yet, or it is unreadable (exit code 2)."""

    exit_code = 2
