"""Statements of the ledger's hot path, compiled once and run on the driver's own cursor.

Running a statement through SQLAlchemy costs 20 to 40 µs of Python (execution context,
result object, events), which is more than SQLite or a loopback PostgreSQL takes to run it;
an operation that posts, audits and records its idempotency key runs a dozen of them. A
:class:`Prepared` statement is written with SQLAlchemy Core against the models' tables, so
its SQL and parameter types are the models' own, compiled for each dialect on first use, and
then run straight on the connection of the session's current transaction. Engine events
(``before_cursor_execute`` and the like) do not see these statements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase


@dataclass(frozen=True)
class _Form:
    """One statement compiled for one dialect: its SQL, and how to lay out its parameters."""

    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]
    """Values the statement carries itself (literals in its expressions)."""
    processors: Mapping[str, Callable[[Any], Any]]
    positional: bool

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        given = {**self.fixed, **values}
        processed = {
            name: self.processors[name](given[name]) if name in self.processors else given[name]
            for name in self.names
        }
        if self.positional:
            return tuple(processed[name] for name in self.names)
        return processed


class Prepared:
    """A Core statement run without SQLAlchemy's per-execution machinery.

    Every bound parameter without a value of its own must be named (``bindparam("name")``)
    and given on each run. Values go through the column types' own bind processing, so a row
    written here reads back exactly as one the ORM wrote. Pending ORM changes are flushed
    first, as ``Session.execute`` would do.
    """

    def __init__(self, statement: UpdateBase) -> None:
        self.statement = statement
        self._forms: dict[tuple[str, str], _Form] = {}

    def run(self, session: Session, values: Mapping[str, Any] | None = None) -> Any:
        """Run the statement in the session's transaction; returns the driver's cursor."""
        form, cursor = self._open(session)
        cursor.execute(form.sql, form.parameters(values or {}))
        return cursor

    def run_many(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once for each of ``rows``, in the session's transaction."""
        form, cursor = self._open(session)
        cursor.executemany(form.sql, [form.parameters(row) for row in rows])

    def _open(self, session: Session) -> tuple[_Form, Any]:
        """The statement's form for the session's database, and a cursor in its transaction."""
        session.flush()
        connection = session.connection()
        dialect = connection.dialect
        form = self._forms.get((dialect.name, dialect.paramstyle)) or self._compile(dialect)
        driver = connection.connection.driver_connection
        assert driver is not None
        return form, driver.cursor()

    def _compile(self, dialect: Dialect) -> _Form:
        compiled = self.statement.compile(dialect=dialect)
        positional = bool(compiled.positiontup)
        names = tuple(compiled.positiontup or compiled.binds)
        binds = {name: compiled.binds[name] for name in names}
        fixed = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
        processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
        form = _Form(compiled.string, names, fixed, processors, positional)
        self._forms[(dialect.name, dialect.paramstyle)] = form
        return form
