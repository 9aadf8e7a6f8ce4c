"""Reading and writing table files: CSV (any common encoding), Excel, Parquet.

One reader for every table the toolkit takes from a user (registers, returns
files, threshold tables, firm lists): :func:`read_table`. It

* reads CSV in UTF-8, UTF-8 with a byte-order mark (Excel's "CSV UTF-8"),
  UTF-16 with a byte-order mark, or GB18030 (which includes GBK and GB2312,
  the encodings of Chinese Windows), detected in that order, or in the
  encoding you give; when a file cannot be decoded the message says where,
  which encoding the bytes do fit, and how to convert the file;
* rejects a CSV file whose last record was cut short (the file does not end
  with a line break and its last record is incomplete) or whose records
  have a different number of fields than the header, naming the line: a
  cut file is never loaded with a wrong last value;
* reads the header raw: duplicate and empty column names are errors (not
  renamed to ``x.1`` or ``Unnamed: 4``);
* reads Excel workbooks (``.xlsx``/``.xlsm``, with openpyxl) and says so
  when a file named ``.xlsx`` is no workbook (a CSV or an old ``.xls``
  renamed);
* reads Parquet files.

And one writer, :func:`write_table`, with the two helpers every CSV and
Excel writer of the toolkit uses against spreadsheet formula injection
(OWASP "CSV injection"): :func:`protect_formulas` prefixes a text cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return with an
apostrophe in CSV output, and :func:`protect_workbook` stores a workbook's
text cells that start with ``=`` as text, never as formulas.

Every failure is a :class:`~survey.errors.TableError` naming the file and,
where it applies, the line and the column.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from survey.csvtext import csv_text
from survey.errors import TableError

__all__ = [
    "TABLE_SUFFIXES", "decode_text", "group_codes", "joined_labels", "member", "protect_formulas",
    "protect_workbook", "read_header", "read_table", "stream_encoding", "text_cell", "utf8_copy",
    "write_table", "write_workbook",
]

#: File suffixes :func:`read_table` reads.
TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".txt", ".xlsx", ".xlsm", ".parquet")

_CSV = (".csv", ".txt")
_EXCEL = (".xlsx", ".xlsm")
_AUTO = ("utf-8", "gb18030")
_CONVERT = ("convert the file to UTF-8 (e.g. `iconv -f {enc} -t UTF-8 {name} > {stem}-utf8.csv`, "
            "or in Excel: Save As > 'CSV UTF-8')")


# --------------------------------------------------------------------------- decoding
def _line_of(raw: bytes, position: int) -> int:
    return raw.count(b"\n", 0, position) + 1


def _try(raw: bytes, encoding: str) -> tuple[str | None, UnicodeDecodeError | None]:
    try:
        return raw.decode(encoding), None
    except UnicodeDecodeError as exc:
        return None, exc


def decode_text(raw: bytes, *, encoding: str | None = None, name: str = "the file") -> tuple[str, str]:
    """Decode the bytes of a text file; return the text and the encoding used.

    Without ``encoding``: a UTF-8 byte-order mark means UTF-8, a UTF-16
    byte-order mark UTF-16; otherwise UTF-8 is tried, then GB18030 (a
    superset of GBK and GB2312).

    Parameters
    ----------
    raw : bytes
    encoding : str or None, default=None
        Decode with this encoding only (e.g. ``"gbk"``, ``"big5"``).
    name : str, default="the file"
        Name of the file in messages.

    Returns
    -------
    (str, str)
        The text (without a byte-order mark) and the encoding's name
        (``"utf-8"``, ``"utf-8-sig"``, ``"utf-16"``, ``"gb18030"`` or the one
        given).

    Raises
    ------
    TableError
        The bytes do not decode; the message gives the line, the encoding
        the bytes do fit (if any) and how to convert the file.

    Examples
    --------
    >>> decode_text("城市,产值\\n".encode("gbk"))
    ('城市,产值\\n', 'gb18030')
    >>> decode_text(b"\\xef\\xbb\\xbfcity\\n")
    ('city\\n', 'utf-8-sig')
    """
    stem = Path(name).stem or "file"
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError as exc:
            raise TableError(f"{name}: unknown encoding {encoding!r}; use e.g. 'utf-8', 'gb18030' "
                             "or 'big5'", path=name) from exc
        if codec == "utf-8" and raw.startswith(codecs.BOM_UTF8):
            codec = "utf-8-sig"
        text, error = _try(raw, codec)
        if error is None:
            return text, codec
        line = _line_of(raw, error.start)
        fits = [enc for enc in _AUTO if enc != codec and _try(raw, enc)[1] is None]
        hint = (f"the bytes fit {fits[0]}: pass encoding={fits[0]!r} or leave encoding unset"
                if fits else _CONVERT.format(enc="ENCODING", name=name, stem=stem))
        raise TableError(
            f"{name}: not valid {encoding} at line {line} (byte 0x{raw[error.start]:02x}); {hint}",
            path=name, line=line)
    if raw.startswith(codecs.BOM_UTF8):
        text, error = _try(raw[len(codecs.BOM_UTF8):], "utf-8")
        if error is None:
            return text, "utf-8-sig"
        line = _line_of(raw, error.start + len(codecs.BOM_UTF8))
        raise TableError(
            f"{name}: starts with a UTF-8 byte-order mark but is not valid UTF-8 at line {line} "
            f"(byte 0x{raw[error.start + 3]:02x}); the file mixes encodings: "
            + _CONVERT.format(enc="ENCODING", name=name, stem=stem), path=name, line=line)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, error = _try(raw, "utf-16")
        if error is None:
            return text, "utf-16"
        raise TableError(f"{name}: starts with a UTF-16 byte-order mark but is not valid UTF-16; "
                         + _CONVERT.format(enc="UTF-16", name=name, stem=stem), path=name)
    text, first = _try(raw, "utf-8")
    if first is None:
        return text, "utf-8"
    text, second = _try(raw, "gb18030")
    if second is None:
        return text, "gb18030"
    line = _line_of(raw, first.start)
    raise TableError(
        f"{name}: the encoding is neither UTF-8 (byte 0x{raw[first.start]:02x} at line {line} "
        f"is invalid) nor GB18030/GBK (invalid at line {_line_of(raw, second.start)}); give the "
        "file's encoding with encoding= (e.g. 'big5', 'latin-1'), or "
        + _CONVERT.format(enc="ENCODING", name=name, stem=stem), path=name, line=line)


# --------------------------------------------------------------------------- header checks
def stream_encoding(path: str | Path, encoding: str | None = None) -> str:
    """The encoding of a text file of any size, decoded as a stream (memory: one block of 4 MB).

    The rule of :func:`decode_text`: the one given (checked), else a UTF-8
    byte-order mark or valid UTF-8 -> ``"utf-8"``, a UTF-16 byte-order mark
    -> ``"utf-16"``, else ``"gb18030"`` (GBK, GB2312).

    Raises
    ------
    TableError
        The bytes fit no candidate (the message names the line) or the
        encoding given is unknown.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "reg.csv")
    >>> _ = open(path, "wb").write("城市\\n南宁\\n".encode("gbk"))
    >>> stream_encoding(path)
    'gb18030'
    """
    path = Path(path)
    if encoding is not None:
        try:
            candidates = [codecs.lookup(encoding).name]
        except LookupError as exc:
            raise TableError(f"{path.name}: unknown encoding {encoding!r}; use e.g. 'utf-8', "
                             "'gb18030' or 'gbk'", path=path) from exc
    else:
        with path.open("rb") as handle:
            head = handle.read(4)
        if head.startswith(codecs.BOM_UTF8):
            candidates = ["utf-8-sig"]
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            candidates = ["utf-16"]
        else:
            candidates = ["utf-8", "gb18030"]
    error: UnicodeDecodeError | None = None
    for enc in candidates:
        decoder = codecs.getincrementaldecoder(enc)()
        lines, block = 1, b""
        try:
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    decoder.decode(block)
                    lines += block.count(b"\n")
            decoder.decode(b"", final=True)
            return enc
        except UnicodeDecodeError as exc:
            error = exc
            lines += block[:max(exc.start, 0)].count(b"\n")
    given = f"not valid {candidates[0]}" if encoding else "neither UTF-8 nor GB18030/GBK"
    raise TableError(f"{path.name}: the encoding is {given} (near line {lines}: {error}); "
                     "give the file's encoding (e.g. 'big5', 'latin-1')", path=path, line=lines)


def utf8_copy(path: str | Path, encoding: str, folder: str | Path) -> Path:
    """A UTF-8 copy of a text file in ``encoding``, written into ``folder`` (streamed, one
    block of 4 MB at a time): for readers that take UTF-8 only (DuckDB's CSV reader).

    The caller removes the copy.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "reg.csv")
    >>> _ = open(path, "wb").write("城市\\n南宁\\n".encode("gbk"))
    >>> copy = utf8_copy(path, "gb18030", folder)
    >>> copy.read_text(encoding="utf-8")
    '城市\\n南宁\\n'
    >>> copy.unlink()
    """
    import os
    import tempfile

    Path(folder).mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(suffix=".csv", dir=folder)
    decoder = codecs.getincrementaldecoder(encoding)()
    with os.fdopen(fd, "wb") as out, Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            out.write(decoder.decode(block).encode("utf-8"))
        out.write(decoder.decode(b"", final=True).encode("utf-8"))
    return Path(name)


def _check_names(names: Sequence[Any], name: str) -> None:
    empty = [i + 1 for i, c in enumerate(names) if c is None or str(c).strip() == ""]
    if empty:
        raise TableError(
            f"{name}: column(s) {empty} of the header have no name; name every column (or "
            "delete the empty columns)", path=name, line=1)
    seen: dict[str, int] = {}
    twice: list[tuple[str, int, int]] = []
    for i, c in enumerate(names):
        key = str(c)
        if key in seen:
            twice.append((key, seen[key] + 1, i + 1))
        else:
            seen[key] = i
    if twice:
        shown = ", ".join(f"{k!r} (columns {a} and {b})" for k, a, b in twice)
        raise TableError(f"{name}: column name(s) appear twice in the header: {shown}; give "
                         "every column its own name", path=name, line=1, column=twice[0][0])


# --------------------------------------------------------------------------- CSV
def _csv_structure(text: str, name: str) -> tuple[list[str], int]:
    """Raw header of a CSV text and the number of lines up to its end, after checking that
    every record has the header's number of fields and that an unterminated last record is
    complete."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    counts: list[int] = []
    starts: list[int] = []
    tail: list[str] = []  # the last field of every record
    previous_end = 0
    try:
        for row in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if not row:  # blank line
                continue
            if header is None:
                header = row
                header_end = reader.line_num
                continue
            counts.append(len(row))
            starts.append(start)
            tail.append(row[-1])
    except csv.Error as exc:
        raise TableError(f"{name}: line {reader.line_num}: {exc} (a quoted field is not "
                         "closed; the file may be cut short)", path=name,
                         line=reader.line_num) from exc
    if header is None:
        raise TableError(f"{name}: the file is empty (no header line)", path=name, line=1)
    width = len(header)
    terminated = text.endswith(("\n", "\r"))
    if counts:
        lengths = np.asarray(counts)
        bad = np.flatnonzero(lengths != width)
        if len(bad):
            k = int(bad[0])
            cut = " and the file does not end with a line break: it was cut short" \
                if k == len(counts) - 1 and not terminated else ""
            more = f" ({len(bad)} such lines)" if len(bad) > 1 else ""
            raise TableError(
                f"{name}: line {starts[k]} has {counts[k]} fields but the header has {width}"
                f"{cut}{more}; nothing was read", path=name, line=starts[k])
        if not terminated:
            _check_last_record(header[-1].strip(), tail, starts[-1], name)
    return [c.strip() for c in header], header_end


