"""Is this payload really the file it claims to be? Every export (CLI, download button,
report) is checked here before it is written or sent: magic bytes, then a parse of the
format's structure. A renderer that returns something else (Chromium hands back 3 bytes
for a PNG taller than its canvas limit) raises InvalidExportError, never a file.

    check_payload("png", payload)  # None, or InvalidExportError saying what is wrong
"""

from __future__ import annotations

import csv
import io
import re
import struct
import zlib
from html.parser import HTMLParser
from xml.etree import ElementTree

from dashboard.errors import InvalidExportError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PDF_PAGE = re.compile(rb"/Type\s*/Page\b")
_PDF_XREF_AT = re.compile(rb"\s*(xref|\d+\s+\d+\s+obj)")


def check_payload(fmt: str, payload: bytes) -> None:
    """Raise InvalidExportError unless `payload` is a well-formed `fmt` file."""
    if not payload:
        raise InvalidExportError(f"the {fmt.upper()} is empty (0 bytes)")
    checks = {"png": _png, "svg": _svg, "pdf": _pdf, "html": _html, "csv": _csv}
    if fmt not in checks:
        raise InvalidExportError(f"no check for format {fmt!r}")
    problem = checks[fmt](payload)
    if problem:
        raise InvalidExportError(
            f"the {fmt.upper()} ({len(payload):,} bytes) is not valid: {problem}"
        )


def _png(payload: bytes) -> str | None:
    """Signature, IHDR first with a non-zero size, each chunk's CRC, image data that
    inflates to its end, IEND last."""
    if not payload.startswith(PNG_SIGNATURE):
        return f"no PNG signature (starts {payload[:8]!r})"
    at, chunks, inflate = len(PNG_SIGNATURE), [], zlib.decompressobj()
    while at + 12 <= len(payload):
        (length,) = struct.unpack(">I", payload[at : at + 4])
        kind, data = payload[at + 4 : at + 8], payload[at + 8 : at + 8 + length]
        if len(data) != length or at + 12 + length > len(payload):
            return f"chunk {kind!r} is cut short"
        (crc,) = struct.unpack(">I", payload[at + 8 + length : at + 12 + length])
        if zlib.crc32(kind + data) != crc:
            return f"chunk {kind!r} fails its CRC"
        if kind == b"IDAT":
            try:
                while data:  # inflate in bounded steps: a tall image need not fit in memory
                    inflate.decompress(data, 1 << 20)
                    data = inflate.unconsumed_tail
            except zlib.error as error:
                return f"image data does not inflate ({error})"
        chunks.append(kind)
        at += 12 + length
    return _png_structure(chunks, payload, inflate.eof)


def _png_structure(chunks: list[bytes], payload: bytes, inflated: bool) -> str | None:
    if not chunks or chunks[0] != b"IHDR":
        return "no IHDR chunk first"
    width, height = struct.unpack(">II", payload[16:24])
    if not width or not height:
        return f"image size {width}x{height}"
    if b"IDAT" not in chunks or not inflated:
        return "image data missing or incomplete"
    if chunks[-1] != b"IEND":
        return "no IEND chunk at the end"
    return None


def _svg(payload: bytes) -> str | None:
    """An XML document whose root is <svg> with something drawn in it."""
    head = payload.lstrip()[:256]
    if not (head.startswith(b"<svg") or head.startswith(b"<?xml")):
        return f"does not start with <svg or <?xml (starts {payload[:16]!r})"
    try:
        root = ElementTree.fromstring(payload)
    except ElementTree.ParseError as error:
        return f"not well-formed XML ({error})"
    if root.tag.rsplit("}", 1)[-1] != "svg":
        return f"root element is <{root.tag}>, not <svg>"
    if len(root) == 0:
        return "the <svg> element is empty"
    return None


def _pdf(payload: bytes) -> str | None:
    """Header, at least one page, a cross-reference that startxref points at, %%EOF."""
    if not payload.startswith(b"%PDF-"):
        return f"no %PDF- header (starts {payload[:8]!r})"
    tail = payload[-1024:]
    if b"%%EOF" not in tail:
        return "no %%EOF marker at the end (truncated?)"
    found = re.search(rb"startxref\s+(\d+)", tail)
    if found is None:
        return "no startxref"
    offset = int(found.group(1))
    if offset >= len(payload) or not _PDF_XREF_AT.match(payload, offset):
        return f"startxref {offset} does not point at a cross-reference"
    if not _PDF_PAGE.search(payload):
        return "no page"
    return None


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.opened: list[str] = []
        self.closed: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.opened.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.closed.append(tag)


def _html(payload: bytes) -> str | None:
    """UTF-8, a doctype, and <html>, <head> and <body> opened and closed."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not UTF-8 ({error})"
    if not text.lstrip()[:15].lower().startswith("<!doctype html"):
        return "no <!DOCTYPE html> at the start"
    tags = _Tags()
    tags.feed(text)
    tags.close()
    missing = [t for t in ("html", "head", "body") if t not in tags.opened or t not in tags.closed]
    if missing:
        return "no complete " + ", ".join(f"<{t}>" for t in missing)
    return None


def _csv(payload: bytes) -> str | None:
    """UTF-8; after the leading '# ' comment lines, a header and rows of its width."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not UTF-8 ({error})"
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
    except csv.Error as error:
        return f"does not parse as CSV ({error})"
    if not rows or not any(rows[0]):
        return "no header row"
    width = len(rows[0])
    ragged = next((n for n, row in enumerate(rows[1:], start=2) if len(row) != width), None)
    if ragged is not None:
        return f"row {ragged} has {len(rows[ragged - 1])} fields, the header {width}"
    return None
