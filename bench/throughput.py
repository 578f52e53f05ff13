"""Throughput benchmark: the ambassador's wallet page and the fair page side by side under
gunicorn, driven by a compiled load generator (``wrk``).

Run from the project root, on SQLite (the default) or on PostgreSQL::

    .venv/bin/python bench/throughput.py               # 1,000 ambassadors, 100,000 postings
    .venv/bin/python bench/throughput.py --large       # 10,000 ambassadors, 1,000,000 postings
    .venv/bin/python bench/throughput.py --postgres    # in a schema of its own, dropped after
    .venv/bin/python bench/throughput.py --quick       # a small dataset, 5 s a run
    .venv/bin/python bench/throughput.py --seconds 20 --workers 4 --connections 8

One run:

1. makes a database for the run and fills it with ``flask grants seed-scale``, then folds
   the ledger into the reports' running totals, as the background worker would have done
   (``bench/load.py``'s helpers: ``run_database``, ``migrate_and_seed``);
2. serves the application and the fair page (``bench/fair_app.py``: a signed session cookie,
   one indexed SELECT through SQLAlchemy Core, a small Jinja template) on the same database,
   each with the same gunicorn settings (``load.Server``: ``--workers`` sync workers on an
   ephemeral port of 127.0.0.1), rate limits off since every request comes from 127.0.0.1;
3. signs in to each as the demo ambassador: to the application through its login form (the
   CSRF token read from the page, password ``heart-and-soul-demo``), to the fair page with
   ``POST /sign-in/<the ambassador's user id>``; then requests ``/wallet/`` and the fair
   page once with the cookie that ``wrk`` will send, and stops unless each answers 200 with
   its own page (the wallet's redeem link, the fair page's greeting), so that a redirect to
   the login page is never timed as a wallet page;
4. warms both up, then runs ``wrk -t<threads> -c<connections> -d<seconds>s --latency``
   against the fair page, the wallet page and the fair page again, one after the other (the
   second fair run shows how much the machine moved during the wallet's; ``--rounds 2``
   adds a wallet and a fair run more), then the application's empty signed-in page
   (``bench/stack_floor.py``, the most any of its pages can serve) and the fair page a last
   time; a small Lua script counts every answer's status,
   since ``wrk`` itself counts only 4xx and 5xx as errors;
5. prints a table (requests, requests per second, latency percentiles, answers other than
   2xx, socket errors) and the issue's targets: the wallet page's throughput at least
   :data:`THROUGHPUT_TARGET` of the fair page's (the mean of the wallet's runs over the
   mean of the fair page's), and its median latency (the median of its runs' medians)
   under :data:`P50_TARGET_MS` ms.

The exit status is 1 when any answer was not 2xx, a request got no answer (socket errors,
timeouts), or signing in failed; otherwise 0, whatever the figures. The load generator
runs on the same machine as the servers: read the ratio, measured within one run, rather
than the absolute figures.
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

from sqlalchemy import create_engine, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import load  # noqa: E402
from stack_floor import EMPTY, EMPTY_MARK  # noqa: E402

from grants import create_app  # noqa: E402
from grants.models import User  # noqa: E402
from grants.seed.demo import email_for  # noqa: E402
from grants.tasks import run_fold  # noqa: E402

THROUGHPUT_TARGET = 0.35
"""The wallet page serves at least this share of the fair page's requests per second."""
P50_TARGET_MS = 20.0
"""The wallet page's median latency is under this many milliseconds."""
WALLET = "/wallet/"
WALLET_MARK = re.compile(r'href="/wallet/\d+/redeem"')
"""What shows that an answer is the ambassador's wallet page: its redeem link."""
FAIR = "/"
WARM_UP_SECONDS = 2
QUICK = {"ambassadors": 60, "postings": 6_000, "seconds": 5}
LARGE = {"ambassadors": 10_000, "postings": 1_000_000}
COUNTING_SCRIPT = """
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  good = 0
  other = 0
  last_other = 0
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    good = good + 1
  else
    other = other + 1
    last_other = status
  end
end

function done(summary, latency, requests)
  local good, other, last_other = 0, 0, 0
  for _, thread in ipairs(threads) do
    good = good + thread:get("good")
    other = other + thread:get("other")
    if thread:get("last_other") ~= 0 then last_other = thread:get("last_other") end
  end
  local errors = summary.errors
  io.write(string.format(
    "COUNTED requests=%d duration_us=%d good=%d other=%d last_other=%d "
    .. "p50_us=%d p75_us=%d p90_us=%d p99_us=%d max_us=%d "
    .. "connect=%d read=%d write=%d timeout=%d\\n",
    summary.requests, summary.duration, good, other, last_other,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency.max,
    errors.connect, errors.read, errors.write, errors.timeout))
end
"""
"""Counts the statuses of every answer per ``wrk`` thread, and prints them with the
summary and the latency percentiles (in microseconds) on one line that :func:`run_wrk`
reads."""