_DECIMALS = re.compile(r"^[+-]?\d[\d,]*\.(\d*)$")


def _check_last_record(column: str, values: list[str], line: int, name: str) -> None:
    """A file without a final line break may have lost the end of its last record: its last
    field is then empty, shorter than every other value of the column, or has fewer
    decimals than all of them."""
    value = values[-1].strip()

    def reject(why: str) -> None:
        raise TableError(
            f"{name}: the file does not end with a line break and its last record (line {line}) "
            f"looks cut short: {why}; the file is probably truncated, nothing was read. Send the "
            "complete file (or, if the record is complete, end the file with a line break)",
            path=name, line=line, column=column)

    if value == "":
        reject(f"its last field ({column!r}) is empty")
    others = [v.strip() for v in values[:-1] if v.strip()]
    if not others:
        return
    shortest = min(len(v) for v in others)
    if len(value) < shortest:
        reject(f"{column!r} = {value!r} is shorter than every other value of the column "
               f"(at least {shortest} characters)")
    places = [_DECIMALS.match(v) for v in others]
    if all(places):
        least = min(len(m.group(1)) for m in places)
        match = _DECIMALS.match(value)
        own = len(match.group(1)) if match else 0
        if own < least:
            reject(f"{column!r} = {value!r} has {own} decimals where every other value of the "
                   f"column has at least {least}")


