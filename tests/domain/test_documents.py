"""Partners' documents in the domain: files judged by their content (every bad file built
here), the size limit at its boundary, who may attach, read and remove, and nothing left
behind by a refusal: no row, no file."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pydyf
import pytest
from flask import Flask
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.domain import documents, upload_checks
from grants.domain.documents import (
    attach_document,
    document_path,
    readable_document,
    remove_document,
)
from grants.domain.errors import InvalidInput, InvalidState, NotAllowed, NotFound
from grants.domain.funds import open_fund
from grants.domain.upload_checks import DOCX, JPEG, PNG, XLSX, clean_filename, inspect_upload
from grants.models import (
    Application,
    ApplicationAnswer,
    ApplicationState,
    Country,
    Document,
    FundingRound,
    FundKind,
    Grant,
    GrantCategory,
    Partner,
    QuestionKind,
    ReportingRequirement,
    ReportVersion,
    Role,
    RoundQuestion,
    User,
)
from tests.factories import make_ambassador, make_user

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)
MiB = 1024 * 1024
NOT_ACCEPTED = "This file is not a PDF, Word (DOCX), Excel (XLSX), CSV, PNG or JPEG file."


@dataclass
class Portal:
    """A partner with two users, another partner with one, staff, a draft application and
    an unsubmitted report version of the first partner's grant."""

    partner: Partner
    user: User
    colleague: User
    stranger: User
    manager: User
    finance: User
    admin: User
    application: Application
    version: ReportVersion


def partner_user(db: Session, partner: Partner, **fields: str) -> User:
    user = make_user(db, Role.PARTNER, **fields)
    user.partner_id = partner.id
    db.flush()
    return user


def build_portal(db: Session) -> Portal:
    """The people and drafts the document tests use, flushed."""
    manager = make_user(db, Role.MANAGER, email="manager@example.org")
    fund = open_fund(
        db,
        name="Partner grants 2026 (USD)",
        kind=FundKind.GRANTS,
        currency="USD",
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
    )
    backline = Partner(legal_name="Backline Care Inc.", display_name="Backline", country=Country.US)
    elsewhere = Partner(legal_name="Elsewhere Inc.", display_name="Elsewhere", country=Country.US)
    db.add_all([backline, elsewhere])
    db.flush()
    user = partner_user(db, backline, email="pat@backline.example")
    funding_round = FundingRound(
        fund_id=fund.id,
        title="Services 2026",
        categories=["services"],
        max_amount=5_000_000,
        opens_at=NOW - timedelta(days=10),
        closes_at=NOW + timedelta(days=30),
        created_by_id=manager.id,
    )
    db.add(funding_round)
    db.flush()
    application = Application(
        round_id=funding_round.id, partner_id=backline.id, created_by_id=user.id
    )
    grant = Grant(
        fund_id=fund.id,
        partner_id=backline.id,
        purpose="Counselling sessions",
        category=GrantCategory.SERVICES,
        amount=1_000_000,
        currency="USD",
        created_by_id=manager.id,
    )
    db.add_all([application, grant])
    db.flush()
    requirement = ReportingRequirement(
        grant_id=grant.id, title="Outcomes report", due_date=date(2026, 9, 30)
    )
    db.add(requirement)
    db.flush()
    version = ReportVersion(requirement_id=requirement.id, number=1, created_by_id=user.id)
    db.add(version)
    db.flush()
    return Portal(
        partner=backline,
        user=user,
        colleague=partner_user(db, backline, email="sam@backline.example"),
        stranger=partner_user(db, elsewhere, email="eve@elsewhere.example"),
        manager=manager,
        finance=make_user(db, Role.FINANCE, email="finance@example.org"),
        admin=make_user(db, Role.ADMIN, email="admin@example.org"),
        application=application,
        version=version,
    )


# Files, good and bad, built here.


