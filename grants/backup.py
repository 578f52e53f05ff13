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
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from dataclasses import dataclass
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


def make_backup(database_url: str, target: Path, *, overwrite: bool = False) -> Backup:
    """Copy the database named by ``database_url`` to ``target`` consistently."""
    target = Path(target)
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists already; choose another file or pass --overwrite.")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return backup_sqlite(_sqlite_path(url), target)
    if url.get_backend_name() == "postgresql":
        return backup_postgres(url, target)
    raise BackupError(f"Backups of {url.get_backend_name()} databases are not supported.")


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