def _read_csv(path: Path, *, encoding: str | None, text_columns: Sequence[str],
              check_header: bool) -> pd.DataFrame:
    raw = path.read_bytes()
    text, found = decode_text(raw, encoding=encoding, name=path.name)
    header, header_end = _csv_structure(text, path.name)
    if check_header:
        _check_names(header, path.name)
    # the data under a header of placeholder names (the raw names may repeat or be empty)
    lines = io.StringIO(text, newline="")
    offset = sum(len(lines.readline()) for _ in range(header_end))
    placeholders = [f"c{i}" for i in range(len(header))]
    body = ",".join(placeholders) + "\n" + text[offset:]
    keep = set(text_columns)
    dtype = {p: "str" for p, c in zip(placeholders, header, strict=True) if c in keep}
    try:
        # numbers are parsed by pyarrow (correctly rounded); a column with a bad cell stays text
        frame = pd.read_csv(io.BytesIO(body.encode("utf-8")), engine="pyarrow",
                            dtype=dtype or None)
    except Exception as exc:  # pyarrow's parser errors
        raise TableError(f"{path.name}: cannot parse as CSV: {exc}", path=path) from exc
    frame.columns = header
    frame.attrs["encoding"] = found
    return frame


# --------------------------------------------------------------------------- Excel
def _not_a_workbook(path: Path) -> TableError:
    head = path.read_bytes()[:512]
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        what = "an old Excel 97-2003 workbook (.xls) or another OLE file; open it in Excel and " \
               "save it as .xlsx"
    elif head.lstrip().lower().startswith((b"<!doctype html", b"<html", b"<table")):
        what = "an HTML page (some systems export 'Excel' files as HTML); open it in Excel and " \
               "save it as .xlsx"
    elif not head:
        what = "empty"
    else:
        try:
            decode_text(head[:400].rsplit(b"\n", 1)[0] or head, name=path.name)
            what = "text (perhaps a CSV file renamed to .xlsx); give it the .csv suffix"
        except TableError:
            what = "not a zip archive as every .xlsx file is; the file is damaged or not a workbook"
    return TableError(f"{path.name}: not an Excel workbook: the file is {what}", path=path)


