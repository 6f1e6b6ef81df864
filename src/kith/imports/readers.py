"""File readers: CSV (encoding and delimiter detected) and XLSX, streamed row by row.

Invariants:
- Memory is bounded by one row (plus the decoder's and zip reader's buffers): files are never
  loaded whole. A 1M-row file streams.
- Cells are text (CSV) or the value openpyxl stored (XLSX). Formulas are never evaluated: a CSV
  cell ``=1+2`` is the text ``=1+2``; an XLSX formula cell is read as its formula text.
- Problems with the file as a whole (empty, not text, damaged XLSX, no header) raise
  ``FileProblem`` with a message for a person; a row that cannot be parsed (a cell over the
  size limit) is yielded as a ``BadRow`` and the reader goes on with the next one.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# A cell longer than this is refused as a row error (a huge row must not exhaust memory).
MAX_CELL_CHARS = 1_000_000
SAMPLE_BYTES = 64 * 1024
_DELIMITERS = (",", ";", "\t", "|")
_XLSX_MAGIC = b"PK\x03\x04"


class FileProblem(Exception):
    """The file as a whole cannot be read; the message says why."""


@dataclass(frozen=True)
class BadRow:
    row: int
    message: str


Row = tuple[int, list[Any]]  # (spreadsheet row number: the header is row 1, data from row 2), cells


def sniff_format(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        raise FileProblem("the file is empty (0 bytes)")
    return "xlsx" if head.startswith(_XLSX_MAGIC) else "csv"


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as UTF-8; UTF-16 when it has a
    UTF-16 BOM; else Windows-1252 (a superset of Latin-1's printable range), what spreadsheet
    programs write on Western-European Windows. Binary content (NUL bytes) is refused."""
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
        if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        if b"\x00" in sample:
            raise FileProblem("the file is not text: it holds binary data (NUL bytes); save it as CSV "
                              "(UTF-8) or XLSX")
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252" if _decodes(path, "cp1252") else "latin-1"
    return "utf-8-sig"


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as fh:
        try:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
        except UnicodeDecodeError:
            return False
    return True


def detect_delimiter(first_line: str) -> str:
    """The candidate occurring most often in the header line outside quotes (comma on a tie)."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_text(path: Path, encoding: str | None) -> IO[str]:
    enc = encoding or detect_encoding(path)
    try:
        codecs.lookup(enc)
    except LookupError:
        raise FileProblem(f"unknown encoding {enc!r}") from None
    return path.open("r", encoding=enc, newline="", errors="strict")


def csv_rows(path: Path, *, encoding: str | None = None, delimiter: str | None = None
             ) -> Iterator[Row | BadRow]:
    """The header (row 1) then each data row, streamed."""
    try:
        fh = _open_text(path, encoding)
        with fh:
            first = fh.readline()
            if not first.strip():
                raise FileProblem("the file has no header row: the first line names the columns")
            delim = delimiter or detect_delimiter(first)
            fh.seek(0)
            reader = csv.reader(_limited(fh), delimiter=delim)
            number = 0
            while True:
                number += 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield BadRow(number, f"cannot parse the row: {exc}")
                    continue
                if cells == [_HUGE]:
                    yield BadRow(number, f"the row is longer than {MAX_CELL_CHARS:,} characters")
                    continue
                if not any(c.strip() for c in cells) and number > 1:
                    continue  # blank lines are not rows
                yield number, cells
    except UnicodeDecodeError as exc:
        raise FileProblem(f"the file is not valid {encoding or 'text'} (byte {exc.start}): "
                          "save it as UTF-8 or pass its encoding") from None


_HUGE = "\x00kith: huge row\x00"  # what the line guard puts in place of an over-long line


def _limited(fh: IO[str]) -> Iterator[str]:
    """Lines of ``fh``, refusing any longer than the cell limit without holding more of it."""
    while True:
        line = fh.readline(MAX_CELL_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_CELL_CHARS and not line.endswith("\n"):
            while (rest := fh.readline(MAX_CELL_CHARS)) and not rest.endswith("\n"):
                pass
            yield _HUGE + "\n"
            continue
        yield line


def xlsx_rows(path: Path) -> Iterator[Row | BadRow]:
    """The first worksheet's rows, read-only (streamed from the zip), formulas as their text."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    fh = path.open("rb")  # a file object: openpyxl checks a path's extension, and uploads have none
    try:
        wb = openpyxl.load_workbook(fh, read_only=True, data_only=False)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        fh.close()
        raise FileProblem(f"the XLSX file is damaged or truncated ({type(exc).__name__}); save it again") from None
    try:
        ws = wb.worksheets[0] if wb.worksheets else None
        if ws is None:
            raise FileProblem("the workbook has no worksheet")
        try:
            for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                cells = ["" if v is None else v for v in values]
                while cells and cells[-1] == "":
                    cells.pop()
                if not cells and number > 1:
                    continue
                yield number, cells
        except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as exc:
            raise FileProblem(f"the XLSX file is damaged or truncated ({type(exc).__name__}); "
                              "save it again") from None
    finally:
        wb.close()
        fh.close()


def rows(path: Path, *, encoding: str | None = None, delimiter: str | None = None
         ) -> Iterator[Row | BadRow]:
    if sniff_format(path) == "xlsx":
        return xlsx_rows(path)
    return csv_rows(path, encoding=encoding, delimiter=delimiter)


def read_header(path: Path, **kw: Any) -> tuple[list[str], Iterator[Row | BadRow]]:
    """The header's column names and the iterator positioned at the first data row."""
    it = rows(path, **kw)
    first = next(it, None)
    if first is None:
        raise FileProblem("the file is empty: no header row")
    if isinstance(first, BadRow):
        raise FileProblem(f"the header row cannot be read: {first.message}")
    header = [str(c).strip() for c in first[1]]
    if not any(header):
        raise FileProblem("the header row is empty: the first row names the columns")
    return header, it


def to_csv(rows_: list[list[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows_)
    return buf.getvalue()
