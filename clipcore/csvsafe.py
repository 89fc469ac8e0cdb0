"""CSV cells that a spreadsheet will not run as formulas (OWASP "CSV injection").

A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
written with a leading ``'`` so Excel, LibreOffice and Google Sheets show it as text
(``=HYPERLINK(...)`` from a folder name, ``@SUM(A1:A9)`` from an annotator name).
Numbers (``int``/``float`` values) are written unchanged: only strings are prefixed.
:func:`restore` undoes the prefix exactly, so export -> import round-trips every string.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Mapping, Sequence

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _needs_prefix(text: str) -> bool:
    # A string that already starts with "'" before a trigger gets one more "'", so that
    # restore() can tell an added prefix from a quote the user typed.
    while text.startswith("'"):
        text = text[1:]
        if text[:1] in TRIGGERS:
            return True
        if not text.startswith("'"):
            return False
    return text[:1] in TRIGGERS


def neutralise(value: Any) -> Any:
    """``value`` safe for a CSV cell: strings that a spreadsheet would evaluate get a
    leading ``'``; every other value (numbers, None) is returned unchanged."""
    if isinstance(value, str) and value and _needs_prefix(value):
        return "'" + value
    return value


def restore(value: str) -> str:
    """Undo :func:`neutralise` on a cell read back from CSV (a string)."""
    if value.startswith("'") and _needs_prefix(value[1:]):
        return value[1:]
    return value


def dict_rows_csv(fieldnames: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV text (header row, ``\\n`` line ends) of ``rows`` with every cell, header
    included, neutralised; keys not in ``fieldnames`` are ignored, missing ones empty."""
    names = list(fieldnames)
    return rows_csv(names, ([row.get(k, "") for k in names] for row in rows))


def rows_csv(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text of a header and list rows, every cell neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([neutralise(v) for v in header])
    writer.writerows([neutralise(v) for v in row] for row in rows)
    return buf.getvalue()