def _read_excel(path: Path, *, sheet: str | int | None, text_columns: Sequence[str],
                check_header: bool) -> pd.DataFrame:
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise _not_a_workbook(path) from exc
    try:
        if sheet is None:
            ws = book.worksheets[0]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(book.worksheets):
                raise TableError(f"{path.name}: no sheet {sheet}; the workbook has "
                                 f"{len(book.worksheets)} sheet(s)", path=path)
            ws = book.worksheets[sheet]
        else:
            if sheet not in book.sheetnames:
                raise TableError(f"{path.name}: no sheet {sheet!r}; sheets are {book.sheetnames}",
                                 path=path)
            ws = book[sheet]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        book.close()
    while rows and all(v is None or (isinstance(v, str) and not v.strip()) for v in rows[-1]):
        rows.pop()  # trailing empty rows
    if not rows:
        raise TableError(f"{path.name}: the sheet is empty (no header row)", path=path, line=1)
    width = max(len(r) for r in rows)
    rows = [r + [None] * (width - len(r)) for r in rows]
    header = rows[0]
    # columns empty from top to bottom (formatting only) are not part of the table
    used = [j for j in range(width) if any(r[j] is not None and not (isinstance(r[j], str) and
                                                                     not r[j].strip()) for r in rows)]
    header = [header[j] for j in used]
    names = ["" if c is None else str(c).strip() for c in header]
    if check_header:
        _check_names(names, path.name)
    body = [[r[j] for j in used] for r in rows[1:]]
    body = [r for r in body if any(v is not None for v in r)]
    frame = pd.DataFrame(body, columns=range(len(names)), dtype=object)
    frame = frame.infer_objects()
    for j, c in enumerate(names):
        if c in set(text_columns):
            col = frame[j]
            frame[j] = col.where(col.isna(), col.map(_cell_text)).astype("str")
    frame.columns = names
    return frame


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- the reader
def read_table(
    path: str | Path,
    *,
    encoding: str | None = None,
    text: str | Iterable[str] = (),
    sheet: str | int | None = None,
    check_header: bool = True,
) -> pd.DataFrame:
    """Read a table file: CSV, Excel workbook or Parquet (by its suffix).

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv``/``.txt``, ``.xlsx``/``.xlsm`` or ``.parquet`` file.
    encoding : str or None, default=None
        Encoding of a CSV file; default: detected (UTF-8, UTF-8 with BOM,
        UTF-16 with BOM, then GB18030/GBK). The encoding used is in
        ``frame.attrs["encoding"]``.
    text : str or iterable of str, default=()
        Columns read as text, never as numbers (ids such as ``firm_id``, codes
        with leading zeros, period labels).
    sheet : str, int or None, default=None
        Sheet of a workbook (default the first).
    check_header : bool, default=True
        Raise on empty or repeated column names; ``False`` keeps the raw
        names (repeated names included) for a caller that reports them itself.

    Returns
    -------
    pandas.DataFrame
        Numbers parsed where every cell of a column is a number (else the
        column is text); ``attrs`` has ``source`` (the file name),
        ``format`` and, for CSV, ``encoding``.

    Raises
    ------
    TableError
        The file does not exist, has an unknown suffix, cannot be decoded,
        was cut short, has records of the wrong length, repeated or empty
        column names, or is not what its suffix says (e.g. a fake ``.xlsx``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d, "returns.csv")
    ...     _ = p.write_bytes("企业,产值\\n0045,1000.5\\n".encode("gbk"))
    ...     t = read_table(p, text="企业")
    >>> t.to_dict("list"), t.attrs["encoding"]
    ({'企业': ['0045'], '产值': [1000.5]}, 'gb18030')

    A file cut short is rejected whole:

    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d, "cut.csv")
    ...     _ = p.write_text("firm,value\\na,1000.0\\nb,2000.0\\nc,10")
    ...     read_table(p)
    Traceback (most recent call last):
    ...
    survey.errors.TableError: cut.csv: the file does not end with a line break and its last record (line 4) looks cut short: 'value' = '10' is shorter than every other value of the column (at least 6 characters); the file is probably truncated, nothing was read. Send the complete file (or, if the record is complete, end the file with a line break)
    """
    path = Path(path)
    columns = [text] if isinstance(text, str) else list(text)
    if not path.is_file():
        raise TableError(f"{str(path)!r}: file not found" if not path.exists()
                         else f"{str(path)!r} is a folder, not a file", path=path)
    suffix = path.suffix.lower()
    if suffix in _CSV:
        frame = _read_csv(path, encoding=encoding, text_columns=columns, check_header=check_header)
        kind = "csv"
    elif suffix in _EXCEL:
        frame = _read_excel(path, sheet=sheet, text_columns=columns, check_header=check_header)
        kind = "xlsx"
    elif suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow's errors
            raise TableError(f"{path.name}: not a readable Parquet file: {exc}", path=path) from exc
        if check_header:
            _check_names(list(frame.columns), path.name)
        for c in columns:
            if c in frame.columns and not pd.api.types.is_string_dtype(frame[c]):
                frame[c] = frame[c].where(frame[c].isna(), frame[c].astype(str)).astype("str")
        kind = "parquet"
    elif suffix == ".xls":
        raise TableError(f"{path.name}: old Excel 97-2003 workbooks (.xls) are not read; open it "
                         "in Excel and save it as .xlsx (or as CSV UTF-8)", path=path)
    else:
        raise TableError(f"{path.name}: unknown table format {suffix or '(no suffix)'!r}; give "
                         f"one of {', '.join(TABLE_SUFFIXES)}", path=path)
    frame.attrs["source"] = path.name
    frame.attrs["format"] = kind
    return frame