# --- options -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What to build and how to drive it."""

    postgres_url: str | None
    ambassadors: int
    postings: int
    seconds: int
    workers: int
    connections: int
    threads: int
    rounds: int
    seed: int


def parse_options(argv: list[str] | None = None) -> Options:
    """The options of the command line; ``--large`` and ``--quick`` set the sizes that
    ``--ambassadors``, ``--postings`` and ``--seconds`` do not."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog=f"Targets: the wallet page at least {THROUGHPUT_TARGET} of the fair page's "
        f"requests per second, its p50 under {P50_TARGET_MS:g} ms.",
    )
    load.dataset_options(parser, quick="60 ambassadors, 6,000 postings, 5 s a run")
    parser.add_argument("--seconds", type=int, help="length of each wrk run (default 15)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--rounds", type=int, default=1, help="wallet runs, each followed by a fair run (default 1)"
    )
    parser.add_argument("--seed", type=int, default=1, help="dataset seed")
    args = parser.parse_args(argv)
    defaults = {"ambassadors": 1_000, "postings": 100_000, "seconds": 15}
    chosen = load.chosen_sizes(args, defaults, LARGE, QUICK)
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return Options(
        postgres_url=args.postgres,
        workers=args.workers,
        connections=args.connections,
        threads=args.threads,
        rounds=args.rounds,
        seed=args.seed,
        **chosen,
    )


# --- the dataset and the servers -----------------------------------------------------------


@contextmanager
def built_dataset(options: Options, folder: Path) -> Iterator[dict[str, str]]:
    """The environment the servers run in, on a database migrated, seeded and folded for the
    run (dropped after)."""
    run_options = load.Options(
        postgres_url=options.postgres_url,
        ambassadors=options.ambassadors,
        postings=options.postings,
        seconds=float(options.seconds),
        workers=options.workers,
        clients=options.connections,
        seed=options.seed,
    )
    with load.run_database(run_options, folder) as database_url:
        instance = folder / "instance"
        environment = load.run_environment(database_url, instance)
        load.migrate_and_seed(environment, options.ambassadors, options.postings, options.seed)
        app = create_app({"DATABASE_URL": database_url, "INSTANCE_PATH": instance})
        run_fold(app)
        yield environment


def user_id_of(database_url: str, email: str) -> int:
    """The id of the user with ``email``."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            found = connection.scalar(select(User.id).where(User.email == email))
    finally:
        engine.dispose()
    if found is None:
        raise LookupError(f"the dataset has no user {email}")
    return int(found)


