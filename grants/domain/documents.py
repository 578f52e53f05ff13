"""Documents partners upload with a draft application or an unsubmitted progress report.

An upload is read in chunks into a temporary file in the uploads folder, stopping one byte
past the limit, and then identified by its content alone, never by its name or the type the
browser claimed (:func:`inspect_upload`): PDF, Word (DOCX), Excel (XLSX), CSV, PNG or JPEG.
A PDF with JavaScript anywhere in it is refused, and so is a DOCX or XLSX that would expand
to far more than its size (a zip bomb). What passes is renamed to a random name
(:func:`document_path`) and recorded with its SHA-256 (:func:`attach_document`); the web
layer removes the file again if its transaction fails, and after a removal commits
(:func:`remove_document` returns the name to remove).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import secrets
import tempfile
import unicodedata
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import filetype  # type: ignore[import-untyped]
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, StreamObject
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from grants.domain import audit
from grants.domain.checks import require_role
from grants.domain.errors import InvalidInput, InvalidState, NotFound
from grants.models import (
    Application,
    ApplicationAnswer,
    ApplicationState,
    Document,
    Grant,
    Redemption,
    ReportingRequirement,
    ReportVersion,
    Role,
    User,
    Wallet,
)

UPLOADS = "uploads"
"""The folder, in the instance folder, that holds the uploaded files."""
MAX_DOCUMENTS = 20
"""The most documents one application or one report version may have."""
FILENAME_MAX = 200
CHUNK = 64 * 1024
EXPANDED_MAX = 100 * 1024 * 1024
"""The most a DOCX or XLSX may expand to when unzipped, and a PDF's object streams when
decompressed."""
RATIO_MAX = 100
"""The highest compression ratio accepted for a zip member over :data:`RATIO_GRACE`."""
RATIO_GRACE = 1024 * 1024
ZIP_MEMBERS_MAX = 10_000
READERS = (Role.MANAGER, Role.FINANCE, Role.ADMIN)
"""Who may read every partner's documents."""
STORED_NAME = re.compile(r"[0-9a-f]{32}")
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


def uploads_folder(instance_path: str | Path) -> Path:
    """The uploads folder of the instance folder ``instance_path`` (not created here)."""
    return Path(instance_path) / UPLOADS


def document_path(folder: str | Path, stored_name: str) -> Path:
    """Where the file stored as ``stored_name`` is kept in ``folder``. Raises
    :class:`ValueError` for anything but a stored name (32 hex digits), so nothing else can
    ever become a path."""
    if not STORED_NAME.fullmatch(stored_name):
        raise ValueError(f"not a stored document name: {stored_name!r}")
    return Path(folder) / stored_name


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


def attach_document(
    session: Session,
    *,
    actor: User,
    upload_stream: IO[bytes],
    filename: str,
    folder: str | Path,
    max_bytes: int,
    application_id: int | None = None,
    report_version_id: int | None = None,
    now: datetime,
) -> Document:
    """Store the upload read from ``upload_stream`` as a document of draft application
    ``application_id`` or of unsubmitted report version ``report_version_id`` (exactly one).

    Only the partner's own users may: anyone else with the partner role gets
    :class:`NotFound`, other roles :class:`~grants.domain.errors.NotAllowed`. An application
    that is no longer a draft, or a submitted report, is :class:`InvalidState`; one that has
    :data:`MAX_DOCUMENTS` already, or a file refused by :func:`inspect_upload`,
    :class:`InvalidInput`. The file is renamed into ``folder`` before the row is flushed;
    when the caller's transaction fails, the caller removes it.
    """
    require_role(actor, Role.PARTNER, doing="upload documents")
    _lock_draft(session, actor, application_id, report_version_id)
    held = session.scalar(
        select(func.count())
        .select_from(Document)
        .where(
            Document.application_id == application_id
            if application_id is not None
            else Document.report_version_id == report_version_id
        )
    )
    if (held or 0) >= MAX_DOCUMENTS:
        raise InvalidInput(
            f"There can be at most {MAX_DOCUMENTS} documents here; remove one before adding "
            "another.",
            field=FIELD,
        )
    inspected = inspect_upload(upload_stream, max_bytes=max_bytes, folder=folder)
    final = document_path(folder, secrets.token_hex(16))
    try:
        os.replace(inspected.path, final)
        sync_folder(Path(folder))
        document = Document(
            partner_id=actor.partner_id,
            application_id=application_id,
            report_version_id=report_version_id,
            stored_name=final.name,
            filename=clean_filename(filename, KINDS[inspected.content_type]),
            content_type=inspected.content_type,
            size=inspected.size,
            sha256=inspected.sha256,
            uploaded_by_id=actor.id,
            uploaded_at=now,
        )
        session.add(document)
        session.flush()
        audit.record(
            session,
            actor_id=actor.id,
            action="document.attached",
            object_type="document",
            object_id=document.id,
            after=_snapshot(document),
        )
    except BaseException:
        inspected.path.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        raise
    return document


