"""The file formats, fed a batch of rows at a time and handing back bytes as they are ready.

CSV: UTF-8 (no byte-order mark), ``,``-separated, RFC 4180 quoting, ``\\r\\n`` line ends; each batch
becomes one chunk of the response as soon as it is read.

XLSX: openpyxl's write-only workbook streams the rows to a temporary file on disk (memory stays at
one batch); an XLSX file is a zip whose directory comes last, so it is only complete when every row
is in — then the file is sent in 64 KiB chunks and removed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from typing import Any

from kith.exports.model import Format, row_values, text_cell, xlsx_cell

Rows = AsyncIterator[list[dict[str, Any]]]
CHUNK = 64 * 1024


def render(fmt: Format, builtin: Sequence[str], custom: Sequence[str], rows: Rows) -> AsyncIterator[bytes]:
    if fmt is Format.XLSX:
        return xlsx_chunks(builtin, custom, rows)
    return csv_chunks(builtin, custom, rows)


async def csv_chunks(builtin: Sequence[str], custom: Sequence[str], rows: Rows) -> AsyncIterator[bytes]:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow([text_cell(h) for h in (*builtin, *custom)])
    async for batch in rows:
        out.writerows([text_cell(v) for v in row_values(r, builtin, custom)] for r in batch)
        yield buf.getvalue().encode()
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode()


async def xlsx_chunks(builtin: Sequence[str], custom: Sequence[str], rows: Rows) -> AsyncIterator[bytes]:
    from openpyxl import Workbook  # only XLSX exports pay for importing it

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("export")
    ws.append([xlsx_cell(h) for h in (*builtin, *custom)])
    fd, path = tempfile.mkstemp(prefix="kith-export-", suffix=".xlsx")
    os.close(fd)
    try:
        async for batch in rows:
            for r in batch:
                ws.append([xlsx_cell(v) for v in row_values(r, builtin, custom)])
        await asyncio.to_thread(wb.save, path)  # zips the sheet: seconds for a large file
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    finally:
        os.unlink(path)
