"""Report benchmark: how long the allocation report takes as the ledger grows, what a cached
download costs, and how fast the finance-level report renders against WeasyPrint on a plain
document of the same tables.

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/report_bench.py
    .venv/bin/python bench/report_bench.py --postgres
    .venv/bin/python bench/report_bench.py --ambassadors 500 --postings 50000   # a quick look

One run builds two fresh databases with the ledger benchmark's loader
(``bench/ledger_bench.py``): each a therapy fund and ``--ambassadors`` ambassadors with
wallets and an opening allowance, grown with session cycles (allowance, redemption held,
approved, paid), one to 10,000 postings and one to ``--postings``; the reports' running
totals are then folded, as the worker does every minute. The two are measured in turn, so
that other work on the machine weighs on both alike. It prints:

1. the time (best of five, figures and rendering, no cache) and the peak Python memory
   (``tracemalloc``, in a separate untimed run) of the summary report (programme level:
   funds, and programme by country) at 10,000 and at ``--postings`` postings, and their ratio
   (target: at most 1.5);
2. the time of a cached download: figures, fingerprint and the file from the cache;
3. the pages per second of the finance-level report (a row per ambassador);
4. the reference: WeasyPrint rendering the same tables naively, as one plain HTML document
   with the default fetcher and no PDF/A (the two best of two, in turn).

``--check`` makes the exit status 1 when the ratio target is missed.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
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
from grants.reports.parameters import Privacy, ReportParameters
from grants.reports.tables import report_tables
from grants.seed.bulk import settle_storage
from grants.seed.loader import LedgerLoader

SMALL = 10_000
RATIO_TARGET = 1.5
ROUNDS = 5


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


def describe_load() -> str:
    """The machine's processors and load: other work on it slows every figure here."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} processors, load average {one:.2f} (1 min), {five:.2f} (5 min)"


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