def pdf(*, open_action: DictionaryObject | None = None, script: str | None = None) -> bytes:
    """A one-page PDF written by pypdf (uncompressed), with an optional open action or
    document-level script (in the names tree)."""
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    if open_action is not None:
        writer.root_object[NameObject("/OpenAction")] = open_action
    if script is not None:
        scripts = DictionaryObject(
            {NameObject("/Names"): ArrayObject([TextStringObject("greeting"), js_action(script)])}
        )
        writer.root_object[NameObject("/Names")] = DictionaryObject(
            {NameObject("/JavaScript"): writer._add_object(scripts)}
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def js_action(script: str = "app.alert('hello')") -> DictionaryObject:
    return DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject(script),
        }
    )


def pydyf_pdf(
    page_extra: Callable[[pydyf.PDF], dict[str, object]] | None = None, *, compress: bool
) -> bytes:
    """A one-page PDF written by pydyf, with its objects in a compressed object stream when
    ``compress``; ``page_extra`` adds entries to the page."""
    document = pydyf.PDF()
    page = {
        "Type": "/Page",
        "Parent": document.pages.reference,
        "MediaBox": pydyf.Array([0, 0, 200, 200]),
        **(page_extra(document) if page_extra else {}),
    }
    document.add_page(pydyf.Dictionary(page))
    out = io.BytesIO()
    document.write(out, compress=compress)
    return out.getvalue()


def page_open_script(document: pydyf.PDF) -> dict[str, object]:
    """A page action (``/AA``) that runs a script held in its own object."""
    action = pydyf.Dictionary(
        {"Type": "/Action", "S": "/JavaScript", "JS": pydyf.String("app.alert(1)")}
    )
    document.add_object(action)
    return {"AA": pydyf.Dictionary({"O": action.reference})}


def escaped_annotation_script(document: pydyf.PDF) -> dict[str, object]:
    """A link annotation whose action names JavaScript with ``#`` escapes, as a PDF may."""
    action = pydyf.Dictionary({"S": "/Java#53cript", "J#53": pydyf.String("app.alert(1)")})
    link = pydyf.Dictionary(
        {"Type": "/Annot", "Subtype": "/Link", "Rect": pydyf.Array([0, 0, 50, 50]), "A": action}
    )
    document.add_object(link)
    return {"Annots": pydyf.Array([link.reference])}


def office(kind: str, extra: dict[str, bytes] | None = None) -> bytes:
    """A small DOCX (``word``) or XLSX (``xl``) with the members such a file has."""
    main = "word/document.xml" if kind == "word" else "xl/workbook.xml"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr(main, '<?xml version="1.0"?><document>Our budget</document>')
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def zeros_docx(megabytes: int) -> bytes:
    """A DOCX whose document is ``megabytes`` MiB of zeros, deflated (about 1,000 to 1)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(megabytes):
                member.write(bytes(MiB))
    return out.getvalue()


def lying_docx() -> bytes:
    """A DOCX whose document is 20 MiB of zeros while both its headers say 1,000 bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", bytes(20 * MiB))
    data = bytearray(out.getvalue())
    headers = ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46))
    """Local and central headers: signature, and offsets of the size, name length, name."""
    for signature, size_at, length_at, name_at in headers:
        start = data.find(signature)
        while start != -1:
            (length,) = struct.unpack_from("<H", data, start + length_at)
            if data[start + name_at : start + name_at + length] == b"word/document.xml":
                struct.pack_into("<I", data, start + size_at, 1000)
            start = data.find(signature, start + 4)
    return bytes(data)


def image(format_name: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, format=format_name)
    return out.getvalue()


def png_of_size(size: int) -> bytes:
    """Bytes a PNG starts with, padded to exactly ``size``."""
    head = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    return head + bytes(size - len(head))


class Endless(io.RawIOBase):
    """A stream of zeros after a PNG's first bytes that never ends, counting what is read."""

    def __init__(self) -> None:
        self.given = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "the whole stream was asked for"
        chunk = png_of_size(max(size, 16))[:size] if self.given == 0 else bytes(size)
        self.given += len(chunk)
        return chunk


