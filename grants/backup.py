"""Consistent copies of the database while the application runs.

SQLite: the online backup API (``sqlite3.Connection.backup``) copies every page inside one
read transaction, so the copy is the database as of one moment, whatever is being written
meanwhile; with WAL, writers are not blocked while it runs. The copy is written beside the
target and renamed into place, so a half-made file never carries the target's name. It is a
plain database file: restoring is copying it back as the database (with the application
stopped), or pointing ``GRANTS_DATABASE_URL`` at it.

PostgreSQL: ``pg_dump`` in its custom format, which takes one consistent snapshot too.
Restore with ``pg_restore --no-owner --dbname=… FILE`` into an empty database. ``pg_dump``
comes with the PostgreSQL client tools and should be the server's major version or newer.

Uploaded documents: after the database, the files of the instance folder's ``uploads/`` go
into a tar beside it, named after it (``FILE.uploads.tar``), made as a ``.partial`` file and
renamed into place; its members are ``uploads/<stored name>``. Restore them, with the
application stopped, by moving the instance folder's ``uploads/`` aside and extracting the
tar into the instance folder: ``tar -xf FILE.uploads.tar -C instance``. The database is
copied first, since a document's file is written before its row commits and removed only
after its removal commits: every document in the copy has its file in the tar, unless it
was removed while the backup ran. A file uploaded meanwhile is in the tar with no row,
which does no harm.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class BackupError(Exception):
    """A backup could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class Backup:
    """A finished backup: where it is, how big, and how it was made."""

    path: Path
    size: int
    method: str
    uploads: Path | None = None
    """The tar of the uploaded files, when they were backed up too."""
    uploaded_files: int = 0


UPLOADS_SUFFIX = ".uploads.tar"


def uploads_archive(target: Path) -> Path:
    """Where the uploaded files of the backup ``target`` go: ``target`` + ``.uploads.tar``."""
    return target.with_name(target.name + UPLOADS_SUFFIX)


def make_backup(
    database_url: str, target: Path, *, overwrite: bool = False, uploads: Path | None = None
) -> Backup:
    """Copy the database named by ``database_url`` to ``target`` consistently, and then,
    given the ``uploads`` folder, its files to :func:`uploads_archive`."""
    target = Path(target)
    for path in [target, uploads_archive(target)] if uploads is not None else [target]:
        if path.exists() and not overwrite:
            raise BackupError(f"{path} exists already; choose another file or pass --overwrite.")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        backup = backup_sqlite(_sqlite_path(url), target)
    elif url.get_backend_name() == "postgresql":
        backup = backup_postgres(url, target)
    else:
        raise BackupError(f"Backups of {url.get_backend_name()} databases are not supported.")
    if uploads is None:
        return backup
    archive = uploads_archive(target)
    try:
        count = backup_uploads(uploads, archive)
    except BackupError as error:
        raise BackupError(f"{error} The database itself was copied to {target}.") from None
    return replace(backup, uploads=archive, uploaded_files=count)


def backup_uploads(folder: Path, target: Path) -> int:
    """Write the files of ``folder`` (a missing folder has none) to the tar ``target`` as
    ``uploads/<name>``, and return how many there were. Uploads still being written (hidden
    ``.partial`` files) are left out; the tar is written beside ``target``, fsynced and
    renamed into place."""
    handle, temporary_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".partial", dir=target.parent
    )
    temporary = Path(temporary_name)
    count = 0
    try:
        with os.fdopen(handle, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
                folder_entry = tarfile.TarInfo("uploads")
                folder_entry.type, folder_entry.mode = tarfile.DIRTYPE, 0o700
                archive.addfile(folder_entry)
                for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                    if path.name.startswith(".") or not path.is_file():
                        continue
                    try:
                        file = path.open("rb")
                    except FileNotFoundError:
                        continue
                    with file:
                        archive.addfile(
                            archive.gettarinfo(arcname=f"uploads/{path.name}", fileobj=file), file
                        )
                    count += 1
            raw.flush()
            os.fsync(raw.fileno())
        temporary.replace(target)
    except OSError as error:
        raise BackupError(f"The files in {folder} could not be archived: {error}.") from None
    finally:
        temporary.unlink(missing_ok=True)
    return count


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory SQLite database has no file to back up.")
    path = Path(url.database)
    if not path.is_file():
        raise BackupError(f"The database file {path} does not exist.")
    return path


def backup_sqlite(source: Path, target: Path) -> Backup:
    """Copy the SQLite database at ``source`` to ``target`` with the online backup API.

    All pages are copied in one step, inside one read transaction of the source: the copy
    is the database at one commit. The copy is checked with ``PRAGMA integrity_check`` and
    left in rollback-journal mode, so it is one self-contained file.
    """
    handle, temporary_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".partial", dir=target.parent
    )
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        with (
            closing(sqlite3.connect(source)) as origin,
            closing(sqlite3.connect(temporary)) as copy,
        ):
            origin.execute("PRAGMA busy_timeout = 5000")
            origin.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode = DELETE")
            verdict = copy.execute("PRAGMA integrity_check").fetchone()
            if verdict is None or verdict[0] != "ok":
                raise BackupError(f"The copy failed SQLite's integrity check: {verdict}.")
        temporary.replace(target)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite could not copy {source}: {error}.") from None
    finally:
        temporary.unlink(missing_ok=True)
    return Backup(target, target.stat().st_size, "SQLite online backup")


def pg_dump_command(url: URL, target: Path) -> tuple[list[str], dict[str, str]]:
    """The ``pg_dump`` command line for ``url`` and the environment it runs with.

    The password travels in ``PGPASSWORD``, never on the command line. A ``search_path``
    set through the URL's ``options`` (a database shared by schemas) limits the dump to
    that schema.
    """
    executable = shutil.which("pg_dump")
    if executable is None:
        raise BackupError(
            "pg_dump was not found on PATH. Install the PostgreSQL client tools "
            "(for example the postgresql-client package), the server's major version or newer."
        )
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    conninfo = url.set(drivername="postgresql").difference_update_query(list(url.query))
    conninfo = conninfo._replace(password=None)
    command = [
        executable,
        "--format=custom",
        "--no-owner",
        f"--file={target}",
    ]
    options = url.query.get("options")
    for option in [options] if isinstance(options, str) else list(options or ()):
        if "search_path=" in option:
            schema = option.split("search_path=", 1)[1].split()[0].split(",")[0]
            command.append(f"--schema={schema}")
    command.append(f"--dbname={conninfo.render_as_string(hide_password=False)}")
    return command, environment


def backup_postgres(url: URL, target: Path) -> Backup:
    """Dump the PostgreSQL database at ``url`` to ``target`` with ``pg_dump``."""
    command, environment = pg_dump_command(url, target)
    partial = target.with_name(f".{target.name}.partial")
    command = [f"--file={partial}" if part.startswith("--file=") else part for part in command]
    try:
        finished = subprocess.run(  # noqa: S603 - a fixed executable and arguments, no shell
            command, env=environment, capture_output=True, text=True, check=False
        )
        if finished.returncode != 0:
            raise BackupError(f"pg_dump failed: {finished.stderr.strip() or finished.returncode}")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return Backup(target, target.stat().st_size, "pg_dump (custom format)")
