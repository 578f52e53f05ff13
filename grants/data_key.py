"""Encryption of small secrets at rest (a provider's bank details) with the data keys.

The keys are Fernet keys, newest first: the newest encrypts, and every key in the list can
decrypt, so a key is retired only after a rotation of every token, begun once every process
had taken up the newer key (:func:`data_keys` notices a replaced key file at once). They come
from the ``DATA_KEY`` setting (the ``GRANTS_DATA_KEY`` environment variable), a comma-separated
list; or, when that is unset, from ``instance/data.key``, one key a line, generated on first
use and readable by its owner alone.

The key file suits a single host. Several hosts (or a host whose instance folder is not kept)
must share one list through ``GRANTS_DATA_KEY``: each would otherwise make its own key and
could not read the others' tokens. Either way, the keys are backed up apart from the database
(a backup of one without the other cannot be read), and are never logged or printed: no
message here repeats a key, a token or the text it holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

KEY_FILE = "data.key"
"""Name of the key file in the instance folder."""
VARIABLE = "GRANTS_DATA_KEY"
"""The environment variable that gives the keys (as the ``DATA_KEY`` setting)."""
SETTING = "DATA_KEY"
EXTENSION = "data_key"
"""Where :func:`data_keys` keeps an app's keys (``app.extensions``)."""


class DataKeyError(Exception):
    """The data keys are missing, malformed, or do not open a token: an operator's problem
    (restore or fix the key list), never the user's input."""


class DataKeys(MultiFernet):
    """The keys in use, newest first, and where they came from (for error messages)."""

    def __init__(self, fernets: list[Fernet], *, source: str) -> None:
        super().__init__(fernets)
        self.source = source
        self.count = len(fernets)


def generate_key() -> str:
    """A new random Fernet key (44 characters of URL-safe base64)."""
    return Fernet.generate_key().decode("ascii")


def encrypt(keys: MultiFernet, plaintext: str) -> str:
    """``plaintext`` encrypted (and authenticated) with the newest key, as an ASCII token."""
    return keys.encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(keys: MultiFernet, token: str) -> str:
    """The text inside ``token``, or :class:`DataKeyError` when none of the keys opens it."""
    try:
        return keys.decrypt(_token_bytes(token)).decode("utf-8")
    except (InvalidToken, UnicodeDecodeError):
        raise DataKeyError(_unreadable(keys)) from None


def rotate_token(keys: MultiFernet, token: str) -> str:
    """``token`` encrypted again with the newest key (its time stamp kept), or
    :class:`DataKeyError` when none of the keys opens it."""
    try:
        return keys.rotate(_token_bytes(token)).decode("ascii")
    except InvalidToken:
        raise DataKeyError(_unreadable(keys)) from None


def data_keys(app: Flask) -> DataKeys:
    """The app's keys, read once and kept in ``app.extensions``.

    Read again when the setting changes or the key file is replaced (by :func:`add_key`, in
    this process or another: a look at the file's inode, size and time costs one ``stat``),
    so that every process takes up a new key as soon as it is there. An app whose
    configuration has no ``DATA_KEY`` at all reads ``GRANTS_DATA_KEY`` itself.
    """
    configured = app.config[SETTING] if SETTING in app.config else os.environ.get(VARIABLE)
    cached = app.extensions.get(EXTENSION)
    if configured is not None:
        signature: tuple[object, ...] = ("setting", configured)
        if cached is not None and cached[0] == signature:
            return cast(DataKeys, cached[1])
        keys = load_keys(configured, app.instance_path)
    else:
        key_file = Path(app.instance_path) / KEY_FILE
        with contextlib.suppress(FileNotFoundError):
            if cached is not None and cached[0] == _file_signature(key_file.stat()):
                return cast(DataKeys, cached[1])
        if not key_file.exists():
            _create_key_file(key_file)
        lines, signature = _read(key_file)
        keys = _parse(lines, source=str(key_file))
    app.extensions[EXTENSION] = (signature, keys)
    return keys


def current_data_keys() -> DataKeys:
    """The keys of the app handling the current request or command."""
    return data_keys(current_app)


def load_keys(configured: object, instance_path: str | os.PathLike[str]) -> DataKeys:
    """The keys from ``configured`` (the ``DATA_KEY`` setting: a comma-separated list, or a
    list of keys) or, when it is ``None``, from the key file, made on first use.

    Raises :class:`DataKeyError` when the setting is empty or holds something that is not a
    Fernet key, or when the key file is empty or damaged.
    """
    if configured is None:
        key_file = Path(instance_path) / KEY_FILE
        if not key_file.exists():
            _create_key_file(key_file)
        return _parse(_read(key_file)[0], source=str(key_file))
    source = f"{VARIABLE} (the {SETTING} setting)"
    if isinstance(configured, str):
        items = configured.split(",")
    elif isinstance(configured, list | tuple) and all(isinstance(i, str) for i in configured):
        items = list(configured)
    else:
        raise DataKeyError(f"{source} must be a comma-separated list of Fernet keys.")
    return _parse(items, source=source)