def cookie_header(browser: load.Browser) -> str:
    """The ``Cookie`` header ``browser`` sends."""
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def check_page(port: int, path: str, cookie: str, mark: re.Pattern[str]) -> None:
    """Request ``path`` once with ``cookie``; :class:`RuntimeError` unless it answers 200
    with a page that matches ``mark``."""
    connection = HTTPConnection(load.HOST, port, timeout=60)
    try:
        connection.request("GET", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        body = response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()
    if response.status != 200 or not mark.search(body):
        where = response.getheader("Location") or ""
        raise RuntimeError(
            f"GET {path} with the signed-in cookie answered {response.status} {where}, "
            f"not the page expected ({mark.pattern})"
        )


# --- wrk -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One ``wrk`` run against one page."""

    name: str
    requests: int
    seconds: float
    good: int
    other: int
    last_other: int
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


COUNTED = re.compile(r"^COUNTED (.*)$", re.MULTILINE)


def run_wrk(
    name: str, port: int, path: str, cookie: str, options: Options, seconds: int, script: Path
) -> Run:
    """Run ``wrk`` against ``path`` for ``seconds`` with the ``Cookie`` header ``cookie``."""
    command = [
        "wrk",
        f"-t{options.threads}",
        f"-c{options.connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "30s",
        "-s",
        str(script),
        "-H",
        f"Cookie: {cookie}",
        f"http://{load.HOST}:{port}{path}",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    found = COUNTED.search(finished.stdout)
    if finished.returncode != 0 or found is None:
        raise RuntimeError(
            f"wrk failed ({finished.returncode}):\n{finished.stdout}{finished.stderr}"
        )
    values = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", found.group(1))}
    return Run(
        name=name,
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        good=values["good"],
        other=values["other"],
        last_other=values["last_other"],
        p50_ms=values["p50_us"] / 1000,
        p75_ms=values["p75_us"] / 1000,
        p90_ms=values["p90_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
        max_ms=values["max_us"] / 1000,
        socket_errors=sum(values[kind] for kind in ("connect", "read", "write", "timeout")),
    )


# --- figures -------------------------------------------------------------------------------


def print_table(runs: list[Run]) -> None:
    """One line per ``wrk`` run."""
    print(
        f"  {'page':<14}{'requests':>9}{'req/s':>9}{'p50 ms':>8}{'p75 ms':>8}{'p90 ms':>8}"
        f"{'p99 ms':>8}{'max ms':>8}{'non-2xx':>9}{'socket errors':>15}"
    )
    for run in runs:
        other = f"{run.other} ({run.last_other})" if run.other else "0"
        print(
            f"  {run.name:<14}{run.requests:>9,}{run.per_second:>9.1f}{run.p50_ms:>8.2f}"
            f"{run.p75_ms:>8.2f}{run.p90_ms:>8.2f}{run.p99_ms:>8.2f}{run.max_ms:>8.1f}"
            f"{other:>9}{run.socket_errors:>15}"
        )


def print_stack_floor(empty: Run, fair_runs: list[Run]) -> None:
    """The application's empty page (``bench/stack_floor.py``) against the fair runs on
    either side of it: the most any page of the application can serve."""
    fair = statistics.mean(run.per_second for run in fair_runs)
    share = empty.per_second / fair if fair else 0.0
    print(
        f"  the stack's floor: an empty signed-in page in the application's layout serves "
        f"{share:.3f} of the fair page's requests per second ({empty.per_second:.1f}/s), "
        f"p50 {empty.p50_ms:.2f} ms: no page of the application can do better"
    )


def print_targets(fair_runs: list[Run], wallet_runs: list[Run]) -> None:
    """The wallet page against the fair page, and the targets met or not."""
    fair = statistics.mean(run.per_second for run in fair_runs)
    wallet = statistics.mean(run.per_second for run in wallet_runs)
    share = wallet / fair if fair else 0.0
    each = ", ".join(
        f"{run.per_second / before.per_second:.3f} and {run.per_second / after.per_second:.3f}"
        for run, before, after in zip(wallet_runs, fair_runs, fair_runs[1:], strict=False)
    )
    print(
        f"  the wallet page serves {share:.3f} of the fair page's requests per second "
        f"({wallet:.1f}/s against {fair:.1f}/s, the means of their runs; each wallet run "
        f"against the fair runs before and after it: {each})"
    )
    verdict = "met" if share >= THROUGHPUT_TARGET else "NOT MET"
    print(f"  target: wallet at least {THROUGHPUT_TARGET} of the fair page: {share:.3f}  {verdict}")
    p50 = statistics.median(run.p50_ms for run in wallet_runs)
    verdict = "met" if p50 < P50_TARGET_MS else "NOT MET"
    print(f"  target: wallet p50 under {P50_TARGET_MS:g} ms: {p50:.2f} ms  {verdict}")


# --- the run -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)")
        return 1
    engine_name = "PostgreSQL" if options.postgres_url else "SQLite"
    print(
        f"Throughput: {engine_name}, {options.ambassadors:,} ambassadors, "
        f"{options.postings:,} postings, gunicorn {options.workers} sync workers, "
        f"wrk {options.threads} threads {options.connections} connections, "
        f"{options.seconds} s a run; {load.machine()}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="grants-throughput-") as temporary,
        built_dataset(options, Path(temporary)) as environment,
        ExitStack() as servers,
    ):
        folder = Path(temporary)
        script = folder / "count.lua"
        script.write_text(COUNTING_SCRIPT, encoding="utf-8")
        log = folder / "gunicorn.log"
        fair_target = f"fair_app:create_fair_app(secret_key={secrets.token_hex(32)!r})"
        app = servers.enter_context(
            load.serving("stack_floor:create_app_with_floor()", environment, options.workers, log)
        )
        fair = servers.enter_context(load.serving(fair_target, environment, options.workers, log))
        app.wait_ready("/login")
        try:
            ambassador = email_for("ambassador")
            browser = load.Browser(app.port, load.Recorder())
            browser.sign_in(ambassador)
            wallet_cookie = cookie_header(browser)
            user_id = user_id_of(environment["GRANTS_DATABASE_URL"], ambassador)
            fair_browser = load.Browser(fair.port, load.Recorder())
            signed = fair_browser.request("sign-in", "POST", f"/sign-in/{user_id}", {})
            if signed.status != 200:
                raise RuntimeError(f"signing in to the fair page answered {signed.status}")
            fair_cookie = cookie_header(fair_browser)
            check_page(app.port, WALLET, wallet_cookie, WALLET_MARK)
            check_page(app.port, EMPTY, wallet_cookie, re.compile(re.escape(EMPTY_MARK)))
            check_page(fair.port, FAIR, fair_cookie, re.compile(r"<h1>Hello, "))
        except (RuntimeError, LookupError) as failure:
            print(f"  failed: {failure}")
            return 1

        def timed(name: str, port: int, path: str, cookie: str, seconds: int) -> Run:
            run = run_wrk(name, port, path, cookie, options, seconds, script)
            print(f"    {name}: {run.per_second:.1f} req/s, p50 {run.p50_ms:.2f} ms", flush=True)
            return run

        print(f"  warming up: {WARM_UP_SECONDS} s each")
        warm_up = [
            timed("fair warm-up", fair.port, FAIR, fair_cookie, WARM_UP_SECONDS),
            timed("wallet warm-up", app.port, WALLET, wallet_cookie, WARM_UP_SECONDS),
        ]
        print("  timing: the fair page, then the wallet page and the fair page again, by turns")
        fair_runs = [timed("fair", fair.port, FAIR, fair_cookie, options.seconds)]
        wallet_runs: list[Run] = []
        runs = [*fair_runs]
        for number in range(1, options.rounds + 1):
            suffix = f" {number}" if options.rounds > 1 else ""
            wallet_runs.append(
                timed(f"wallet{suffix}", app.port, WALLET, wallet_cookie, options.seconds)
            )
            again = f"fair{suffix}" if options.rounds > 1 else "fair again"
            fair_runs.append(timed(again, fair.port, FAIR, fair_cookie, options.seconds))
            runs += [wallet_runs[-1], fair_runs[-1]]
        empty = timed("empty page", app.port, EMPTY, wallet_cookie, options.seconds)
        fair_runs.append(timed("fair last", fair.port, FAIR, fair_cookie, options.seconds))
        runs += [empty, fair_runs[-1]]
        print(f"  after the runs: {load.machine()}")
        print_table(runs)
        print_stack_floor(empty, fair_runs[-2:])
        print_targets(fair_runs, wallet_runs)
        failed = [run for run in warm_up + runs if run.other or run.socket_errors]
        for run in failed:
            print(
                f"  {run.name}: {run.other} answers other than 2xx (last {run.last_other}), "
                f"{run.socket_errors} socket errors"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