def timed_once(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


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
        rows = [line.values or (line.caption,) for line in shown.lines]
        for row in [*rows, *([shown.totals] if shown.totals else [])]:
            parts.append("<tr>" + "".join(f"<td>{escape(value)}</td>" for value in row) + "</tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "".join(parts)


def folded(session: Any) -> None:
    """Fold the running totals as the worker would, and say how long it took."""
    started = time.perf_counter()
    mark = fold(session)
    session.commit()
    print(
        f"  totals folded up to transaction {mark.transaction_id:,} "
        f"in {time.perf_counter() - started:.2f} s",
        flush=True,
    )


@dataclass
class Ledger:
    """One scratch database with its application, grown to a number of postings."""

    app: Flask
    postings: int
    summary: ReportParameters
    detail: ReportParameters


def build_ledger(
    scratch: Any, instance: str, options: Any, ambassadors: int, postings: int, seed: int
) -> Ledger:
    """A database of ``ambassadors`` with an opening allowance, grown to ``postings`` with
    session cycles by the ledger benchmark's loader, its running totals folded."""
    import random

    rng = random.Random(seed)  # noqa: S311 - a repeatable workload, not a secret
    app = build_app(scratch, instance)
    with app.app_context():
        db.create_all()
        session = db.session()
        books = open_books(session, options, datetime.now(UTC).date())
        loader = LedgerLoader(
            session, books, datetime.combine(books.plan_year_start, datetime.min.time(), tzinfo=UTC)
        )
        started = time.perf_counter()
        loader.enrol_ambassadors(ambassadors)
        loader.cohort_allowance(options.opening_allowance)
        loader.grow_to(postings, rng)
        settle_storage(session)
        print(
            f"  {scratch.where}: {loader.postings:,} postings in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        folded(db.session())
        fund = db.session.get_one(Fund, books.fund_id)
        summary, detail = (
            ReportParameters(
                currency=fund.currency,
                start=fund.plan_year_start,
                end=fund.plan_year_end,
                privacy=privacy,
                fund_id=fund.id,
            )
            for privacy in (Privacy.PROGRAMME, Privacy.FINANCE)
        )
        db.session.rollback()
        made_afresh(summary)()  # warm-up: fonts, templates, imports, the page cache
        db.session.remove()
    return Ledger(app, loader.postings, summary, detail)


def alternating(
    first: Callable[[], Any], second: Callable[[], Any], rounds: int
) -> tuple[float, float, Any, Any]:
    """The best times of ``first`` and ``second`` run in turn, so that whatever else the
    machine does weighs on both alike; and their last results."""
    best = [float("inf"), float("inf")]
    results: list[Any] = [None, None]
    for _ in range(rounds):
        for index, action in enumerate((first, second)):
            seconds, results[index] = timed_once(action)
            best[index] = min(best[index], seconds)
    return best[0], best[1], results[0], results[1]


def in_context(ledger: Ledger, action: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with ledger.app.app_context():
            try:
                return action()
            finally:
                db.session.remove()

    return run


def run(arguments: argparse.Namespace) -> int:
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
    with (
        tempfile.TemporaryDirectory(prefix="report-bench-instance-") as small_instance,
        tempfile.TemporaryDirectory(prefix="report-bench-instance-") as large_instance,
        scratch_database(options) as small_scratch,
        scratch_database(options) as large_scratch,
    ):
        backend = "PostgreSQL" if arguments.postgres else "SQLite"
        print(f"report benchmark on {backend}", flush=True)
        print(f"  {describe_load()}", flush=True)
        small = build_ledger(
            small_scratch, small_instance, options, arguments.ambassadors, SMALL, arguments.seed
        )
        large = build_ledger(
            large_scratch,
            large_instance,
            options,
            arguments.ambassadors,
            arguments.postings,
            arguments.seed,
        )
        try:
            small_seconds, large_seconds, small_pdf, large_pdf = alternating(
                in_context(small, made_afresh(small.summary)),
                in_context(large, made_afresh(large.summary)),
                ROUNDS,
            )
            small_peak = in_context(small, lambda: peak_megabytes(made_afresh(small.summary)))()
            large_peak = in_context(large, lambda: peak_megabytes(made_afresh(large.summary)))()
            ratio = large_seconds / small_seconds
            print(
                f"  summary report: {small_seconds:.3f} s at {small.postings:,} postings, "
                f"{large_seconds:.3f} s at {large.postings:,}",
                flush=True,
            )

            def cached_download() -> bytes:
                outcome = build.request_pdf(
                    db.session(), large.summary, now=datetime.now(UTC), background_rows=10**9
                )
                assert outcome.pdf is not None
                return outcome.pdf

            in_context(large, cached_download)()
            cached_seconds, _ = timed(in_context(large, cached_download), 5)
            print(f"  cached download: {cached_seconds * 1000:.1f} ms", flush=True)

            html = in_context(large, lambda: naive_document(large.detail))()
            finance_seconds, naive_seconds, finance_pdf, naive_pdf = alternating(
                in_context(large, made_afresh(large.detail)),
                lambda: HTML(string=html).write_pdf(),
                2,
            )
            finance_pages, naive_pages = page_count(finance_pdf), page_count(naive_pdf)
            print(
                f"  finance level: {finance_pages} pages in {finance_seconds:.1f} s; "
                f"naive: {naive_pages} pages in {naive_seconds:.1f} s",
                flush=True,
            )
        finally:
            for ledger in (small, large):
                with ledger.app.app_context():
                    db.session.remove()
                    db.engine.dispose()

    met = ratio <= RATIO_TARGET
    print(f"\nfigures ({describe_load()})")
    print(
        f"  summary report, {small.postings:>9,} postings   {small_seconds:8.3f} s   "
        f"peak {small_peak:6.1f} MB   {page_count(small_pdf)} pages"
    )
    print(
        f"  summary report, {large.postings:>9,} postings   {large_seconds:8.3f} s   "
        f"peak {large_peak:6.1f} MB   {page_count(large_pdf)} pages"
    )
    print(
        f"  ratio                                {ratio:8.2f}     "
        f"target <= {RATIO_TARGET}: {'met' if met else 'MISSED'}"
    )
    print(f"  cached download                      {cached_seconds * 1000:8.1f} ms")
    print(
        f"  finance level, {arguments.ambassadors:,} ambassadors   "
        f"{finance_pages / finance_seconds:8.2f} pages/s ({finance_pages} pages, "
        f"{finance_seconds:.1f} s)"
    )
    print(
        f"  naive WeasyPrint, same tables        {naive_pages / naive_seconds:8.2f} pages/s "
        f"({naive_pages} pages, {naive_seconds:.1f} s)"
    )
    return 1 if arguments.check and not met else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse(argv))


if __name__ == "__main__":
    sys.exit(main())