# Helpers.


@pytest.fixture
def portal(db: Session) -> Portal:
    return build_portal(db)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "instance" / "uploads"


def attach(
    db: Session,
    portal: Portal,
    folder: Path,
    data: bytes,
    filename: str = "file.bin",
    *,
    actor: User | None = None,
    max_bytes: int = 20 * MiB,
    to_report: bool = False,
) -> Document:
    return attach_document(
        db,
        actor=actor or portal.user,
        upload_stream=io.BytesIO(data),
        filename=filename,
        folder=folder,
        max_bytes=max_bytes,
        application_id=None if to_report else portal.application.id,
        report_version_id=portal.version.id if to_report else None,
        now=NOW,
    )


def stored_files(folder: Path) -> list[str]:
    """Every file in the uploads folder, hidden temporary ones included."""
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def document_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Document)) or 0


def refused(
    db: Session,
    portal: Portal,
    folder: Path,
    data: bytes,
    filename: str = "file.bin",
    *,
    max_bytes: int = 20 * MiB,
) -> str:
    """The message ``data`` is refused with; asserts nothing was kept."""
    with pytest.raises(InvalidInput) as raised:
        attach(db, portal, folder, data, filename, max_bytes=max_bytes)
    assert raised.value.field == "file"
    assert document_count(db) == 0
    assert stored_files(folder) == []
    return raised.value.message


# Content.


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "shown"),
    [
        (lambda: pdf(), "Annual report.pdf", "application/pdf", "Annual report.pdf"),
        (lambda: pydyf_pdf(compress=True), "plain.pdf", "application/pdf", "plain.pdf"),
        (lambda: office("word"), "Plan.docx", DOCX.content_type, "Plan.docx"),
        (lambda: office("xl"), "Budget.XLSX", XLSX.content_type, "Budget.XLSX"),
        (lambda: image("PNG"), "logo.png", PNG.content_type, "logo.png"),
        (lambda: image("JPEG"), "photo.jpeg", JPEG.content_type, "photo.jpeg"),
        (lambda: image("JPEG"), "photo.png", JPEG.content_type, "photo.png.jpg"),
        (lambda: b"line,amount\r\nrent,100\r\nfood,50\r\n", "budget.csv", "text/csv", "budget.csv"),
        (
            lambda: "\ufeffname;montant\nZoë;12,50\nÉloïse;3\n".encode(),
            "budget.txt",
            "text/csv",
            "budget.txt.csv",
        ),
    ],
)
def test_accepted_files_are_stored_by_content_with_their_hash(
    db: Session,
    portal: Portal,
    folder: Path,
    data: Callable[[], bytes],
    filename: str,
    content_type: str,
    shown: str,
) -> None:
    content = data()
    document = attach(db, portal, folder, content, filename)
    assert document.content_type == content_type
    assert document.filename == shown
    assert document.size == len(content)
    assert document.partner_id == portal.partner.id
    assert document.uploaded_by_id == portal.user.id
    assert document.uploaded_at == NOW
    assert stored_files(folder) == [document.stored_name]
    assert document_path(folder, document.stored_name).read_bytes() == content
    assert document.sha256 == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"These are our notes for the board.\nThey are not a PDF at all.\n", "report.pdf"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(300), "letter.docx"),
        (b"\x7fELF\x02\x01\x01" + bytes(300), "budget.xlsx"),
    ],
)
def test_renamed_files_are_refused(
    db: Session, portal: Portal, folder: Path, data: bytes, filename: str
) -> None:
    assert refused(db, portal, folder, data, filename) == NOT_ACCEPTED


def test_a_zip_of_other_things_renamed_docx_is_refused(
    db: Session, portal: Portal, folder: Path
) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("setup.exe", b"MZ" + bytes(100))
    assert refused(db, portal, folder, out.getvalue(), "letter.docx") == NOT_ACCEPTED
    no_types = io.BytesIO()
    with zipfile.ZipFile(no_types, "w") as archive:
        archive.writestr("word/document.xml", "<document/>")
    assert refused(db, portal, folder, no_types.getvalue(), "letter.docx") == NOT_ACCEPTED


