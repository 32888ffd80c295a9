"""Reusing a platform's fits when their input has not changed.

A fit is a pure function of its input: the platform's series (its complete buckets), the
milestones ahead of its current total, the seed, and the code and libraries that compute
it. `fit_key` hashes all of these, so a pass whose new rows leave a platform's complete
buckets as they were (events only, or signups inside the bucket not yet complete) can take
its fits and forecasts from the last pass: the same bits a refit would give, without the
seconds of refitting. Where the stored tables live is the caller's (`FitCache`)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import scipy

from etl import contract
from etl.fits.engine import next_milestones
from etl.fits.series import FitSeries

# Only picks the milestones ahead (hashed as such): a signup inside the incomplete bucket
# moves it without changing the fit.
_NOT_HASHED = frozenset({"current_total"})


class FitCache(Protocol):
    """Stored (fits, forecasts) tables of one platform, under the key of their input."""

    def get(self, platform: str, key: str) -> tuple[pa.Table, pa.Table] | None: ...

    def put(self, platform: str, key: str, tables: tuple[pa.Table, pa.Table]) -> None: ...


def fit_key(series: FitSeries, milestones: Sequence[int], seed: int) -> str:
    """A hash of everything a platform's fits depend on (see the module's docstring)."""
    digest = hashlib.sha256(code_fingerprint().encode())
    for field in fields(series):
        if field.name in _NOT_HASHED:
            continue
        value = getattr(series, field.name)
        digest.update(field.name.encode())
        if isinstance(value, np.ndarray):
            digest.update(repr((value.dtype.str, value.shape)).encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        else:
            digest.update(repr(value).encode())
    ahead = next_milestones(series.current_total, milestones)
    digest.update(repr((ahead, seed)).encode())
    return digest.hexdigest()


@cache
def code_fingerprint() -> str:
    """The fits' source files, the snapshot contract they write and the numeric libraries'
    versions: a change to any of them makes every stored fit stale."""
    digest = hashlib.sha256(repr((sys.version, np.__version__, scipy.__version__)).encode())
    sources = sorted(Path(__file__).parent.glob("*.py"))
    for path in [*sources, Path(contract.__file__)]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def to_ipc(table: pa.Table) -> bytes:
    """A table as Arrow IPC stream bytes (its schema, types and bits kept)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all()
