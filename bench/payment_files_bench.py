"""Bank payment files benchmark: a run paying 1,000 therapy providers for 5,000 sessions.

Run from the project root (no database is needed)::

    .venv/bin/python bench/payment_files_bench.py                  # 1,000 providers, 5,000 sessions
    .venv/bin/python bench/payment_files_bench.py --repeats 21
    .venv/bin/python bench/payment_files_bench.py --providers 5000 --sessions 25000 --check

One run:

1. makes a USD payment run of ``--providers`` payments to US checking and savings accounts,
   each paying some of ``--sessions`` sessions (every provider at least one, about five on
   average), so each payment carries its sessions' references; half the payee names come
   from a short list the files must fold (accents, ß, Ø, a curly apostrophe) or cannot
   write at all (a Japanese name);
2. builds the pain.001 document and the NACHA file ``--repeats`` times each and prints the
   median and the slowest build in seconds against the targets (pain.001 < 2 s, NACHA
   < 1 s), PASS when the median is under its target;
3. checks that both files total exactly what the sessions cost.

The machine's load average is printed before and after, since the figures share it with
whatever else runs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from grants.payments.nacha import build_nacha  # noqa: E402
from grants.payments.pain001 import NAMESPACE, build_pain001  # noqa: E402
from grants.payments.payees import BankAccount, Debtor, Payment, PaymentRun  # noqa: E402

PAIN001_TARGET = 2.0
"""Seconds within which the pain.001 document must be built."""
NACHA_TARGET = 1.0
"""Seconds within which the NACHA file must be built."""
NAMES = ("Dana Whitfield", "Zoë Brontë-Ødegård", "Jürgen Straße", "山田 太郎", "Siân O\u2019Connor")


def routing(bank: str) -> str:
    """``bank`` (8 digits) and its ABA check digit."""
    weights = (3, 7, 1, 3, 7, 1, 3, 7)
    total = sum(int(digit) * weight for digit, weight in zip(bank, weights, strict=True))
    return f"{bank}{(10 - total % 10) % 10}"


def payee_name(provider: int) -> str:
    """Half the providers have a name from :data:`NAMES`, the others a plain one."""
    return NAMES[provider % 10] if provider % 10 < len(NAMES) else f"Provider {provider}"


def make_run(providers: int, sessions: int, seed: int) -> PaymentRun:
    """A USD run paying ``providers`` for ``sessions`` sessions between them."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable workload, not a secret
    owner = list(range(providers)) + [rng.randrange(providers) for _ in range(sessions - providers)]
    references: list[list[str]] = [[] for _ in range(providers)]
    amounts = [0] * providers
    for number, provider in enumerate(owner):
        references[provider].append(f"S-2026-{number:06d}")
        amounts[provider] += rng.randrange(80_00, 250_01, 500)
    payments = tuple(
        Payment(
            end_to_end_id=f"BENCH-2026-03-{provider:06d}",
            payee_name=NAMES[provider % 10]
            if provider % 10 < len(NAMES)
            else f"Provider {provider}",
            payee_account=BankAccount.us(
                routing(f"{rng.randrange(1_000_000, 32_000_000):08d}"),
                f"{rng.randrange(10**6, 10**12)}",
                rng.choice(("checking", "savings")),
            ),
            amount=amounts[provider],
            remittance=tuple(references[provider]),
        )
        for provider in range(providers)
    )
    return PaymentRun(
        message_id="BENCH-2026-03",
        created_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        execution_date=date(2026, 3, 3),
        currency="USD",
        debtor=Debtor(
            name="Heart & Soul Therapy US",
            account=BankAccount.us(routing("02100002"), "123456789"),
            company_id="1123456789",
            immediate_destination=routing("02100002"),
            immediate_origin="1123456789",
            destination_name="JPMorgan Chase",
            origin_name="Heart and Soul",
        ),
        payments=payments,
    )


def seconds(build: Callable[[], bytes], repeats: int) -> tuple[float, float, bytes]:
    """Median and slowest of ``repeats`` builds, in seconds, and the last file built."""
    times = []
    built = b""
    for _ in range(repeats):
        started = time.perf_counter()
        built = build()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times), built


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=1_000, help="payments in the run")
    parser.add_argument("--sessions", type=int, default=5_000, help="sessions they are paid for")
    parser.add_argument("--repeats", type=int, default=9, help="builds of each file")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    options = parser.parse_args()
    if options.sessions < options.providers or options.providers < 1:
        parser.error("--sessions must be at least --providers, and both at least 1")

    print(load_average())
    run = make_run(options.providers, options.sessions, options.seed)
    expected = sum(payment.amount for payment in run.payments)
    print(
        f"{len(run.payments):,} payments, {options.sessions:,} session references, "
        f"total ${Decimal(expected).scaleb(-2):,}"
    )
    pain_median, pain_max, pain = seconds(lambda: build_pain001(run), options.repeats)
    nacha_median, nacha_max, nacha = seconds(lambda: build_nacha(run), options.repeats)

    control_sum = etree.fromstring(pain).findtext(
        "p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces={"p": NAMESPACE}
    )
    file_control = next(line for line in nacha.decode().split("\n") if line[:2] == "90")
    checks = {
        "pain.001 CtrlSum equals the sessions": Decimal(control_sum) * 100 == expected,
        "NACHA total credit equals the sessions": int(file_control[43:55]) == expected,
    }
    rows = (
        ("pain.001", pain_median, pain_max, PAIN001_TARGET, len(pain)),
        ("NACHA", nacha_median, nacha_max, NACHA_TARGET, len(nacha)),
    )
    print(f"{'file':<10}{'median s':>10}{'max s':>10}{'target s':>10}{'bytes':>12}")
    passed = True
    for name, median, slowest, target, size in rows:
        verdict = "PASS" if median < target else "FAIL"
        passed &= verdict == "PASS"
        print(f"{name:<10}{median:>10.4f}{slowest:>10.4f}{target:>10.1f}{size:>12,}  {verdict}")
    for check, held in checks.items():
        print(f"{'ok  ' if held else 'FAIL'} {check}")
    print(load_average())
    if not all(checks.values()):
        return 1
    return 1 if options.check and not passed else 0


if __name__ == "__main__":
    raise SystemExit(main())