@pytest.mark.parametrize(
    "data",
    [
        lambda: pdf(open_action=js_action()),
        lambda: pdf(script="app.alert('names tree')"),
        lambda: pydyf_pdf(page_open_script, compress=True),
        lambda: pydyf_pdf(escaped_annotation_script, compress=False),
    ],
    ids=["open-action", "names-tree", "page-action-in-object-stream", "escaped-names"],
)
def test_a_pdf_with_javascript_anywhere_is_refused(
    db: Session, portal: Portal, folder: Path, data: Callable[[], bytes]
) -> None:
    assert refused(db, portal, folder, data(), "report.pdf") == (
        "This PDF contains JavaScript, which we do not accept; save it again without scripts "
        "(for example by printing it to PDF)."
    )


def test_javascript_hidden_from_the_raw_bytes_is_found_by_reading_every_object(
    tmp_path: Path,
) -> None:
    for data in (
        pydyf_pdf(page_open_script, compress=True),
        pydyf_pdf(escaped_annotation_script, compress=False),
    ):
        assert upload_checks.RAW_SCRIPT.search(data) is None
        source = tmp_path / "scripted.pdf"
        source.write_bytes(data)
        with pytest.raises(InvalidInput, match="contains JavaScript"):
            upload_checks._check_pdf(source)


def test_encrypted_and_damaged_pdfs_are_refused_with_a_reason(
    db: Session, portal: Portal, folder: Path
) -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    assert "protected with a password" in refused(db, portal, folder, out.getvalue())
    assert "damaged and cannot be read" in refused(db, portal, folder, b"%PDF-1.7\n" + bytes(50))
    assert "damaged and cannot be read" in refused(db, portal, folder, pdf()[:40])


def test_object_streams_that_expand_too_far_are_refused(
    db: Session, portal: Portal, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload_checks, "EXPANDED_MAX", 100)
    assert "expands to far more" in refused(db, portal, folder, pydyf_pdf(compress=True))
    assert attach(db, portal, folder, pdf(), "uncompressed.pdf").content_type == "application/pdf"


def test_a_docx_zip_bomb_is_refused_by_its_declared_size(
    db: Session, portal: Portal, folder: Path
) -> None:
    bomb = zeros_docx(200)
    assert len(bomb) < MiB
    assert "expands to far more than its size" in refused(db, portal, folder, bomb, "a.docx")


def test_a_member_compressed_over_a_hundred_to_one_is_refused(
    db: Session, portal: Portal, folder: Path
) -> None:
    assert "expands to far more" in refused(db, portal, folder, zeros_docx(10), "a.docx")


def test_a_zip_whose_headers_lie_about_its_size_is_caught_when_decompressed(
    db: Session, portal: Portal, folder: Path
) -> None:
    liar = lying_docx()
    with zipfile.ZipFile(io.BytesIO(liar)) as archive:
        assert archive.getinfo("word/document.xml").file_size == 1000
    assert "damaged and cannot be opened" in refused(db, portal, folder, liar, "a.docx")


def test_word_and_excel_files_with_macros_are_refused(
    db: Session, portal: Portal, folder: Path
) -> None:
    macros = office("xl", {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + bytes(100)})
    assert "contains macros" in refused(db, portal, folder, macros, "budget.xlsx")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"name,amount\nrent,1\x0000\nfood,2\n", NOT_ACCEPTED),
        (b"name,amount\nRen\xe9e,100\nfood,2\n", "not in UTF-8"),
        (b"name,amount\nrent,100\x07\nfood,2\n", NOT_ACCEPTED),
        (b"just one line, with a comma\n", NOT_ACCEPTED),
        (b"one column\nanother row\n", NOT_ACCEPTED),
        (
            b"Dear funder, here is our report.\nWe spent, saved, and grew.\nThanks\nBye, all, "
            b"of, us\n",
            NOT_ACCEPTED,
        ),
    ],
)
def test_text_that_is_not_a_clean_csv_is_refused(
    db: Session, portal: Portal, folder: Path, data: bytes, message: str
) -> None:
    assert message in refused(db, portal, folder, data, "budget.csv")


