"""Fixtures of the report tests: the known dataset and a signed-in member of finance."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.reports.dataset import Books
from tests.support import sign_in


@pytest.fixture
def books(db: Session) -> Books:
    return Books(db).build()


@pytest.fixture
def finance(app: Flask, books: Books) -> FlaskClient:
    """A client signed in as the dataset's member of finance."""
    return sign_in(app, books.finance.email)
