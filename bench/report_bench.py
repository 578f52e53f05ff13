"""Report benchmark: how long the allocation report takes as the ledger grows, what a cached
download costs, and how fast the finance-level report renders against WeasyPrint on a plain
document of the same tables.

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/report_bench.py
    .venv/bin/python bench/report_bench.py --postgres
    .venv/bin/python bench/report_bench.py --ambassadors 500 --postings 50000   # a quick look

One run builds a fresh database with the ledger benchmark's loader (``bench/ledger_bench.py``):
a therapy fund, ``--ambassadors`` ambassadors with wallets and an opening allowance, grown
with session cycles (allowance, redemption held, approved, paid) to 10,000 postings and
then to ``--postings``; after each step the reports' running totals are folded, as the
worker does every minute (the time it takes is printed). It prints:

1. the time (best of five, figures and rendering, no cache) and the peak Python memory
   (``tracemalloc``, in a separate untimed run) of the summary report (programme level:
   funds, and programme by country) at 10,000 and at ``--postings`` postings, and their ratio
   (target: at most 1.5);
2. the time of a cached download: figures, fingerprint and the file from the cache;
3. the pages per second of the finance-level report (a row per ambassador);
4. the reference: WeasyPrint rendering the same tables naively, as one plain HTML document
   with the default fetcher and no PDF/A.

``--check`` makes the exit status 1 when the ratio target is missed.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import escape

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ledger_bench
from ledger_bench import (
    DEFAULT_POSTGRES_URL,
    build_app,
    open_books,
    scratch_database,
)

from grants.extensions import db
from grants.models import Fund
from grants.reports import build
from grants.reports.flows import fold
from grants.reports.queries import Privacy, ReportParameters
from grants.reports.tables import report_tables
from grants.scale import LedgerLoader, settle_storage

SMALL = 10_000
RATIO_TARGET = 1.5
ROUNDS = 5


@dataclass(frozen=True)
class Figures:
    """One report measured: seconds (best of the rounds), peak memory, pages, rows."""

    seconds: float
    peak_mb: float
    pages: int
    rows: int


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES_URL,
        default=None,
        metavar="URL",
        help=f"run on PostgreSQL (default URL: {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument("--sqlite-dir", type=Path, default=None, help="folder for the SQLite file")
    parser.add_argument("--ambassadors", type=int, default=5_000)
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def page_count(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def timed(action: Callable[[], Any], rounds: int = ROUNDS) -> tuple[float, Any]:
    """The best time of ``rounds`` runs of ``action`` and its last result."""
    best, result = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    return best, result


def peak_megabytes(action: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def made_afresh(parameters: ReportParameters) -> Callable[[], bytes]:
    """Figures, fingerprint and a fresh render (no cache): what a first download costs."""

    def run() -> bytes:
        prepared = build.prepare(db.session(), parameters)
        db.session.rollback()
        return build.render(prepared, generated_at=datetime.now(UTC))

    return run


def measure(parameters: ReportParameters, rounds: int = ROUNDS, memory: bool = True) -> Figures:
    run = made_afresh(parameters)
    seconds, pdf = timed(run, rounds)
    rows = build.prepare(db.session(), parameters).data.detail_rows
    db.session.rollback()
    return Figures(seconds, peak_megabytes(run) if memory else 0.0, page_count(pdf), rows)


def naive_document(parameters: ReportParameters) -> str:
    """The report's tables as one plain HTML document: no stylesheet, no chart, no layout."""
    prepared = build.prepare(db.session(), parameters)
    db.session.rollback()
    currency = parameters.currency
    parts = ["<html><body>"]
    for table in report_tables(prepared.data):
        shown = build.formatted_table(table, currency)
        parts.append(f"<h2>{escape(shown.title)}</h2><table><thead><tr>")
        parts += [f"<th>{escape(column.label)}</th>" for column in shown.columns]
        parts.append("</tr></thead><tbody>")
        for row in [*shown.rows, *([shown.totals] if shown.totals else [])]:
            parts.append("<tr>" + "".join(f"<td>{escape(value)}</td>" for value in row) + "</tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "".join(parts)


def folded(session: Any) -> None:
    """Fold the running totals as the worker would, and say how long it took."""
    started = time.perf_counter()
    mark = fold(session, now=datetime.now(UTC))
    session.commit()
    print(
        f"  totals folded up to transaction {mark.transaction_id:,} "
        f"in {time.perf_counter() - started:.2f} s",
        flush=True,
    )


def run(arguments: argparse.Namespace) -> int:
    import random

    from weasyprint import HTML

    options = ledger_bench.parse_options(
        [
            "--wallets",
            str(arguments.ambassadors),
            "--postings",
            str(arguments.postings),
            "--ops",
            "1",
            "--warmup",
            "0",
            *(["--postgres", arguments.postgres] if arguments.postgres else []),
            *(["--sqlite-dir", str(arguments.sqlite_dir)] if arguments.sqlite_dir else []),
        ]
    )
    rng = random.Random(arguments.seed)  # noqa: S311 - a repeatable workload, not a secret
    now = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="report-bench-instance-") as instance,
        scratch_database(options) as scratch,
    ):
        app = build_app(scratch, instance)
        with app.app_context():
            db.create_all()
            session = db.session()
            backend = "PostgreSQL" if session.get_bind().dialect.name == "postgresql" else "SQLite"
            print(f"report benchmark on {backend}: {scratch.where}", flush=True)
            books = open_books(session, options, now.date())
            loader = LedgerLoader(
                session,
                books,
                datetime.combine(books.plan_year_start, datetime.min.time(), tzinfo=UTC),
            )
            loader.enrol_ambassadors(arguments.ambassadors)
            loader.cohort_allowance(options.opening_allowance)
            loader.grow_to(SMALL, rng)
            settle_storage(session)
            folded(session)
            fund = db.session.get_one(Fund, books.fund_id)
            summary = ReportParameters(
                currency=fund.currency,
                start=fund.plan_year_start,
                end=fund.plan_year_end,
                privacy=Privacy.PROGRAMME,
                fund_id=fund.id,
            )
            detail = ReportParameters(
                currency=fund.currency,
                start=fund.plan_year_start,
                end=fund.plan_year_end,
                privacy=Privacy.FINANCE,
                fund_id=fund.id,
            )
            db.session.rollback()
            made_afresh(summary)()  # warm-up: fonts, templates, imports
            small_postings = loader.postings
            small = measure(summary)
            print(
                f"  summary report at {small_postings:,} postings: {small.seconds:.3f} s, "
                f"peak {small.peak_mb:.1f} MB, {small.pages} pages",
                flush=True,
            )

            started = time.perf_counter()
            loader.grow_to(arguments.postings, rng)
            settle_storage(session)
            folded(session)
            print(
                f"  grown to {loader.postings:,} postings in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            large = measure(summary)
            ratio = large.seconds / small.seconds
            print(
                f"  summary report at {loader.postings:,} postings: {large.seconds:.3f} s, "
                f"peak {large.peak_mb:.1f} MB, {large.pages} pages",
                flush=True,
            )

            cache = build.report_cache()
            prepared = build.prepare(db.session(), summary)
            db.session.rollback()
            build.report_pdf(prepared, generated_at=datetime.now(UTC), cache=cache)

            def cached_download() -> bytes:
                outcome = build.request_pdf(
                    db.session(), summary, now=datetime.now(UTC), background_rows=10**9
                )
                assert outcome.cached
                assert outcome.pdf is not None
                return outcome.pdf

            cached_seconds, _ = timed(cached_download, 5)
            print(f"  cached download: {cached_seconds * 1000:.1f} ms", flush=True)

            finance = measure(detail, rounds=1, memory=False)
            print(
                f"  finance-level report, {arguments.ambassadors:,} ambassadors: "
                f"{finance.pages} pages in {finance.seconds:.1f} s",
                flush=True,
            )
            html = naive_document(detail)
            naive_seconds, naive_pdf = timed(lambda: HTML(string=html).write_pdf(), 1)
            naive_pages = page_count(naive_pdf)

    met = ratio <= RATIO_TARGET
    print("\nfigures")
    print(
        f"  summary report, {small_postings:,} postings      {small.seconds:8.3f} s   "
        f"peak {small.peak_mb:7.1f} MB"
    )
    print(
        f"  summary report, {arguments.postings:,} postings  {large.seconds:8.3f} s   "
        f"peak {large.peak_mb:7.1f} MB"
    )
    print(
        f"  ratio                                   {ratio:8.2f}     "
        f"target <= {RATIO_TARGET}: {'met' if met else 'MISSED'}"
    )
    print(f"  cached download                         {cached_seconds * 1000:8.1f} ms")
    print(
        f"  finance level, {arguments.ambassadors:,} ambassadors       "
        f"{finance.pages / finance.seconds:8.2f} pages/s ({finance.pages} pages, "
        f"{finance.seconds:.1f} s)"
    )
    print(
        f"  naive WeasyPrint, same tables           {naive_pages / naive_seconds:8.2f} pages/s "
        f"({naive_pages} pages, {naive_seconds:.1f} s)"
    )
    return 1 if arguments.check and not met else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse(argv))


if __name__ == "__main__":
    sys.exit(main())
