"""Converting sources into plain input files: through a mapping file's adapter or column
mapping (etl/mapping.py), for `uptake ingest --adapter/--mapping` and for inbox folders
that hold a `_mapping.toml`. A source that cannot be converted is rejected with its reason;
the others go on."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from etl.adapters import converter, reads_folders_whole
from etl.adapters.mapped import convert_mapped
from etl.errors import InputError
from etl.ingest import FileOutcome, IngestOptions
from etl.mapping import MappingSpec, mapping_for_file
from etl.sources import content_hash, empty_file_reason, input_files

log = logging.getLogger(__name__)


def convert_with_mapping(
    source: Path, out_dir: Path, spec: MappingSpec, platform: str | None = None
) -> list[Path]:
    """Plain signups/events Parquet files for one source file (or dump folder): through the
    mapping's adapter when it names one, else the generic column mapping with its
    signup/deletion event split. `platform` (a flag) wins over the mapping's constant."""
    if spec.adapter:
        return converter(spec.adapter)(source, out_dir, platform, spec)
    return convert_mapped(source, out_dir, platform, spec)


def prepare_inputs(
    paths: Sequence[Path],
    options: IngestOptions,
    spec: MappingSpec | None,
    scratch: Path,
) -> tuple[Conversion, IngestOptions]:
    """The files to ingest, with the sources they were converted from, and the options to
    ingest them with, for `uptake ingest` (with `--adapter` and/or `--mapping`, each source
    file is converted on its own: one that cannot be is rejected, the others go on). Flags
    in `options` win over the mapping file."""
    adapter = options.adapter or (spec.adapter if spec else None)
    if spec is None and adapter is None:
        return Conversion(files=input_files(paths)), options
    if spec is not None and not spec.needs_conversion and adapter is None:
        mapped = spec.ingest_options(options.platform, _flag_timezone(options))
        plain = Conversion(files=input_files(paths))
        return plain, replace(
            mapped,
            mapping={**mapped.mapping, **options.mapping},
            replace=options.replace,
            signups=options.signups or mapped.signups,
        )
    sources = _export_sources(paths, adapter)
    if spec is None:
        assert adapter is not None
        convert = converter(adapter)
        return convert_each(sources, lambda p: convert(p, scratch, options.platform)), options
    spec = replace(spec, adapter=adapter, timezone=_flag_timezone(options) or spec.timezone)
    mapped_files = convert_each(
        sources,
        partial(convert_with_mapping, out_dir=scratch, spec=spec, platform=options.platform),
    )
    # Converted files hold Uptake's columns with UTC times: nothing left to map.
    return mapped_files, IngestOptions(
        platform=options.platform or spec.platform,
        replace=options.replace,
        signups=options.signups or spec.signups,
    )


def _export_sources(paths: Sequence[Path], adapter: str | None) -> list[Path]:
    """The sources to convert one by one: each file under the given folders, except for an
    adapter that reads a folder as one export (a Stack Exchange dump)."""
    if adapter is not None and reads_folders_whole(adapter):
        return list(paths)
    return input_files(paths)


def _flag_timezone(options: IngestOptions) -> str | None:
    # IngestOptions cannot tell "--tz UTC" from no flag; UTC defers to the mapping's zone.
    return options.source_timezone if options.source_timezone != "UTC" else None


@dataclass
class Conversion:
    """The files one pass ingests, and the source files that were converted into them (an
    inbox's files under a `_mapping.toml`, or the paths of `uptake ingest --adapter`)."""

    files: list[Path] = field(default_factory=list)  # what the pass ingests
    origins: dict[Path, Path] = field(default_factory=dict)  # converted file -> source
    rejected: dict[Path, str] = field(default_factory=dict)  # source -> why it failed
    empty: list[Path] = field(default_factory=list)  # converted into no rows

    def convert(self, source: Path, convert_one: Callable[[Path], list[Path]]) -> None:
        """Convert one source; one that is empty or cannot be converted is rejected with
        the reason (a bad file must not hold back the others)."""
        try:
            empty = None if source.is_dir() else empty_file_reason(source)
            if empty:
                raise InputError(empty)
            converted = convert_one(source)
        except InputError as exc:
            log.info("%s cannot be converted: %s", source, exc)
            self.rejected[source] = str(exc)
            return
        if not converted:
            self.empty.append(source)
        self.files.extend(converted)
        self.origins.update(dict.fromkeys(converted, source))

    def source_outcomes(self) -> list[FileOutcome]:
        """Ledger rows of the sources that gave no file to ingest: a rejected one with its
        reason; one without rows (a header only) loaded, with 0 rows, as the plain path
        records such a file."""
        rejected = [
            FileOutcome(path=p, outcome="rejected", reason=r) for p, r in self.rejected.items()
        ]
        empty = [
            FileOutcome(path=p, content_hash=content_hash(p), size_bytes=p.stat().st_size)
            for p in self.empty
            if p.is_file()
        ]
        return rejected + empty

    def inbox_outcomes(self, outcomes: Sequence[FileOutcome]) -> list[FileOutcome]:
        """The pass's outcomes addressed to inbox files, for `move_processed`: an inbox
        file that was converted is rejected when its conversion or any converted file was
        rejected, else archived; unconverted files keep their own outcome."""
        by_origin: dict[Path, list[FileOutcome]] = {}
        direct = []
        for outcome in outcomes:
            origin = self.origins.get(outcome.path)
            if origin is None:
                direct.append(outcome)
            else:
                by_origin.setdefault(origin, []).append(outcome)
        moved = [_merged(origin, parts) for origin, parts in by_origin.items()]
        listed = {o.path for o in direct}
        sources = [o for o in self.source_outcomes() if o.path not in listed]
        return direct + moved + sources


def convert_each(sources: Sequence[Path], convert_one: Callable[[Path], list[Path]]) -> Conversion:
    batch = Conversion()
    for source in sources:
        batch.convert(source, convert_one)
    return batch


def _merged(origin: Path, parts: Sequence[FileOutcome]) -> FileOutcome:
    bad = [p for p in parts if p.outcome == "rejected"]
    if bad:
        return FileOutcome(path=origin, outcome="rejected", reason=bad[0].reason)
    return FileOutcome(path=origin, outcome="loaded")


def convert_inbox(paths: Sequence[Path], inbox: Path, scratch: Path) -> Conversion:
    """Apply each folder's `_mapping.toml` to the inbox files under it: mapped files are
    always converted (so one pass can mix sources under one set of ingest options), the
    others pass through. A file that cannot be converted is rejected, the rest go on; an
    invalid mapping file raises ConfigError (fix it; its files wait in the inbox)."""
    batch = Conversion()
    for path in paths:
        spec = mapping_for_file(path, inbox)
        if spec is None:
            batch.files.append(path)
            continue
        target = scratch / f"inbox-{spec.fingerprint()}"
        batch.convert(path, partial(convert_with_mapping, out_dir=target, spec=spec))
    return batch