def test_an_empty_file_is_refused(db: Session, portal: Portal, folder: Path) -> None:
    assert refused(db, portal, folder, b"") == "This file is empty; choose the file again."


# Size.


def test_the_limit_is_inclusive_with_a_small_limit(
    db: Session, portal: Portal, folder: Path
) -> None:
    message = refused(db, portal, folder, png_of_size(1001), max_bytes=1000)
    assert message.startswith("This file is larger than 1,000 bytes, the most one upload can be")
    document = attach(db, portal, folder, png_of_size(1000), "a.png", max_bytes=1000)
    assert document.size == 1000
    assert stored_files(folder) == [document.stored_name]


def test_the_default_limit_takes_exactly_20_mib_and_refuses_one_byte_more(
    app: Flask, db: Session, portal: Portal, folder: Path
) -> None:
    limit = app.config["UPLOAD_MAX_BYTES"]
    assert limit == 20 * MiB
    message = refused(db, portal, folder, png_of_size(limit + 1), max_bytes=limit)
    assert message.startswith("This file is larger than 20 MB, the most one upload can be")
    document = attach(db, portal, folder, png_of_size(limit), "scan.png", max_bytes=limit)
    assert document_path(folder, document.stored_name).stat().st_size == limit


def test_reading_stops_one_byte_past_the_limit(folder: Path) -> None:
    endless = Endless()
    with pytest.raises(InvalidInput, match="larger than 64 KB"):
        inspect_upload(endless, max_bytes=64 * 1024, folder=folder)  # type: ignore[arg-type]
    assert endless.given == 64 * 1024 + 1
    assert stored_files(folder) == []


def test_inspection_leaves_a_temporary_file_for_the_caller(folder: Path) -> None:
    inspected = inspect_upload(io.BytesIO(office("word")), max_bytes=MiB, folder=folder)
    assert inspected.path.parent == folder
    assert inspected.path.name.startswith(".upload-")
    assert inspected.content_type == DOCX.content_type
    assert inspected.extension == "docx"
    assert inspected.path.read_bytes() == office("word")


# Names.


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("C:\\Users\\pat\\Desktop\\Budget 2026.xlsx", "Budget 2026.xlsx"),
        ("../../etc/passwd", "passwd.xlsx"),
        ("Bud\x00get\r\n\t2026\u202e.xlsx", "Budget 2026.xlsx"),
        ("...", "document.xlsx"),
        ("Übersicht \u2013 Haushalt.xlsx", "Übersicht \u2013 Haushalt.xlsx"),
        ("x" * 300 + ".xlsx", "x" * 195 + ".xlsx"),
        ("budget.xlsx.exe", "budget.xlsx.exe.xlsx"),
    ],
)
def test_filenames_are_cleaned_and_end_in_their_type(raw: str, shown: str) -> None:
    cleaned = clean_filename(raw, XLSX)
    assert cleaned == shown
    assert len(cleaned) <= 200


def test_stored_names_are_never_paths(folder: Path) -> None:
    for name in ("../secret", "", "ABCDEF" * 6, "a" * 31):
        with pytest.raises(ValueError, match="not a stored document name"):
            document_path(folder, name)


# Who, and when.


def test_a_report_version_takes_documents_too(db: Session, portal: Portal, folder: Path) -> None:
    document = attach(db, portal, folder, office("word"), "report.docx", to_report=True)
    assert document.report_version_id == portal.version.id
    assert document.application_id is None


