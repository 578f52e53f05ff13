"""A country's poster: one printable A4 page with its emergency number, its crisis lines and
a QR code leading back to its page on the hub, for festival wellness tents and studio walls.

Public, like every page of the hub. The poster is written in the page's language
(:func:`grants.i18n.chosen_language`, forced: Flask-Babel translates only the hub's own
blueprint by itself) and rendered by WeasyPrint through the reports'
:class:`~grants.reports.pdf.StaticOnlyFetcher`, which reads nothing but ``data:`` URLs and
the package's static files. The QR code is inline SVG made by ``segno`` from the absolute
address of ``/help/<country>`` under ``PUBLIC_URL``, never from the request's host.

It always fits on one page: it shows at most :data:`MOST_LINES` crisis lines, and when they
run over with their descriptions, it is laid out again without the descriptions, then with
fewer lines, saying that the hub lists the rest. Rendered posters are kept in memory by
what they show, so asking for the same poster again costs one query, not a rendering.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import segno
from flask import Blueprint, Response, abort, render_template
from flask_babel import force_locale, format_date
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.domain import hub_directory as directory
from grants.domain.hub_contacts import Phone
from grants.extensions import db
from grants.i18n import chosen_language
from grants.mail import absolute_url
from grants.models import Facet, HubCountry, HubService, HubServiceFacet, HubServiceVersion
from grants.reports.pdf import STATIC_ROOT, StaticOnlyFetcher

bp = Blueprint("hub_print", __name__)

STYLESHEET = STATIC_ROOT / "hub" / "poster.css"
DESCRIPTION_MAX = 220
"""Characters of a line's description a poster shows (cut at a word, with an ellipsis)."""
MOST_LINES = 8
"""Crisis lines a poster shows at most; a country with more has the rest on the hub."""
CACHE_SIZE = 64
"""Rendered posters kept in memory (each some tens of kilobytes)."""


@dataclass(frozen=True)
class PosterLine:
    """One crisis line as the poster shows it."""

    name: str
    calls: tuple[str, ...]
    """Numbers to call, as dialled in the country."""
    texts: tuple[str, ...]
    """Numbers to text, as dialled in the country."""
    sms_keyword: str
    open_all_hours: bool
    hours_note: str
    description: str
    in_english: bool
    """The description is the English one: the poster's language has none."""
    web: str
    """The line's web address without ``https://``, or empty."""


@dataclass(frozen=True)
class Poster:
    """What a country's poster shows."""

    code: str
    emergency_number: str
    other_emergency_numbers: tuple[str, ...]
    lines: tuple[PosterLine, ...]
    checked_on: date | None
    """The oldest date on which any of its numbers was checked."""
    fingerprint: tuple[object, ...]
    """What the rendered poster depends on in the database."""


def poster_of(session: Session, code: str, language: str) -> Poster | None:
    """The poster of country ``code`` in ``language``; ``None`` when the hub has neither an
    emergency number nor a crisis line for it."""
    country = session.get(HubCountry, code)
    versions = session.scalars(
        select(HubServiceVersion)
        .join(HubService, HubService.published_version_id == HubServiceVersion.id)
        .join(
            HubServiceFacet,
            (HubServiceFacet.service_id == HubService.id)
            & (HubServiceFacet.facet == Facet.COUNTRY)
            & (HubServiceFacet.value == code),
        )
        .where(HubServiceVersion.crisis_line.is_(True))
        .order_by(
            HubServiceVersion.open_all_hours.desc(), HubServiceVersion.name, HubServiceVersion.id
        )
    ).all()
    if country is None and not versions:
        return None
    lines = tuple(_line(version, language) for version in versions)
    checked = [version.checked_on for version in versions]
    if country is not None:
        checked.append(country.checked_on)
    return Poster(
        code=code,
        emergency_number=country.emergency_number if country else "",
        other_emergency_numbers=tuple(country.other_emergency_numbers) if country else (),
        lines=lines,
        checked_on=min(checked) if checked else None,
        fingerprint=(
            (country.emergency_number, tuple(country.other_emergency_numbers), country.checked_on)
            if country
            else None,
            tuple(version.id for version in versions),
        ),
    )


