"""Resource hub benchmark: 5,000 services in five languages across 60 countries, the search
index built, the country page and a filtered search timed in-process and under gunicorn.

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/hub_bench.py                # 5,000 services, 10 s wrk runs
    .venv/bin/python bench/hub_bench.py --postgres     # in a schema of its own, dropped after
    .venv/bin/python bench/hub_bench.py --services 500 --seconds 5 --requests 100

One run:

1. makes a database for the run (``bench/load.py``'s ``run_database``) and applies the
   migrations (``flask db upgrade``);
2. writes the services straight into their tables (one in :data:`CRISIS_EVERY` a crisis
   line, one in :data:`INTERNATIONAL_EVERY` open to every country): organisations, services, a
   published version each with its texts in English, Spanish, French, German and Brazilian
   Portuguese, words drawn at random from a small list per language, and their facets;
   with a seed, since the curation path (propose, then publish by a second person, with an
   audit event each) is not what is measured; 60 countries get an emergency number row
   (``112``, the number the bench's data pretends for every country: the bench database is
   thrown away, nothing of it is shown to anyone);
3. times :func:`grants.domain.hub_search.reindex_all` over all of them (the index build of a
   seed or an import), and :func:`grants.domain.hub.publish` of a further
   :data:`PUBLISHED` services through the domain (its index write included);
4. in-process, through Flask's test client: ``--requests`` requests to the country page
   ``/help/<country>`` over the 60 countries, and as many to a filtered search
   (``?q=<a word, sometimes with a typo>&topic=...``), and the domain search alone;
   p50 and p95 of each. Once as the application is configured, keeping the pages it
   rendered (:mod:`grants.web.hub.page_cache`; most requests still find no page kept, since
   the 300 addresses are spread over 60 countries and 2,100 searches), and once with no
   page store (``HUB_PAGE_CACHE_BYTES=0``), every page made afresh;
5. under gunicorn (``--workers`` sync workers), ``wrk`` against the country page, the
   filtered search and :data:`FLOOR`, a bench-only page that reads one row with one
   SELECT and renders a small template in the same application (its hooks, its base
   layout not included), and prints each one's throughput as a share of the floor's:
   first with the page store (after the first request of each minute, every request of a
   page is served from it), then with none.

Every figure is printed with the machine's load average before and after, since ``wrk``
and the servers share the machine with whatever else runs on it.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask, render_template_string
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import load  # noqa: E402
import throughput  # noqa: E402

from grants import create_app  # noqa: E402
from grants.domain import hub  # noqa: E402
from grants.domain.hub import HUB_LANGUAGES, ServiceContent, facets_of  # noqa: E402
from grants.domain.hub_search import reindex_all, search_services  # noqa: E402
from grants.extensions import db  # noqa: E402
from grants.models import (  # noqa: E402
    HubCountry,
    HubOrganization,
    HubService,
    HubServiceFacet,
    HubServiceText,
    HubServiceVersion,
    Topic,
    VersionState,
)

_CODES = (
    "US GB IE CA AU NZ DE FR ES IT NL SE BR MX JP AT BE CH DK NO FI PT PL CZ HU GR RO BG HR SI "
    "SK EE LV LT IS LU MT CY AR CL CO PE UY EC ZA NG KE GH IN SG MY PH ID TH KR TW HK IL TR AE"
)
COUNTRIES = tuple(_CODES.split())
"""Sixty countries the bench spreads its services over."""
assert len(COUNTRIES) == 60

WORDS = {
    "en": "support crisis listening depression anxiety grief addiction musicians crew touring "
    "therapy counselling help night free confidential helpline songwriters stress burnout "
    "loneliness recovery money worries advice community peer group festival studio",
    "es": "apoyo crisis escucha depresión ansiedad duelo adicción músicos equipo gira terapia "
    "orientación ayuda noche gratuito confidencial línea compositores estrés agotamiento "
    "soledad recuperación dinero consejo comunidad grupo festival estudio",
    "fr": "soutien crise écoute dépression anxiété deuil addiction musiciens équipe tournée "
    "thérapie accompagnement aide nuit gratuit confidentiel ligne auteurs stress épuisement "
    "solitude rétablissement argent conseil communauté groupe festival studio",
    "de": "Unterstützung Krise Zuhören Depression Angst Trauer Sucht Musiker Crew Tournee "
    "Therapie Beratung Hilfe Nacht kostenlos vertraulich Telefon Songwriter Stress Erschöpfung "
    "Einsamkeit Genesung Geldsorgen Rat Gemeinschaft Gruppe Festival Studio",
    "pt_BR": "apoio crise escuta depressão ansiedade luto dependência músicos equipe turnê "
    "terapia aconselhamento ajuda noite gratuito confidencial linha compositores estresse "
    "esgotamento solidão recuperação dinheiro conselho comunidade grupo festival estúdio",
}
"""Words the bench's descriptions are drawn from (not shown to anyone: the bench database is
thrown away)."""
_NAMES = (
    "Backstage Harmony Encore Amplify Resonance Chorus Tempo Cadence Refrain Overture Lifeline "
    "Soundcheck Roadie Stagehand Setlist Headliner Interlude Crescendo Ballad Anthem"
)
NAME_WORDS = tuple(_NAMES.split())
SEARCHES = ("depression", "depresion", "ansiedad", "therapeute", "musicians", "grief", "helpline")
"""What the filtered search looks for (accents left off, one typo among them)."""

CRISIS_EVERY = 20
"""One service in this many is a crisis line: about four of a country's 83 services, and
one of the international ones. Every crisis line of a country shows on each of its pages
(they are never paged or filtered away), so this sets the size of a page. The seed has two
to four per country; ``--crisis-every 7`` gives the denser hub earlier runs measured
(about 26 crisis lines on every page)."""
INTERNATIONAL_EVERY = 500
"""One service in this many is open to every country (10 of 5,000), and is listed on every
country's page. ``--international-every 50`` gives the 100 of earlier runs."""

NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)
PUBLISHED = 200
"""Services published through the domain, after the bulk load, to time its index write."""
FLOOR = "/bench/hub-floor"
"""One SELECT of one row, one small template: what no page of the application can beat."""
FLOOR_TEMPLATE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{{ code }}</title>"
    "</head><body><h1>{{ country.code }}</h1><p>{{ country.emergency_number }}</p></body></html>"
)


def add_floor(app: Flask) -> None:
    """Add :data:`FLOOR` to ``app``: a country's row by its primary key, in a small
    template; public, like the hub's pages."""

    def floor() -> str:
        code = "FR"
        country = db.session.scalars(select(HubCountry).where(HubCountry.code == code)).one()
        return render_template_string(FLOOR_TEMPLATE, code=code, country=country)

    app.add_url_rule(FLOOR, "bench_hub_floor", floor)


def create_app_with_floor() -> Flask:
    """The application, configured from the environment, with :data:`FLOOR` added (for
    ``gunicorn --pythonpath bench 'hub_bench:create_app_with_floor()'``)."""
    app = create_app()
    add_floor(app)
    return app


# --- the data ------------------------------------------------------------------------------


def sentence(rng: random.Random, language: str, count: int) -> str:
    words = WORDS[language].split()
    return " ".join(rng.choice(words) for _ in range(count)).capitalize() + "."


