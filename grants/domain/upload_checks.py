"""What an upload is, judged by its content: the checks every uploaded document passes.

An upload is read in chunks into a temporary file in the uploads folder, stopping one byte
past the limit, and then identified by its content alone, never by its name or the type the
browser claimed (:func:`inspect_upload`): PDF, Word (DOCX), Excel (XLSX), CSV, PNG or JPEG.
A PDF with JavaScript anywhere in it is refused, and so is a DOCX or XLSX that would expand
to far more than its size (a zip bomb), or that carries macros. Storing what passes is
:mod:`grants.domain.documents`'s.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import unicodedata
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import filetype  # type: ignore[import-untyped]
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, StreamObject

from grants.domain.errors import InvalidInput

FILENAME_MAX = 200
CHUNK = 64 * 1024
EXPANDED_MAX = 100 * 1024 * 1024
"""The most a DOCX or XLSX may expand to when unzipped, and a PDF's object streams when
decompressed."""
RATIO_MAX = 100
"""The highest compression ratio accepted for a zip member over :data:`RATIO_GRACE`."""
RATIO_GRACE = 1024 * 1024
ZIP_MEMBERS_MAX = 10_000
FIELD = "file"

NOT_ACCEPTED = "This file is not a PDF, Word (DOCX), Excel (XLSX), CSV, PNG or JPEG file."
EMPTY = "This file is empty; choose the file again."
PDF_SCRIPT = (
    "This PDF contains JavaScript, which we do not accept; save it again without scripts "
    "(for example by printing it to PDF)."
)
PDF_ENCRYPTED = (
    "This PDF is protected with a password or encrypted, so we cannot check it; save it "
    "again without protection and upload that copy."
)
PDF_UNREADABLE = (
    "This PDF is damaged and cannot be read; save or export it again and upload the new copy."
)
PDF_EXPANDS = (
    "This PDF expands to far more than its size when opened, so we cannot check it; save it "
    "again (for example by printing it to PDF) and upload that copy."
)
ZIP_BOMB = (
    "This Word or Excel file expands to far more than its size when opened, so we cannot "
    "accept it; save it again from Word or Excel and upload that copy."
)
ZIP_DAMAGED = (
    "This Word or Excel file is damaged and cannot be opened; save it again from Word or "
    "Excel and upload that copy."
)
MACROS = (
    "This Word or Excel file contains macros, which we do not accept; save it as a plain "
    ".docx or .xlsx file without macros."
)
CSV_ENCODING = (
    "This file looks like a CSV file but is not in UTF-8; save it as “CSV UTF-8” and upload "
    "it again."
)


@dataclass(frozen=True)
class Kind:
    """A type of file we accept: what it is stored as, and the name endings it may keep."""

    content_type: str
    extension: str
    suffixes: frozenset[str]


PDF = Kind("application/pdf", "pdf", frozenset({"pdf"}))
DOCX = Kind(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "docx",
    frozenset({"docx"}),
)
XLSX = Kind(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xlsx",
    frozenset({"xlsx"}),
)
CSV = Kind("text/csv", "csv", frozenset({"csv"}))
PNG = Kind("image/png", "png", frozenset({"png"}))
JPEG = Kind("image/jpeg", "jpg", frozenset({"jpg", "jpeg"}))
KINDS = {kind.content_type: kind for kind in (PDF, DOCX, XLSX, CSV, PNG, JPEG)}

SCRIPT_NAMES = frozenset({"/JS", "/JavaScript"})
"""PDF names that hold or start JavaScript: an action's ``/S /JavaScript`` and its ``/JS``,
and the ``/JavaScript`` tree of the document's names."""
RAW_SCRIPT = re.compile(rb"/JavaScript|/JS\s*[(<\[]|/JS\s+\d+\s+\d+\s+R")
"""The same, as it is usually written in a PDF's uncompressed bytes: a cheap first look."""
HIDDEN = frozenset({"Cc", "Cf", "Cs"})
"""Characters a file name loses: controls, formatting (such as a right-to-left override that
disguises an extension) and lone surrogates; white space of any kind becomes a space."""
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Inspected:
    """An upload that passed every check, still in its temporary file at ``path``."""

    content_type: str
    extension: str
    size: int
    sha256: str
    path: Path