def _line(version: HubServiceVersion, language: str) -> PosterLine:
    phones = [Phone.of(stored) for stored in version.phones]
    text = version.text_in(language)
    description = text.description if text else ""
    return PosterLine(
        name=version.name,
        calls=tuple(phone.shown for phone in phones if phone.kind == "voice"),
        texts=tuple(phone.shown for phone in phones if phone.kind == "text"),
        sms_keyword=version.sms_keyword,
        open_all_hours=version.open_all_hours,
        hours_note=text.hours_note if text else "",
        description=_shortened(description),
        in_english=bool(description) and text is not None and text.language != language,
        web=version.url.removeprefix("https://").rstrip("/"),
    )


def _shortened(text: str) -> str:
    if len(text) <= DESCRIPTION_MAX:
        return text
    return text[:DESCRIPTION_MAX].rsplit(" ", 1)[0].rstrip(",;:.") + "…"


def hub_address(code: str) -> str:
    """The absolute address of the hub's page for country ``code``."""
    return absolute_url(f"/help/{code}")


def qr_svg(address: str) -> Markup:
    """``address`` as a QR code in inline SVG, sized by the stylesheet."""
    code = segno.make(address, error="m")
    svg = code.svg_inline(scale=1, border=4, omitsize=True, dark="#000")
    return Markup(svg)  # noqa: S704 (segno's SVG is a path of modules: no text of ours in it)


def poster_html(poster: Poster, language: str, *, lines: int, descriptions: bool) -> str:
    """The poster's HTML, showing its first ``lines`` crisis lines."""
    address = hub_address(poster.code)
    return render_template(
        "hub/pdf/poster.html",
        poster=poster,
        lines=poster.lines[:lines],
        left_out=len(poster.lines) - lines,
        descriptions=descriptions,
        country=directory.country_label(poster.code, language),
        language=language.replace("_", "-"),
        address=address,
        shown_address=address.split("://", 1)[-1],
        qr=qr_svg(address),
        checked_on=format_date(poster.checked_on, "long") if poster.checked_on else "",
    )


def render_poster(poster: Poster, language: str) -> bytes:
    """The poster as a one-page PDF."""
    from weasyprint import CSS, HTML

    fetcher = StaticOnlyFetcher()
    stylesheet = CSS(filename=str(STYLESHEET), url_fetcher=fetcher)
    most = min(len(poster.lines), MOST_LINES)
    attempts = [(most, True)] + [(count, False) for count in range(most, -1, -1)]
    for count, descriptions in attempts:
        with force_locale(language):
            html = poster_html(poster, language, lines=count, descriptions=descriptions)
        document = HTML(
            string=html, base_url=Path(STATIC_ROOT).as_uri() + "/", url_fetcher=fetcher
        ).render(stylesheets=[stylesheet], presentational_hints=False)
        if len(document.pages) == 1:
            break
    pdf: bytes = document.write_pdf()
    return pdf


_rendered: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
_rendered_lock = threading.Lock()


def cached_poster(poster: Poster, language: str) -> bytes:
    """The rendered poster, from memory when the same one was rendered before."""
    key = (poster.code, language, hub_address(poster.code), poster.fingerprint)
    with _rendered_lock:
        if key in _rendered:
            _rendered.move_to_end(key)
            return _rendered[key]
    pdf = render_poster(poster, language)
    with _rendered_lock:
        _rendered[key] = pdf
        while len(_rendered) > CACHE_SIZE:
            _rendered.popitem(last=False)
    return pdf


@bp.route("/help/<country>/poster.pdf")
def poster(country: str) -> Response:
    """The poster of ``country`` (an ISO 3166-1 alpha-2 code), to print or save."""
    code = directory.known_country(country[:8])
    if code is None:
        abort(404)
    language = chosen_language()
    found = poster_of(db.session(), code, language)
    if found is None:
        abort(404)
    pdf = cached_poster(found, language)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="help-{code}-{language}.pdf"',
            "Cache-Control": "public, max-age=300",
            "Vary": "Accept-Language, Cookie",
        },
    )