def fill(
    session: object,
    services: int,
    seed: int,
    crisis_every: int = CRISIS_EVERY,
    international_every: int = INTERNATIONAL_EVERY,
) -> None:
    """Write ``services`` published services, their texts and facets, in bulk: one in
    ``crisis_every`` a crisis line, one in ``international_every`` open to every country."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable workload, not a secret
    s = db.session
    s.execute(
        insert(HubCountry),
        [
            {
                "code": code,
                "emergency_number": "112",
                "other_emergency_numbers": [],
                "source_url": "https://example.org/bench",
                "checked_on": date(2026, 11, 1),
            }
            for code in COUNTRIES
        ],
    )
    organisations = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(500)]
    s.execute(
        insert(HubOrganization),
        [
            {"id": org, "name": f"{rng.choice(NAME_WORDS)} {rng.choice(NAME_WORDS)} Trust"}
            for org in organisations
        ],
    )
    topics = [topic.value for topic in Topic]
    for start in range(0, services, 1000):
        batch = range(start, min(start + 1000, services))
        ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in batch]
        s.execute(
            insert(HubService),
            [{"id": sid, "organization_id": rng.choice(organisations)} for sid in ids],
        )
        versions = []
        for number, sid in zip(batch, ids, strict=True):
            international = number % international_every == 0
            countries = ["*"] if international else [COUNTRIES[number % 60]]
            versions.append(
                HubServiceVersion(
                    service_id=sid,
                    number=1,
                    state=VersionState.PUBLISHED,
                    name=f"{rng.choice(NAME_WORDS)} {rng.choice(NAME_WORDS)} {number}",
                    crisis_line=number % crisis_every == 0,
                    url="https://example.org/",
                    phones=[],
                    countries=countries,
                    languages=sorted(rng.sample(["en", "es", "fr", "de", "pt-BR"], 2)),
                    topics=sorted(rng.sample(topics, 2)),
                    audiences=["anyone"],
                    free=number % 3 != 0,
                    time_zone="UTC",
                    open_all_hours=number % 2 == 0,
                    hours=[]
                    if number % 2 == 0
                    else [{"day": "MO", "opens": "09:00", "closes": "17:00"}],
                    checked_on=date(2026, 11, 1),
                    decided_at=NOW,
                )
            )
        s.add_all(versions)
        s.flush()
        s.execute(
            insert(HubServiceText),
            [
                {
                    "version_id": version.id,
                    "language": language,
                    "description": sentence(rng, language, 14),
                    "hours_note": sentence(rng, language, 3),
                }
                for version in versions
                for language in HUB_LANGUAGES
            ],
        )
        for version in versions:
            s.get_one(HubService, version.service_id).published_version_id = version.id
        s.execute(
            insert(HubServiceFacet),
            [
                {"facet": facet, "value": value, "service_id": version.service_id}
                for version in versions
                for facet, value in facets_of(version)
            ],
        )
        s.flush()
        s.expunge_all()


def publish_some(count: int, seed: int) -> float:
    """Propose and publish ``count`` services through the domain; seconds taken."""
    rng = random.Random(seed + 1)  # noqa: S311 - a repeatable workload, not a secret
    organisation = db.session.scalars(select(HubOrganization.id).limit(1)).one()
    started = time.perf_counter()
    for number in range(count):
        version = hub.propose(
            db.session,
            actor=None,
            content=ServiceContent(
                name=f"{rng.choice(NAME_WORDS)} Published {number}",
                checked_on=date(2026, 11, 1),
                descriptions={lang: sentence(rng, lang, 14) for lang in HUB_LANGUAGES},
                topics=(rng.choice(list(Topic)).value,),
                countries=(COUNTRIES[number % 60],),
                url="https://example.org/",
            ),
            now=NOW,
            organization_id=organisation,
        )
        hub.publish(db.session, actor=None, version_id=version.id, now=NOW)
    db.session.commit()
    return time.perf_counter() - started


# --- timing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    name: str
    p50_ms: float
    p95_ms: float
    count: int


def timed(name: str, calls: list[Callable[[], object]]) -> Timed:
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return Timed(name, statistics.median(times), times[int(len(times) * 0.95) - 1], len(times))


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def filtered_paths(rng: random.Random, count: int) -> list[str]:
    topics = ("anxiety-depression", "crisis", "grief", "substance-use", "industry")
    return [
        f"/help/{rng.choice(COUNTRIES)}?q={rng.choice(SEARCHES)}&topic={rng.choice(topics)}"
        for _ in range(count)
    ]


def in_process(app: Flask, requests: int, seed: int, label: str = "") -> list[Timed]:
    """p50 and p95 of the country page, a filtered search and the domain search alone."""
    rng = random.Random(seed + 2)  # noqa: S311 - a repeatable workload, not a secret
    client = app.test_client()

    def get(path: str) -> Callable[[], object]:
        def call() -> None:
            answer = client.get(path)
            if answer.status_code != 200:
                raise RuntimeError(f"{path} answered {answer.status_code}")

        return call

    for code in COUNTRIES[:10]:
        get(f"/help/{code}")()
    country_paths = [f"/help/{rng.choice(COUNTRIES)}" for _ in range(requests)]
    results = [
        timed(f"country page{label}", [get(path) for path in country_paths]),
        timed(f"filtered search{label}", [get(path) for path in filtered_paths(rng, requests)]),
    ]
    if label:
        return results
    with app.app_context():
        searches = [(rng.choice(SEARCHES), rng.choice(HUB_LANGUAGES)) for _ in range(requests)]
        results.append(
            timed(
                "domain search",
                [
                    lambda q=q, lang=lang: search_services(db.session, q, language=lang)
                    for q, lang in searches
                ],
            )
        )
        db.session.remove()
    return results


# --- the run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    postgres_url: str | None
    services: int
    requests: int
    seconds: int
    workers: int
    connections: int
    threads: int
    seed: int
    crisis_every: int
    international_every: int


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=os.environ.get(
            "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        default=None,
        metavar="URL",
        help="run on PostgreSQL (default URL: TEST_DATABASE_URL)",
    )
    parser.add_argument("--services", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=300, help="in-process requests per page")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--crisis-every", type=int, default=CRISIS_EVERY, help="one crisis line in this many"
    )
    parser.add_argument(
        "--international-every",
        type=int,
        default=INTERNATIONAL_EVERY,
        help="one service open to every country in this many",
    )
    arguments = parser.parse_args(argv)
    return Options(
        postgres_url=arguments.postgres,
        services=arguments.services,
        requests=arguments.requests,
        seconds=arguments.seconds,
        workers=arguments.workers,
        connections=arguments.connections,
        threads=arguments.threads,
        seed=arguments.seed,
        crisis_every=arguments.crisis_every,
        international_every=arguments.international_every,
    )


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    engine = "PostgreSQL" if options.postgres_url else "SQLite"
    print(
        f"hub bench on {engine}: {options.services:,} services, 5 languages, 60 countries; "
        f"one in {options.crisis_every} a crisis line, one in {options.international_every} "
        "open to every country"
    )
    print(f"  before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as temporary:
        folder = Path(temporary)
        instance = folder / "instance"
        instance.mkdir()
        database = load.run_database(options, folder)  # type: ignore[arg-type]
        with database as database_url:
            environment = load.run_environment(database_url, instance)
            status, output, seconds = load.flask_command(environment, "db", "upgrade")
            if status != 0:
                print(output)
                return 1
            print(f"  db upgrade: {seconds:.1f} s")
            app = create_app(
                {
                    "DATABASE_URL": database_url,
                    "INSTANCE_PATH": instance,
                    "RATE_LIMITS_ENABLED": False,
                }
            )
            add_floor(app)
            with app.app_context():
                started = time.perf_counter()
                fill(
                    db.session,
                    options.services,
                    options.seed,
                    options.crisis_every,
                    options.international_every,
                )
                db.session.commit()
                print(f"  bulk load: {time.perf_counter() - started:.1f} s")
                started = time.perf_counter()
                indexed = reindex_all(db.session)
                db.session.commit()
                build = time.perf_counter() - started
                rows = db.session.scalar(select(db.func.count()).select_from(HubServiceText))
                print(
                    f"  index build (reindex_all): {indexed:,} services, {rows:,} texts in "
                    f"{build:.2f} s = {indexed / build:,.0f} services/s "
                    f"(target >= 500: {verdict(indexed / build >= 500)})"
                )
                spent = publish_some(PUBLISHED, options.seed)
                print(
                    f"  propose + publish through the domain (index write included): "
                    f"{PUBLISHED} services in {spent:.2f} s = {PUBLISHED / spent:,.0f} services/s"
                )
                db.session.remove()
            print(f"  {load_average()}")
            print(f"in-process, {options.requests} requests each:")
            store_off = create_app(
                {
                    "DATABASE_URL": database_url,
                    "INSTANCE_PATH": instance,
                    "RATE_LIMITS_ENABLED": False,
                    "HUB_PAGE_CACHE_BYTES": 0,
                }
            )
            results = in_process(app, options.requests, options.seed)
            results += in_process(store_off, options.requests, options.seed, NO_STORE)
            for result in results:
                met = verdict(result.p95_ms < 50) if result.name != "domain search" else ""
                print(
                    f"  {result.name:<28} p50 {result.p50_ms:6.1f} ms  "
                    f"p95 {result.p95_ms:6.1f} ms"
                    + (f"  (target p95 < 50 ms: {met})" if met else "")
                )
            print(f"  {load_average()}")
            for application in (app, store_off):
                with application.app_context():
                    db.engine.dispose()
            if shutil.which("wrk") is None:
                print("wrk is not installed (apt-get install wrk): no figures under gunicorn")
                return 0
            bad = under_gunicorn(options, environment, folder)
            bad += under_gunicorn(
                options, {**environment, "GRANTS_HUB_PAGE_CACHE_BYTES": "0"}, folder, NO_STORE
            )
    return 1 if bad else 0


NO_STORE = " (no page store)"
"""How the figures of pages made afresh for every request are labelled."""


def under_gunicorn(
    options: Options, environment: dict[str, str], folder: Path, label: str = ""
) -> int:
    """Throughput of the country page and a filtered search, each as a share of the
    floor's, on one gunicorn server; the number of failed requests."""
    script = folder / "count.lua"
    script.write_text(throughput.COUNTING_SCRIPT, encoding="utf-8")
    rng = random.Random(options.seed + 3)  # noqa: S311 - a repeatable workload, not a secret
    filtered = filtered_paths(rng, 1)[0]
    with load.serving(
        "hub_bench:create_app_with_floor()",
        environment,
        options.workers,
        folder / "gunicorn.log",
    ) as server:
        server.wait_ready(FLOOR)
        pages = [
            ("floor", FLOOR),
            ("country page", "/help/FR"),
            ("filtered search", filtered),
            ("floor again", FLOOR),
        ]
        for _, path in pages:
            throughput.run_wrk("warm", server.port, path, "x=1", options, 2, script)
        print(
            f"under gunicorn{label} ({options.workers} sync workers), wrk {options.threads} "
            f"threads {options.connections} connections {options.seconds} s each:"
        )
        runs = {}
        for name, path in pages:
            run = throughput.run_wrk(
                name, server.port, path, "x=1", options, options.seconds, script
            )
            runs[name] = run
            print(
                f"  {name:<16} {run.per_second:8.1f} req/s  p50 {run.p50_ms:6.1f} ms  "
                f"p99 {run.p99_ms:6.1f} ms  non-2xx {run.other}  "
                f"socket errors {run.socket_errors}  ({path})"
            )
        floor = (runs["floor"].per_second + runs["floor again"].per_second) / 2
        for name in ("country page", "filtered search"):
            share = runs[name].per_second / floor
            print(f"  {name} / floor: {share:.2f} (target >= 0.3: {verdict(share >= 0.3)})")
        print(f"  {load_average()}")
        return sum(run.other + run.socket_errors for run in runs.values())


if __name__ == "__main__":
    sys.exit(main())