def read_header(path: str | Path, *, encoding: str | None = None) -> list[str]:
    """The column names of a table file, read raw (without reading the data of a CSV).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d, "r.csv")
    ...     _ = p.write_bytes(b"\\xef\\xbb\\xbffirm_id, size\\nA,1\\n")
    ...     read_header(p)
    ['firm_id', 'size']
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _CSV and path.is_file():
        with path.open("rb") as handle:
            first = handle.readline()
        line, _ = decode_text(first, encoding=encoding, name=path.name)
        row = next(csv.reader([line]), [])
        return [c.strip() for c in row]
    if suffix == ".parquet" and path.is_file():
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:  # pyarrow's errors
            raise TableError(f"{path.name}: not a readable Parquet file: {exc}", path=path) from exc
    return list(read_table(path, encoding=encoding, check_header=False).columns)


# --------------------------------------------------------------------------- writing safely
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d[\d,]*\.?\d*|\.\d+)([eE][+-]?\d+)?%?$")


def text_cell(value: Any) -> Any:
    """A text value made safe for a CSV cell: ``'`` before a leading ``= + - @``, tab or CR.

    Numbers and text that is a plain number (``"-5"``, ``"+1.5e3"``) are left as they are.

    Examples
    --------
    >>> print(text_cell('=HYPERLINK("http://x","y")'))
    '=HYPERLINK("http://x","y")
    >>> text_cell("-5"), text_cell("南宁"), text_cell(-5)
    ('-5', '南宁', -5)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) \
            and not _NUMBER.match(value.strip()):
        return "'" + value
    return value


