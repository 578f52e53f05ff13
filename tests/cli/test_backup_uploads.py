"""``flask grants backup`` takes the uploaded documents too: a tar beside the database copy,
named after it. Restored as the README says, a document comes back byte for byte."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from grants.backup import BackupError, make_backup
from grants.domain.documents import attach_document, document_path, uploads_folder
from grants.extensions import db
from grants.models import Document
from tests.domain.test_documents import NOW, build_portal, office, pdf
from tests.support import require, sign_in


def instance_app(make_app, tmp_path: Path) -> Flask:  # type: ignore[no-untyped-def]
    """An application on the SQLite file of its instance folder (whatever engine the suite
    runs on), as a deployment has it."""
    app: Flask = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'instance' / 'grants.sqlite3'}")
    return app


def attach_two(app: Flask) -> dict[int, bytes]:
    """A PDF and a DOCX attached by the demo partner's user; their ids and bytes."""
    uploaded = {}
    with app.app_context():
        session = db.session()
        portal = build_portal(session)
        for content, name in ((pdf(), "report.pdf"), (office("word"), "plan.docx")):
            document = attach_document(
                session,
                actor=portal.user,
                upload_stream=io.BytesIO(content),
                filename=name,
                folder=uploads_folder(app.instance_path),
                max_bytes=app.config["UPLOAD_MAX_BYTES"],
                application_id=portal.application.id,
                now=NOW,
            )
            uploaded[document.id] = content
        session.commit()
        db.session.remove()
    return uploaded


def test_a_restored_backup_gives_every_document_back_byte_for_byte(
    make_app, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    require(shutil.which("tar") is not None, "tar is not installed")
    app = instance_app(make_app, tmp_path)
    uploaded = attach_two(app)
    instance = Path(app.instance_path)
    uploads = uploads_folder(instance)
    (uploads / ".upload-in-progress.partial").write_bytes(b"half")

    target = tmp_path / "backups" / "grants-backup.sqlite3"
    target.parent.mkdir()
    result = app.test_cli_runner().invoke(args=["grants", "backup", "-o", str(target)])
    assert result.exit_code == 0, result.output
    archive = target.with_name("grants-backup.sqlite3.uploads.tar")
    assert f"Wrote {archive} (2 uploaded files)." in result.output
    assert sorted(path.name for path in target.parent.iterdir()) == [
        "grants-backup.sqlite3",
        "grants-backup.sqlite3.uploads.tar",
    ]
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
    assert names[0] == "uploads"
    assert len(names) == 3
    assert all(name.startswith("uploads/") and len(name) == 40 for name in names[1:])

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    for name in ("grants.sqlite3", "grants.sqlite3-wal", "grants.sqlite3-shm"):
        (instance / name).unlink(missing_ok=True)
    shutil.rmtree(uploads)

    # The README's procedure: the copy back as the database, the tar into the instance folder.
    shutil.copyfile(target, instance / "grants.sqlite3")
    subprocess.run(["tar", "-xf", str(archive), "-C", str(instance)], check=True)

    with app.app_context():
        rows = db.session.scalars(select(Document).order_by(Document.id)).all()
        assert [row.id for row in rows] == sorted(uploaded)
        for row in rows:
            restored = document_path(uploads, row.stored_name).read_bytes()
            assert restored == uploaded[row.id]
            assert hashlib.sha256(restored).hexdigest() == row.sha256
        manager = "manager@example.org"
        db.session.remove()
    client = sign_in(app, manager)
    for document_id, content in uploaded.items():
        response = client.get(f"/documents/{document_id}", buffered=True)
        assert response.status_code == 200
        assert response.data == content
    assert not (uploads / ".upload-in-progress.partial").exists()


def test_without_uploads_the_tar_holds_an_empty_folder(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = instance_app(make_app, tmp_path)
    target = tmp_path / "copy.sqlite3"
    result = app.test_cli_runner().invoke(args=["grants", "backup", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "(0 uploaded files)" in result.output
    with tarfile.open(tmp_path / "copy.sqlite3.uploads.tar") as tar:
        assert tar.getnames() == ["uploads"]
    assert not list(tmp_path.glob(".copy.sqlite3*"))


def test_an_existing_tar_is_kept_unless_overwrite(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = instance_app(make_app, tmp_path)
    attach_two(app)
    target = tmp_path / "copy.sqlite3"
    archive = tmp_path / "copy.sqlite3.uploads.tar"
    archive.write_text("keep me")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["grants", "backup", "-o", str(target)])
    assert result.exit_code == 1
    assert "copy.sqlite3.uploads.tar exists already" in result.output
    assert archive.read_text() == "keep me"
    assert not target.exists()

    again = runner.invoke(args=["grants", "backup", "-o", str(target), "--overwrite"])
    assert again.exit_code == 0, again.output
    with tarfile.open(archive) as tar:
        assert len(tar.getnames()) == 3


def test_a_failed_archive_says_the_database_was_copied(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    app = instance_app(make_app, tmp_path)
    attach_two(app)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError("Permission denied")

    monkeypatch.setattr(tarfile.TarFile, "addfile", refuse)
    target = tmp_path / "copy.sqlite3"
    with pytest.raises(BackupError, match=r"could not be archived.*database itself was copied"):
        make_backup(
            app.config["SQLALCHEMY_DATABASE_URI"],
            target,
            uploads=uploads_folder(app.instance_path),
        )
    assert target.exists()
    assert not list(tmp_path.glob(".copy.sqlite3*"))
    assert not (tmp_path / "copy.sqlite3.uploads.tar").exists()


@pytest.mark.postgres
def test_backup_on_postgres_archives_the_uploads_beside_the_dump(
    app: Flask, runner, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    require(shutil.which("pg_dump") is not None, "pg_dump is not installed")
    uploaded = attach_two(app)
    target = tmp_path / "grants.dump"
    result = runner.invoke(args=["grants", "backup", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "pg_dump" in result.output
    with app.app_context():
        stored = dict(db.session.execute(select(Document.id, Document.stored_name)).all())
        db.session.remove()
    with tarfile.open(tmp_path / "grants.dump.uploads.tar") as tar:
        for document_id, content in uploaded.items():
            member = tar.extractfile(f"uploads/{stored[document_id]}")
            assert member is not None
            assert member.read() == content