def add_key(instance_path: str | os.PathLike[str], *, configured: object = None) -> None:
    """Put a new key in front of the keys in ``instance/data.key``, keeping all the others.

    The file is replaced whole (a new file, readable by its owner alone, renamed over the
    old one), so no process ever reads half of it; two rotations at once take turns. Refused
    with :class:`DataKeyError` when the keys come from ``GRANTS_DATA_KEY`` (or ``configured``,
    the app's ``DATA_KEY`` setting, is given): the file is not in use then.
    """
    if configured is not None or os.environ.get(VARIABLE) is not None:
        raise DataKeyError(
            f"The data keys come from {VARIABLE}, not from {KEY_FILE}: add a new key (from "
            f"generate_key) at the front of {VARIABLE}, keep the older keys after it, and "
            "restart the app before rotating tokens."
        )
    key_file = Path(instance_path) / KEY_FILE
    key_file.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(key_file.with_name(KEY_FILE + ".lock")):
        if not key_file.exists():
            _create_key_file(key_file)
        existing = [line.strip() for line in _read(key_file)[0] if line.strip()]
        _parse(existing, source=str(key_file))
        temporary = _temporary_name(key_file)
        try:
            _write_private(temporary, [generate_key(), *existing])
            os.replace(temporary, key_file)
        finally:
            temporary.unlink(missing_ok=True)
        _sync_directory(key_file.parent)


def _parse(items: list[str], *, source: str) -> DataKeys:
    """The keys in ``items`` (blank items skipped), newest first."""
    keys = [item.strip() for item in items if item.strip()]
    if not keys:
        raise DataKeyError(
            f"{source} holds no data key: give the keys tokens were encrypted with, newest "
            "first (a new key alone would leave every stored token unreadable)."
        )
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, TypeError):
            raise DataKeyError(
                f"{source}: key {position} of {len(keys)} is not a Fernet key (44 characters "
                "of URL-safe base64, as generate_key makes)."
            ) from None
    return DataKeys(fernets, source=source)


def _create_key_file(key_file: Path) -> None:
    """Make the key file with one new key, unless another process makes it first.

    The key is written to a private file of this process's own, then linked into place:
    linking fails when the key file exists, so of two processes racing exactly one key file
    results, and neither ever sees one half written. The loser reads the winner's key.
    """
    key_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_name(key_file)
    try:
        _write_private(temporary, [generate_key()])
        with contextlib.suppress(FileExistsError):
            os.link(temporary, key_file)
            _sync_directory(key_file.parent)
    finally:
        temporary.unlink(missing_ok=True)


def _write_private(path: Path, keys: list[str]) -> None:
    """Write ``keys``, one a line, to a new file readable by its owner alone, to disk."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write("".join(f"{key}\n" for key in keys))
        handle.flush()
        os.fsync(handle.fileno())


def _read(key_file: Path) -> tuple[list[str], tuple[object, ...]]:
    """The key file's lines and the signature of the very file they were read from, or
    :class:`DataKeyError` when it cannot be read as text."""
    try:
        with key_file.open("rb") as handle:
            signature = _file_signature(os.fstat(handle.fileno()))
            return handle.read().decode("ascii").splitlines(), signature
    except (OSError, UnicodeDecodeError) as error:
        raise DataKeyError(
            f"{key_file} cannot be read ({type(error).__name__}): restore it from a backup."
        ) from None


def _file_signature(stat: os.stat_result) -> tuple[object, ...]:
    """What changes when the key file is replaced."""
    return ("file", stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _temporary_name(key_file: Path) -> Path:
    """A name beside the key file that no other process or thread is using."""
    return key_file.with_name(f".{KEY_FILE}.{secrets.token_hex(8)}.new")


def _sync_directory(directory: Path) -> None:
    """Make a new or renamed file in ``directory`` survive a crash."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (made if missing) for the block."""
    descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _token_bytes(token: str) -> bytes:
    """``token`` as bytes; a token holds only ASCII, so anything else cannot be one."""
    try:
        return token.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken from None


def _unreadable(keys: MultiFernet) -> str:
    """What an operator is told when no key opens a token: which key list to restore."""
    if isinstance(keys, DataKeys):
        where = f"the {keys.count} key{'s' if keys.count != 1 else ''} in {keys.source}"
    else:
        where = f"the data keys ({VARIABLE}, or instance/{KEY_FILE} when it is unset)"
    return (
        f"A stored token could not be decrypted with {where}: it was encrypted with a key "
        "that is no longer listed, or it is damaged. Restore the key list in use when it was "
        "stored (a retired key goes back after the current ones) and try again."
    )