def _protect_labels(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return index.set_levels([_protect_labels(level) for level in index.levels])
    if index.dtype == object or pd.api.types.is_string_dtype(index.dtype):
        return pd.Index([text_cell(v) for v in index], name=text_cell(index.name),
                        dtype=index.dtype if index.dtype != object else object)
    return index.rename(text_cell(index.name)) if isinstance(index.name, str) else index


def protect_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, column names and index labels cannot act as
    spreadsheet formulas in a CSV file (each passes through :func:`text_cell`).

    Examples
    --------
    >>> protect_formulas(pd.DataFrame({"city": ["=1+1", "@SUM(A1)", "南宁"], "v": [1, -2, 3]}))
         city  v
    0   '=1+1  1
    1  '@SUM(A1) -2
    2      南宁  3
    >>> protect_formulas(pd.DataFrame({"value": pd.array([91.2, 1240], dtype=object)}))["value"].tolist()
    [91.2, 1240]
    """
    out = frame.copy()
    for j, dtype in enumerate(frame.dtypes):  # numbers and dates pass as they are
        if not (dtype == object or pd.api.types.is_string_dtype(dtype)
                or isinstance(dtype, pd.CategoricalDtype)):
            continue
        column = out.iloc[:, j]
        if column.dtype == object:  # mixed cells keep their types (1240 stays an integer)
            out.isetitem(j, pd.Series([text_cell(v) for v in column], index=column.index,
                                      dtype=object, name=column.name))
        elif pd.api.types.is_string_dtype(column.dtype):  # vectorised text_cell
            risky = column.str.startswith(_FORMULA_START, na=False)
            if risky.any():
                risky &= ~column.str.strip().str.match(_NUMBER.pattern, na=False)
                out.isetitem(j, column.where(~risky, "'" + column))
        elif isinstance(column.dtype, pd.CategoricalDtype):
            out.isetitem(j, column.cat.rename_categories(
                [text_cell(c) for c in column.cat.categories]))
    out.columns = _protect_labels(out.columns)
    out.index = _protect_labels(out.index)
    return out


def member(values: Any, among: Any) -> np.ndarray:
    """Which of ``values`` are in ``among``, as a boolean array (missing values: ``False``).

    The same answer as ``pandas.Series.isin``, without its cost on text columns stored by
    Arrow (pandas 3 converts every element of ``among`` one by one: seconds for a register
    of ids); ids and codes go through :func:`pyarrow.compute.is_in`.

    Examples
    --------
    >>> member(pd.Series(["a", "b", None]), ["b", "c"]).tolist()
    [False, True, False]
    >>> member([1, 2, 3], pd.Series([3.0, 1.0])).tolist()
    [True, False, True]
    >>> member(["1", "2"], [1]).tolist()  # text is not a number
    [False, False]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        left = pa.array(values, from_pandas=True)
        right = pa.array(among, from_pandas=True)
        text = (pa.types.is_string(left.type) or pa.types.is_large_string(left.type),
                pa.types.is_string(right.type) or pa.types.is_large_string(right.type))
        numbers = (pa.types.is_integer(left.type) or pa.types.is_floating(left.type),
                   pa.types.is_integer(right.type) or pa.types.is_floating(right.type))
        if left.type != right.type:  # large_string and string, int and float: one type
            if not (all(text) or all(numbers)):
                raise TypeError("text and numbers: pandas decides")
            common = pa.large_string() if all(text) else pa.float64()
            left, right = left.cast(common), right.cast(common)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return pd.Series(values).isin(pd.Series(among)).to_numpy()
    return pc.fill_null(pc.is_in(left, value_set=right), False).to_numpy(zero_copy_only=False)


def group_codes(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Group number of each row and the groups' keys, as ``frame.groupby(columns, sort=True,
    observed=True)`` numbers them (``ngroup()``) and lists them, by one sorted factorize per
    column (a groupby of Arrow text costs far more). Rows with a missing key: groupby's answer.

    Examples
    --------
    >>> codes, keys = group_codes(pd.DataFrame({"c": ["b", "a", "b"], "k": [2, 1, 1]}), ["c", "k"])
    >>> codes.tolist(), keys.to_dict("list")
    ([2, 0, 1], {'c': ['a', 'b', 'b'], 'k': [1, 1, 2]})
    """
    columns = list(columns)
    keys = [frame[c] for c in columns]
    if any(isinstance(k.dtype, pd.CategoricalDtype) or k.hasnans for k in keys):
        g = frame.groupby(columns, sort=True, observed=True)
        return g.ngroup().to_numpy().astype(np.intp), g.size().index.to_frame(index=False)
    codes, uniques = zip(*(pd.factorize(k, sort=True) for k in keys))
    sizes = tuple(max(len(u), 1) for u in uniques)
    used, inverse = np.unique(np.ravel_multi_index(codes, sizes), return_inverse=True)
    parts = np.unravel_index(used, sizes)
    return inverse.astype(np.intp).ravel(), pd.DataFrame(
        {c: u.take(i) for c, u, i in zip(columns, uniques, parts)})


def joined_labels(frame: pd.DataFrame, columns: Sequence[str], sep: str = "/") -> pd.Series:
    """One text label per row: the columns' values as text joined by ``sep``.

    Vectorised (one string concatenation per column, not a Python call per
    row); missing values read ``"nan"`` as ``astype(str)`` writes them.

    Examples
    --------
    >>> joined_labels(pd.DataFrame({"city": ["4501", "4502"], "industry": [13, 22]}),
    ...               ["city", "industry"]).tolist()
    ['4501/13', '4502/22']
    """
    columns = list(columns)
    if not columns:
        raise ValueError("joined_labels needs at least one column")
    out = frame[columns[0]].astype(str)
    for column in columns[1:]:
        out = out + sep + frame[column].astype(str)
    return out.astype(object)


def protect_workbook(book: Any) -> Any:
    """Store every text cell of an openpyxl workbook that starts with ``=`` as text.

    openpyxl turns an assigned string that starts with ``=`` into a formula;
    this sets such cells back to text (the value shows as written and is
    never computed). Call it just before saving.

    Examples
    --------
    >>> from openpyxl import Workbook
    >>> wb = Workbook(); wb.active["A1"] = '=HYPERLINK("http://x","y")'
    >>> protect_workbook(wb).active["A1"].data_type
    's'
    """
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
    return book


def write_table(frame: pd.DataFrame, path: str | Path, *, sheet: str = "data",
                index: bool = False, encoding: str = "utf-8") -> Path:
    """Write a frame as CSV (UTF-8), Excel workbook or Parquet, by the suffix of ``path``.

    CSV files are written in UTF-8 with a line break after every record
    (what :func:`read_table` reads back unchanged); the folder is created
    when needed. Text that a spreadsheet would run as a formula is written
    as text (:func:`protect_formulas`, :func:`protect_workbook`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_table(pd.DataFrame({"a": [1.5], "b": ["x"]}), pathlib.Path(d, "t.csv"))
    ...     read_table(p).to_dict("list")
    {'a': [1.5], 'b': ['x']}
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise TableError(f"{path.name}: unknown table format {suffix or '(no suffix)'!r}; give "
                         f"one of {', '.join(TABLE_SUFFIXES)}", path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in _CSV:
        safe = protect_formulas(frame)
        if not index and (fast := csv_text(safe)) is not None:  # pandas' text, made faster
            path.write_text(fast, encoding=encoding, newline="")
            return path
        text = [c for c, dtype in enumerate(safe.dtypes) if dtype == object
                or pd.api.types.is_string_dtype(dtype)]
        carriage = any(safe.iloc[:, c].astype(str).str.contains("\r", regex=False).any()
                       for c in text)  # csv quotes only the line terminator's characters
        safe.to_csv(path, index=index, encoding=encoding, lineterminator="\n",
                    quoting=csv.QUOTE_NONNUMERIC if carriage else csv.QUOTE_MINIMAL)
    elif suffix in _EXCEL:
        write_workbook({sheet: frame}, path, index=index)
    else:
        frame.to_parquet(path, index=index)
    return path


def write_workbook(sheets: dict[str, pd.DataFrame], path: str | Path, *,
                   index: bool = False) -> Path:
    """Write frames as the sheets of one workbook, text cells never formulas.

    Examples
    --------
    >>> import tempfile, pathlib, openpyxl
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_workbook({"a": pd.DataFrame({"city": ["=1+1"]})}, pathlib.Path(d, "t.xlsx"))
    ...     cell = openpyxl.load_workbook(p)["a"]["A2"]
    >>> cell.value, cell.data_type
    ('=1+1', 's')
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    book = Workbook(write_only=True)  # streamed row by row: a third faster than cell objects
    bold = Font(bold=True)
    for name, frame in sheets.items():
        sheet = book.create_sheet(title=str(name))
        data = frame.reset_index() if index else frame

        def text(value: Any, font: Any = None) -> WriteOnlyCell:
            cell = WriteOnlyCell(sheet, value=str(value))
            cell.data_type = "s"  # text that looks like a formula stays text
            if font is not None:
                cell.font = font
            return cell

        sheet.append([text(c, bold) for c in data.columns])
        columns = [_excel_values(data.iloc[:, j]) for j in range(data.shape[1])]
        for row in zip(*columns):
            sheet.append([text(v) if type(v) is str and v.startswith("=") else v for v in row])
    book.save(path)
    return path


def _excel_values(column: pd.Series) -> list[Any]:
    """Python values of a column for an Excel sheet: missing values as empty cells."""
    values = column.astype(object).where(column.notna(), None).tolist()
    return [v.isoformat() if isinstance(v, pd.Period) else v for v in values] \
        if isinstance(column.dtype, pd.PeriodDtype) else values
