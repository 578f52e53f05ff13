"""Made reports kept as files under ``instance/reports/``, named by their cache key.

The key is the SHA-256 of the report's parameters, its ledger fingerprint and the digest of
its figures: the same key means the same PDF. Files are written to a temporary name and
renamed into place, so a reader never sees half a file and two makers of the same report
leave one whole file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

KEY_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def cache_key(parameters: dict[str, Any], fingerprint: str, figures: str) -> str:
    """The key of a report: parameters (canonical JSON), ledger fingerprint, figures digest."""
    payload = json.dumps(
        {"parameters": parameters, "fingerprint": fingerprint, "figures": figures},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def valid_key(key: str) -> bool:
    """Whether ``key`` has the shape of a cache key (64 lower-case hex digits)."""
    return bool(KEY_PATTERN.match(key))


def write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ReportCache:
    """The PDFs already made, one file per cache key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        if not valid_key(key):
            raise ValueError("not a report cache key")
        return self.folder / f"{key}.pdf"

    def get(self, key: str) -> bytes | None:
        """The PDF stored under ``key``, or ``None``."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def put(self, key: str, pdf: bytes) -> Path:
        """Store ``pdf`` under ``key``."""
        path = self.path(key)
        write_atomically(path, pdf)
        return path