def readable_document(session: Session, *, actor: User, document_id: int) -> Document:
    """Document ``document_id`` if ``actor`` may read it: a user of its partner with the
    partner role, a manager, finance or an admin; for a provider's invoice, only the person
    who booked the session and finance (it is health information). Anyone else gets
    :class:`NotFound`."""
    document = session.get(Document, document_id)
    if document is not None and document.redemption_id is not None:
        return _readable_invoice(session, actor, document)
    if document is not None and (
        actor.has_role(*READERS)
        or (actor.has_role(Role.PARTNER) and actor.partner_id == document.partner_id)
    ):
        return document
    raise NotFound("There is no such document, or it is not yours to see.")


def _readable_invoice(session: Session, actor: User, document: Document) -> Document:
    """An invoice, for finance or the person whose session it is; anyone else: not found."""
    booked_by = session.scalar(
        select(Wallet.user_id)
        .join(Redemption, Redemption.wallet_id == Wallet.id)
        .where(Redemption.id == document.redemption_id)
    )
    if actor.has_role(Role.FINANCE) or booked_by == actor.id:
        return document
    raise NotFound("There is no such document, or it is not yours to see.")


def remove_document(session: Session, *, actor: User, document_id: int) -> str:
    """Delete document ``document_id`` of a draft application or an unsubmitted report,
    clearing any answer that pointed at it; returns its stored name, whose file the caller
    removes once the transaction commits. Refuses as :func:`attach_document` does."""
    require_role(actor, Role.PARTNER, doing="remove documents")
    document = session.get(Document, document_id)
    if document is None or document.partner_id != actor.partner_id:
        raise NotFound("There is no such document, or it is not yours to see.")
    _lock_draft(session, actor, document.application_id, document.report_version_id)
    session.execute(
        update(ApplicationAnswer)
        .where(ApplicationAnswer.document_id == document.id)
        .values(document_id=None)
    )
    stored_name, before = document.stored_name, _snapshot(document)
    session.delete(document)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="document.removed",
        object_type="document",
        object_id=document_id,
        before=before,
    )
    return stored_name


def _lock_draft(
    session: Session, actor: User, application_id: int | None, report_version_id: int | None
) -> None:
    """Lock the actor's partner's draft application or unsubmitted report version, or
    refuse: :class:`NotFound` when it is missing or another partner's, :class:`InvalidState`
    when it is no longer open to changes."""
    if (application_id is None) == (report_version_id is None):
        raise ValueError("a document belongs to exactly one application or report version")
    if application_id is not None:
        application = session.scalar(
            select(Application)
            .where(Application.id == application_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if application is None or application.partner_id != actor.partner_id:
            raise NotFound("There is no such application, or it is not yours to see.")
        if application.state is not ApplicationState.DRAFT:
            raise InvalidState(
                "This application is no longer a draft, so its documents cannot change."
            )
        return
    version = session.scalar(
        select(ReportVersion)
        .where(ReportVersion.id == report_version_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    partner_id = (
        session.scalar(
            select(Grant.partner_id)
            .join(ReportingRequirement, ReportingRequirement.grant_id == Grant.id)
            .where(ReportingRequirement.id == version.requirement_id)
        )
        if version is not None
        else None
    )
    if version is None or partner_id != actor.partner_id:
        raise NotFound("There is no such report, or it is not yours to see.")
    if version.submitted_at is not None:
        raise InvalidState("This report has been submitted, so its documents cannot change.")


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the system lets a folder be opened)."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _snapshot(document: Document) -> dict[str, object]:
    return {
        "application_id": document.application_id,
        "report_version_id": document.report_version_id,
        "filename": document.filename,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
    }
