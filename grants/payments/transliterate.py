"""Names and references folded into the characters a bank file may carry.

Payment files carry the SWIFT Latin character set: ``a-z A-Z 0-9 / - ? : ( ) . , ' +`` and
space. A payee's name arrives in any script, so it is folded: accents dropped (é → e,
ü → u), letters that do not decompose spelt out (ß → ss, Æ → AE, Ø → O, Ł → L, Đ → D,
Þ → TH), typographic apostrophes and dashes made plain, ``&`` written ``+`` (a common bank
conversion, shorter than "and" and the same in every language), and anything else made a
space. Runs of spaces become one and the ends are trimmed.

A name with nothing left once folded (山田, say) is written ``PAYEE`` and the payment's
end-to-end id (:func:`payee_label`): every bank accepts it, and finance finds the payment
by its id.
"""

from __future__ import annotations

import unicodedata

SWIFT_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ "
)
"""Every character :func:`swift_text` may return."""
NACHA_CHARACTERS = frozenset(character.upper() for character in SWIFT_CHARACTERS)
"""Every character :func:`nacha_text` may return: the SWIFT set in capitals. It leaves out
``*`` and ``\\``, which ANSI X12 remittance text uses as separators."""
UNREADABLE_NAME_PREFIX = "PAYEE"
"""What stands before the end-to-end id when a payee's name has no character a file carries."""

_SPELT_OUT = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Ø": "O",
        "ø": "o",
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Ð": "D",
        "ð": "d",
        "Þ": "TH",
        "þ": "th",
        "Ħ": "H",
        "ħ": "h",
        "\u0131": "i",  # dotless i
        "&": "+",
        "\u2018": "'",  # left single quotation mark
        "\u2019": "'",  # right single quotation mark
        "\u02bc": "'",  # modifier letter apostrophe
        "\u2032": "'",  # prime
        "`": "'",
        "\u2010": "-",  # hyphen
        "\u2012": "-",  # figure dash
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2212": "-",  # minus sign
    }
)


def swift_fold(text: str) -> str:
    """``text`` in SWIFT characters, runs of spaces made one and the ends trimmed, whatever
    its length."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(
        character for character in decomposed if not unicodedata.combining(character)
    ).translate(_SPELT_OUT)
    kept = "".join(character if character in SWIFT_CHARACTERS else " " for character in bare)
    return " ".join(kept.split())


def swift_text(text: str, limit: int) -> str:
    """``text`` folded to the SWIFT Latin character set, at most ``limit`` characters, with
    no space at either end; ``""`` when nothing of it can be written."""
    return swift_fold(text)[:limit].rstrip()


def nacha_text(text: str, width: int) -> str:
    """``text`` folded as :func:`swift_text` folds it, in capitals, left-justified and padded
    with spaces or cut to exactly ``width`` characters."""
    return swift_text(text, width).upper().ljust(width)


def payee_label(name: str, end_to_end_id: str, limit: int) -> str:
    """The payee's name folded by :func:`swift_text`, or, when nothing of it can be written,
    ``PAYEE`` and the end-to-end id."""
    return swift_text(name, limit) or swift_text(f"{UNREADABLE_NAME_PREFIX} {end_to_end_id}", limit)
