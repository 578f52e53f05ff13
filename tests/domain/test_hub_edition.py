"""The hub's edition (:func:`grants.domain.hub.new_edition`): one number, raised with each
change to what the public sees, and committed in the order it was raised, on both engines."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain.hub import new_edition
from grants.domain.hub_directory import edition
from grants.extensions import db as database
from grants.models import HubEdition

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def test_each_change_raises_the_edition_by_one(db: Session) -> None:
    assert edition(db) == 0
    new_edition(db, NOW)
    db.commit()
    new_edition(db, NOW)
    db.commit()
    assert edition(db) == 2
    assert db.scalars(select(HubEdition)).one().changed_at == NOW


def test_a_change_made_while_another_is_open_waits_and_commits_the_next_number(
    app: Flask, db: Session
) -> None:
    """Change A raises the edition and holds its transaction open; change B, started then,
    must not commit a number until A has committed its own lower one."""
    new_edition(db, NOW)
    db.commit()
    raised = threading.Event()
    release = threading.Event()
    committed: list[tuple[str, int]] = []
    failures: list[BaseException] = []

    def change(name: str) -> None:
        try:
            with app.app_context():
                session = database.session
                if name == "B":
                    raised.wait(30)
                new_edition(session, NOW)
                number = session.scalar(select(HubEdition.number))
                assert number is not None
                if name == "A":
                    raised.set()
                    release.wait(30)
                session.commit()
                committed.append((name, number))
                session.remove()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=change, args=(name,)) for name in "AB"]
    for thread in threads:
        thread.start()
    raised.wait(30)
    threads[1].join(0.5)
    assert committed == [], "B committed while A still held the edition"
    release.set()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert committed == [("A", 2), ("B", 3)]
    db.expire_all()
    assert edition(db) == 3