def size_label(size: int) -> str:
    """``size`` bytes as a person reads a limit: ``20 MB``, ``64 KB`` or ``1,500 bytes``."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KB"
    return f"{size:,} bytes"


def too_large_message(max_bytes: int) -> str:
    """What a partner is told about a file over ``max_bytes``."""
    return (
        f"This file is larger than {size_label(max_bytes)}, the most one upload can be; make "
        "it smaller (for example by compressing its pictures) or split it into several files."
    )


def inspect_upload(stream: IO[bytes], *, max_bytes: int, folder: str | Path) -> Inspected:
    """Read ``stream`` into a temporary file in ``folder`` (created if missing) and check it.

    At most ``max_bytes`` + 1 bytes are read: a larger file is refused as soon as it shows.
    Every refusal is an :class:`InvalidInput` on the ``file`` field, and leaves no file
    behind; what passes is fsynced, and the caller renames or removes it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".upload-", suffix=".partial", dir=folder)
    temporary = Path(name)
    try:
        size, digest = _copy_capped(stream, handle, max_bytes)
        kind = _identify(temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return Inspected(kind.content_type, kind.extension, size, digest, temporary)


def _copy_capped(stream: IO[bytes], handle: int, max_bytes: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(handle, "wb") as out:
        while chunk := stream.read(min(CHUNK, max_bytes + 1 - size)):
            size += len(chunk)
            if size > max_bytes:
                raise InvalidInput(too_large_message(max_bytes), field=FIELD)
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if size == 0:
        raise InvalidInput(EMPTY, field=FIELD)
    return size, digest.hexdigest()


def _identify(path: Path) -> Kind:
    """The kind of the file at ``path``, judged by its content; refuses any other."""
    with path.open("rb") as file:
        head = file.read(8192)
    guess = filetype.guess(head)
    mime = guess.mime if guess is not None else None
    if mime == PDF.content_type:
        _check_pdf(path)
        return PDF
    if mime == PNG.content_type and head[12:16] == b"IHDR":
        return PNG
    if mime == JPEG.content_type:
        return JPEG
    if head.startswith(b"PK\x03\x04"):
        return _check_office(path)
    if guess is None:
        _check_csv(path)
        return CSV
    raise InvalidInput(NOT_ACCEPTED, field=FIELD)


def _check_office(path: Path) -> Kind:
    """DOCX or XLSX, by the members every such file has; refuses any other zip, one with
    macros, and one that expands too far: by the sizes its directory declares, and by
    decompressing every member with a cap (which catches a directory that lies)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
            if "[Content_Types].xml" not in names:
                raise InvalidInput(NOT_ACCEPTED, field=FIELD)
            if "word/document.xml" in names:
                kind = DOCX
            elif "xl/workbook.xml" in names:
                kind = XLSX
            else:
                raise InvalidInput(NOT_ACCEPTED, field=FIELD)
            if any(name.lower().endswith("vbaproject.bin") for name in names):
                raise InvalidInput(MACROS, field=FIELD)
            declared = sum(member.file_size for member in members)
            if (
                len(members) > ZIP_MEMBERS_MAX
                or declared > EXPANDED_MAX
                or any(_ratio_too_high(member) for member in members)
            ):
                raise InvalidInput(ZIP_BOMB, field=FIELD)
            budget = EXPANDED_MAX
            for member in members:
                budget -= _inflate(archive, member, min(member.file_size, budget))
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        raise InvalidInput(ZIP_DAMAGED, field=FIELD) from None
    return kind


def _ratio_too_high(member: zipfile.ZipInfo) -> bool:
    return member.file_size > RATIO_GRACE and member.file_size > RATIO_MAX * member.compress_size


def _inflate(archive: zipfile.ZipFile, member: zipfile.ZipInfo, cap: int) -> int:
    """Decompress ``member`` (checking its CRC), refusing it past ``cap`` bytes; returns its
    size."""
    size = 0
    with archive.open(member) as source:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > cap:
                raise InvalidInput(ZIP_BOMB, field=FIELD)
    return size


def _check_pdf(path: Path) -> None:
    """Refuse a PDF that is encrypted, has JavaScript in any object (those in compressed
    object streams too; after a cheap look at its raw bytes), or has no page to read."""
    data = path.read_bytes()
    if RAW_SCRIPT.search(data):
        raise InvalidInput(PDF_SCRIPT, field=FIELD)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
        scripted = not encrypted and _pdf_has_script(reader)
        readable = encrypted or len(reader.pages) > 0
    except InvalidInput:
        raise
    except Exception as error:  # pypdf raises many kinds of error on a damaged file
        message = PDF_ENCRYPTED if b"/Encrypt" in data else PDF_UNREADABLE
        raise InvalidInput(message, field=FIELD) from error
    if encrypted:
        raise InvalidInput(PDF_ENCRYPTED, field=FIELD)
    if scripted:
        raise InvalidInput(PDF_SCRIPT, field=FIELD)
    if not readable:
        raise InvalidInput(PDF_UNREADABLE, field=FIELD)


def _pdf_has_script(reader: PdfReader) -> bool:
    """Whether any object of the PDF, or its trailer, names JavaScript. Every object in the
    cross-reference tables is read, those inside object streams too; the object streams are
    decompressed first, within :data:`EXPANDED_MAX` bytes in all."""
    expanded = 0
    for number in sorted({stream for stream, _ in reader.xref_objStm.values()}):
        container = reader.get_object(IndirectObject(number, 0, reader))
        if isinstance(container, StreamObject):
            expanded += len(container.get_data())
            if expanded > EXPANDED_MAX:
                raise InvalidInput(PDF_EXPANDS, field=FIELD)
    numbers = {
        (number, generation) for generation, table in reader.xref.items() for number in table
    }
    numbers |= {(number, 0) for number in reader.xref_objStm}
    if _names_script(reader.trailer):
        return True
    return any(
        _names_script(reader.get_object(IndirectObject(number, generation, reader)))
        for number, generation in sorted(numbers)
    )


def _names_script(value: object) -> bool:
    """Whether ``value`` (one object, without following its references to others) has a
    JavaScript name as a key or a value anywhere inside it."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, DictionaryObject):
            if any(key in SCRIPT_NAMES for key in item):
                return True
            pending.extend(item.values())
        elif isinstance(item, ArrayObject):
            pending.extend(item)
        elif isinstance(item, NameObject) and item in SCRIPT_NAMES:
            return True
    return False


def _check_csv(path: Path) -> None:
    """Accept as CSV only text in UTF-8 (with or without a byte order mark), without control
    characters, of at least two rows that split into the same number of columns (two or
    more, by commas, semicolons or tabs) in at least four rows of five."""
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise InvalidInput(NOT_ACCEPTED, field=FIELD)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(CSV_ENCODING, field=FIELD) from None
    if CONTROL.search(text) is None and any(_columns_agree(text, d) for d in ",;\t"):
        return
    raise InvalidInput(NOT_ACCEPTED, field=FIELD)


def _columns_agree(text: str, delimiter: str) -> bool:
    try:
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        widths = Counter(len(row) for row in rows if any(cell.strip() for cell in row))
    except csv.Error:
        return False
    if not widths:
        return False
    width, agreeing = widths.most_common(1)[0]
    total = widths.total()
    return total >= 2 and width >= 2 and agreeing * 5 >= total * 4


def clean_filename(raw: str, kind: Kind) -> str:
    """The name to show and offer on download: the last part of ``raw`` (a browser may send
    a whole path), without control or formatting characters, at most :data:`FILENAME_MAX`
    characters, ending in an extension that belongs to ``kind`` (added when it does not)."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if c.isspace() or unicodedata.category(c) not in HIDDEN)
    name = " ".join(name.split()).strip(" .")
    stem, dot, suffix = name.rpartition(".")
    if not dot or suffix.lower() not in kind.suffixes:
        stem, suffix = name, kind.extension
    stem = stem[: FILENAME_MAX - len(suffix) - 1].rstrip(" .") or "document"
    return f"{stem}.{suffix}"
