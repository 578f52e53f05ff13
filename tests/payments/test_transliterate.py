"""Folding names and references into the characters bank files carry."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from grants.payments.transliterate import (
    NACHA_CHARACTERS,
    SWIFT_CHARACTERS,
    nacha_text,
    payee_label,
    swift_text,
)

SWIFT_SET = set(string.ascii_letters + string.digits + "/-?:().,'+ ")


def test_the_character_sets_are_the_published_ones() -> None:
    assert set(SWIFT_CHARACTERS) == SWIFT_SET
    assert set(NACHA_CHARACTERS) == {character.upper() for character in SWIFT_SET}
    assert not {"*", "\\", "&", "<", ">", '"'} & set(NACHA_CHARACTERS)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Zoë Brontë-Ødegård", "Zoe Bronte-Odegard"),
        ("Straße", "Strasse"),
        ("Łukasz Żółć", "Lukasz Zolc"),
        ("Þórður Æsir Đorđe", "THordur AEsir Dorde"),
        ("François Müller", "Francois Muller"),
        ("\uff21\uff4c\uff49 \ufb01ne", "Ali fine"),  # full-width letters, the fi ligature
        ("O\u2019Brien \u2014 Ltd", "O'Brien - Ltd"),  # curly apostrophe, em dash
        ("Smith & Jones", "Smith + Jones"),
        ("  many   spaces\there\n", "many spaces here"),
        ("a_b@c#d", "a b c d"),
    ],
)
def test_names_fold_to_latin_letters(text: str, folded: str) -> None:
    assert swift_text(text, 140) == folded


def test_a_name_with_no_latin_letters_folds_to_nothing() -> None:
    assert swift_text("山田 太郎", 140) == ""
    assert swift_text("Иван", 140) == ""


def test_an_unwritable_name_becomes_payee_and_the_end_to_end_id() -> None:
    assert payee_label("山田", "RUN7-0042", 140) == "PAYEE RUN7-0042"
    assert payee_label("Zoë", "RUN7-0042", 140) == "Zoe"
    assert payee_label("山田", "RUN7-0042", 10) == "PAYEE RUN7"


def test_markup_cannot_pass_through() -> None:
    assert swift_text("<Nm>Mallory</Nm>", 140) == "Nm Mallory /Nm"
    assert swift_text("&amp;", 140) == "+amp"
    assert swift_text('"><!--', 140) == "--"


def test_truncation_leaves_no_trailing_space() -> None:
    assert swift_text("Ab cd", 3) == "Ab"
    assert len(swift_text("x" * 200, 140)) == 140


def test_nacha_text_is_capitals_of_exact_width() -> None:
    assert nacha_text("Zoë Brontë-Ødegård", 22) == "ZOE BRONTE-ODEGARD    "
    assert nacha_text("Straße und Söhne GmbH & Co KG", 16) == "STRASSE UND SOHN"
    assert nacha_text("山田", 5) == "     "


@settings(max_examples=400, deadline=None)
@given(text=st.text(), limit=st.integers(min_value=1, max_value=200))
@example(text="ß" * 100, limit=140)
@example(text="\ufdfa", limit=5)
def test_any_text_folds_to_the_allowed_characters_within_the_limit(text: str, limit: int) -> None:
    folded = swift_text(text, limit)
    assert set(folded) <= SWIFT_SET
    assert len(folded) <= limit
    assert folded == folded.strip()
    assert "  " not in folded
    padded = nacha_text(text, limit)
    assert len(padded) == limit
    assert set(padded) <= set(NACHA_CHARACTERS)
