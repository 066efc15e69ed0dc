"""Reading and writing member CSV files: checked whole before import, read in chunks.

A file is checked end to end (UTF-8, a header naming ``email``, no repeated column) before
anything is written, so a wrong file fails whole; rows are then streamed in chunks, quoted
newlines staying inside their field.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK_ROWS = 2000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; nothing was written."""


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, str]


@dataclass
class Rejected:
    line: int
    values: dict[str, str]
    reason: str


@dataclass(frozen=True)
class CsvFile:
    path: Path
    header: list[str]
    dialect: type[csv.Dialect] | csv.Dialect
    rows: int


def inspect_file(path: Path) -> CsvFile:
    """Check the whole file before anything is written: UTF-8, a header with ``email``."""
    if not path.is_file():
        raise ImportFileError(f"{path} does not exist")
    decoder, line, sample = codecs.getincrementaldecoder("utf-8-sig")(), 1, ""
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as error:
                line += chunk[: error.start].count(b"\n")
                raise ImportFileError(
                    f"{path.name} is not UTF-8 text (line {line}); "
                    "save it as UTF-8 CSV and import again"
                ) from None
            line += text.count("\n")
            if len(sample) < 65536:
                sample += text[: 65536 - len(sample)]
    if not sample.strip():
        raise ImportFileError(f"{path.name} is empty")
    try:
        dialect = csv.Sniffer().sniff(sample.split("\n", 1)[0] + "\n", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = [unneutralize(name.strip()).lower() for name in next(csv.reader(handle, dialect))]
    if "email" not in header:
        raise ImportFileError(
            f"{path.name} has no 'email' column; its first line must name the columns"
        )
    duplicates = {name for name in header if header.count(name) > 1 and name}
    if duplicates:
        raise ImportFileError(
            f"{path.name} names the column(s) {', '.join(sorted(duplicates))} twice"
        )
    return CsvFile(path, header, dialect, rows=line)


def read_chunks(csv_file: CsvFile, size: int = CHUNK_ROWS) -> Iterator[list[Row]]:
    """The file's data rows in chunks; quoted newlines stay inside their field."""
    with csv_file.path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, csv_file.dialect)
        next(reader)
        chunk: list[Row] = []
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            padded = values + [""] * (len(csv_file.header) - len(values))
            chunk.append(Row(reader.line_num, dict(zip(csv_file.header, padded, strict=False))))
            if len(values) > len(csv_file.header):
                chunk[-1].values["\0extra"] = "1"
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def write_rejects(path: Path, header: list[str], rejected: list[Rejected]) -> None:
    """The rejected rows as they came, plus their line number and the reason."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "error", *(neutralize(name) for name in header)])
        for item in sorted(rejected, key=lambda r: r.line):
            values = (item.values.get(name, "") for name in header)
            writer.writerow([item.line, item.reason, *(neutralize(value) for value in values)])


def neutralize(value: str) -> str:
    """Keep spreadsheet programs from running a cell as a formula (CSV injection)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def unneutralize(value: str) -> str:
    """Undo ``neutralize`` (our own export's guard against spreadsheet formulas)."""
    return value[1:] if value[:1] == "'" and value[1:2] in FORMULA_START else value
