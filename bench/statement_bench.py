"""Statement benchmark: how long reading an uploaded bank statement takes, as camt.053 XML
and as CSV, each of 10,000 lines by default.

Run from the project root::

    .venv/bin/python bench/statement_bench.py
    .venv/bin/python bench/statement_bench.py --lines 50000 --repeat 3

It builds a ``camt.053.001.02`` statement with the tests' builder
(:func:`tests.payments.camt.camt053`): mostly single transfers with an end-to-end id and a
remittance line, every 100th entry a batch of 20 payments and every 250th a bank fee without
details; and a CSV of the same number of rows, dates in both accepted forms, debits and
credits, amounts with thousands separators. Each file is read ``--repeat`` times with
:func:`grants.payments.statements.read_statement` (parsing only: matching against payments
is another benchmark's), and the median and slowest wall-clock and CPU seconds are printed
against the target (a median under 1 s for 10,000 lines), beside lxml's parse of the same XML alone
for scale (on a busy machine both slow down together). The exit status is 1 when a read returns
another number of lines than was written, or with ``--check`` when the target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree

from grants.payments.statements import read_statement
from tests.payments.camt import Entry, Transaction, camt053

TARGET_SECONDS = 1.0
"""The longest a read of 10,000 lines may take (scaled with ``--lines``)."""
FIRST_DAY = date(2024, 1, 1)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000, help="lines in each file")
    parser.add_argument("--repeat", type=int, default=5, help="reads of each file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def camt_statement(lines: int) -> bytes:
    entries = []
    for number in range(lines):
        booked_on = FIRST_DAY + timedelta(days=number % 365)
        if number % 100 == 99:
            run = tuple(
                Transaction(f"PAY-{number}-{n}", 1_000 + n, f"Session {n}") for n in range(20)
            )
            amount = sum(payment.amount for payment in run)
            entries.append(Entry(booked_on, amount, pmt_inf_id=f"RUN-{number}", transactions=run))
        elif number % 250 == 249:
            entries.append(Entry(booked_on, 350, bank_reference=f"FEE-{number}", text="Fee"))
        else:
            entries.append(
                Entry(
                    booked_on,
                    8_000 + number,
                    direction="credit" if number % 7 == 0 else "debit",
                    end_to_end_id=f"PAY-{number}",
                    bank_reference=f"BANK-{number}",
                    text=f"Therapy sessions, invoice {number}",
                )
            )
    return camt053(entries, currency="GBP", statement_id="BENCH")


def csv_statement(lines: int) -> bytes:
    rows = ["\ufeffDate,Amount,Reference,Currency,Description"]
    for number in range(lines):
        booked_on = FIRST_DAY + timedelta(days=number % 365)
        written = booked_on.isoformat() if number % 2 else booked_on.strftime("%d/%m/%Y")
        whole, cents = divmod(123_456 + number * 37, 100)
        sign = "" if number % 7 == 0 else "-"
        rows.append(f'{written},"{sign}{whole:,}.{cents:02d}",PAY-{number},GBP,Invoice {number}')
    return ("\r\n".join(rows) + "\r\n").encode()


def timed(data: bytes, repeat: int, lines: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        statement = read_statement(data, max_lines=max(lines, 50_000), max_bytes=len(data))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        if len(statement.lines) != lines:
            raise SystemExit(f"read {len(statement.lines)} lines of {lines}")
    return walls, cpus


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse(argv)
    target = TARGET_SECONDS * arguments.lines / 10_000
    missed = False
    files = (("camt.053", camt_statement), ("CSV", csv_statement))
    print(f"{arguments.lines:,} lines, {arguments.repeat} reads each, target under {target:g} s")
    for name, build in files:
        data = build(arguments.lines)
        walls, cpus = timed(data, arguments.repeat, arguments.lines)
        median = statistics.median(walls)
        missed |= median >= target
        print(
            f"{name:>9}: {len(data) / 1_000_000:5.1f} MB  median {median:.3f} s  slowest "
            f"{max(walls):.3f} s  (CPU median {statistics.median(cpus):.3f} s)  "
            f"{'ok' if median < target else 'MISSED'}"
        )
        if name == "camt.053":
            floor = []
            for _ in range(arguments.repeat):
                started = time.perf_counter()
                etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
                floor.append(time.perf_counter() - started)
            print(
                f"{'':>9}  lxml's parse alone: median {statistics.median(floor):.3f} s, "
                f"the read {median / statistics.median(floor):.1f} times as long"
            )
    return 1 if missed and arguments.check else 0


if __name__ == "__main__":
    sys.exit(main())