def test_another_partner_gets_not_found_and_staff_are_not_allowed(
    db: Session, portal: Portal, folder: Path
) -> None:
    with pytest.raises(NotFound):
        attach(db, portal, folder, office("word"), actor=portal.stranger)
    with pytest.raises(NotFound):
        attach(db, portal, folder, office("word"), actor=portal.stranger, to_report=True)
    with pytest.raises(NotAllowed):
        attach(db, portal, folder, office("word"), actor=portal.manager)
    assert document_count(db) == 0
    assert stored_files(folder) == []


def test_only_drafts_take_documents(db: Session, portal: Portal, folder: Path) -> None:
    portal.application.state = ApplicationState.SUBMITTED
    portal.application.submitted_at = NOW
    portal.version.submitted_at = NOW
    portal.version.submitted_by_id = portal.user.id
    db.flush()
    with pytest.raises(InvalidState, match="no longer a draft"):
        attach(db, portal, folder, office("word"))
    with pytest.raises(InvalidState, match="has been submitted"):
        attach(db, portal, folder, office("word"), to_report=True)
    assert document_count(db) == 0
    assert stored_files(folder) == []


def test_at_most_twenty_documents_each(db: Session, portal: Portal, folder: Path) -> None:
    for number in range(documents.MAX_DOCUMENTS):
        attach(db, portal, folder, f"n,value\n{number},1\n".encode(), f"row{number}.csv")
    with pytest.raises(InvalidInput, match="at most 20 documents"):
        attach(db, portal, folder, b"n,value\nlast,1\n", "last.csv")
    assert document_count(db) == 20
    assert len(stored_files(folder)) == 20
    attach(db, portal, folder, b"n,value\nreport,1\n", "report.csv", to_report=True)


def test_readers_are_the_partners_own_people_and_staff(
    db: Session, portal: Portal, folder: Path
) -> None:
    document = attach(db, portal, folder, office("word"))
    for reader in (portal.user, portal.colleague, portal.manager, portal.finance, portal.admin):
        assert readable_document(db, actor=reader, document_id=document.id) is document
    ambassador = make_ambassador(db).user
    for outsider in (portal.stranger, ambassador):
        with pytest.raises(NotFound):
            readable_document(db, actor=outsider, document_id=document.id)
    with pytest.raises(NotFound):
        readable_document(db, actor=portal.manager, document_id=document.id + 1)


def test_removal_returns_the_file_to_delete_and_clears_answers(
    db: Session, portal: Portal, folder: Path
) -> None:
    document = attach(db, portal, folder, office("word"))
    question = RoundQuestion(
        round_id=portal.application.round_id, position=1, prompt="Your plan", kind=QuestionKind.FILE
    )
    db.add(question)
    db.flush()
    answer = ApplicationAnswer(
        application_id=portal.application.id, question_id=question.id, document_id=document.id
    )
    db.add(answer)
    db.flush()
    with pytest.raises(NotFound):
        remove_document(db, actor=portal.stranger, document_id=document.id)
    with pytest.raises(NotAllowed):
        remove_document(db, actor=portal.manager, document_id=document.id)
    stored = remove_document(db, actor=portal.colleague, document_id=document.id)
    assert stored == document.stored_name
    assert document_count(db) == 0
    db.refresh(answer)
    assert answer.document_id is None
    assert stored_files(folder) == [stored], "the caller removes the file after commit"


def test_a_submitted_applications_documents_stay(db: Session, portal: Portal, folder: Path) -> None:
    document = attach(db, portal, folder, office("word"))
    portal.application.state = ApplicationState.SUBMITTED
    db.flush()
    with pytest.raises(InvalidState):
        remove_document(db, actor=portal.user, document_id=document.id)
    assert document_count(db) == 1


def test_a_failed_flush_leaves_no_file(
    db: Session, portal: Portal, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> int:
        raise RuntimeError("audit chain unavailable")

    monkeypatch.setattr(documents.audit, "record", broken)
    with pytest.raises(RuntimeError, match="audit chain unavailable"):
        attach(db, portal, folder, office("word"))
    db.rollback()
    assert stored_files(folder) == []
