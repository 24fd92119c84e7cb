"""The run: server, dataset, the three groups of cases, the report.

``main(argv)`` is ``python -m benchmarks``; ``run(options)`` does the work
and returns the results (what ``results.json`` holds), for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import report
from benchmarks.cases_async import async_cases
from benchmarks.cases_compile import compile_cases
from benchmarks.cases_studio import studio_cases
from benchmarks.cases_sync import sync_cases
from benchmarks.catalog import LABELS, Shared
from benchmarks.dataset import seed
from benchmarks.harness import Case, CaseResult, Settings, run_case
from benchmarks.latency import delayed, round_trip
from benchmarks.peers import Sqla, load_peers
from benchmarks.server import (
    bench_target,
    load_average,
    machine_info,
    server_info,
    versions,
)
from pgbuild import AsyncDatabase, Database

HERE = Path(__file__).resolve().parent
POOL_SIZE = 4  # pgbuild's pool: 1..4 connections; SQLAlchemy's: up to 4. One is in use at a time.
PREPARE_THRESHOLD = 5  # pgbuild's default, psycopg's default


@dataclass(frozen=True)
class Mode:
    name: str
    rounds: int
    warmup: int
    target: float  # seconds per batch
    users: int
    bulk_rows: int
    studio_rows: int = 10_000  # the studio cases' table


FULL = Mode("full", rounds=25, warmup=10, target=0.03, users=2000, bulk_rows=10_000,
            studio_rows=1_000_000)
QUICK = Mode("quick", rounds=3, warmup=6, target=0.004, users=200, bulk_rows=1_000)


@dataclass
class Options:
    mode: Mode = FULL
    url: str | None = None  # None: an embedded server in a temporary directory
    output: Path | None = HERE / "results.json"
    chart: Path | None = HERE / "results.png"
    only: list[str] = field(default_factory=list)  # substrings of case ids
    peers: bool = True
    latency_ms: float | None = None  # a proxy adding this much to each round trip
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)


def run(options: Options) -> dict[str, Any]:
    """Run the suite; write the JSON (and chart) when asked; return the results."""
    mode = options.mode
    settings = Settings(rounds=mode.rounds, warmup=mode.warmup, target=mode.target)
    sqla, pika, notes = load_peers() if options.peers else (None, None, ["peers disabled"])
    for note in notes:
        options.log(note)
    started = time.perf_counter()
    machine = machine_info()
    busy = _busy(machine["load_average_1min"], machine["cpu_count"], "at the start")
    if busy:
        notes.append(busy)
        options.log(notes[-1])
    with bench_target(options.url) as target:
        options.log(f"server: {target.server}; schema {target.schema}; seeding ...")
        data = seed(target.url, mode.users)
        with _network(target.url, options.latency_ms) as (url, network):
            with psycopg.connect(url, autocommit=True) as admin:
                shared = Shared(data, mode.bulk_rows, sqla, pika, sql_runner(admin))
                results = _run_groups(shared, url, settings, options, notes)
        pg = server_info(target.url)
        server = target.server
    out = {
        "suite": "pgbuild benchmarks",
        "mode": mode.name,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - started, 1),
        "settings": {**asdict(settings), "pool_size": POOL_SIZE,
                     "prepare_threshold": PREPARE_THRESHOLD, "autocommit": True},
        "dataset": {"users": data.users, "sessions": data.sessions,
                    "bulk_rows": mode.bulk_rows, "studio_rows": mode.studio_rows},
        "server": server,
        "postgresql": pg,
        "network": network,
        "machine": {**machine, "load_average_1min_end": load_average()},
        "versions": versions(),
        "contenders": LABELS,
        "notes": notes,
        "cases": [r.to_json() for r in results],
    }
    busy = _busy(out["machine"]["load_average_1min_end"], machine["cpu_count"], "at the end")
    if busy:
        notes.append(busy)
    out["chart"] = None
    if options.chart is not None:
        note = report.write_chart(out, options.chart)
        if note:
            out["notes"].append(note)
        else:
            out["chart"] = str(options.chart)
    if options.output is not None:
        report.write_json(out, options.output)
    return out


@contextmanager
def _network(url: str, latency_ms: float | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """The URL the cases use (through the latency proxy when asked) and the
    round trips measured on it, for the report."""
    if latency_ms is None:
        yield url, {"added_ms": None, "round_trip_s": round_trip(url)}
        return
    direct = round_trip(url)
    with delayed(url, latency_ms) as proxied:
        yield proxied, {"added_ms": latency_ms, "round_trip_s": round_trip(proxied),
                        "direct_round_trip_s": direct}


def _busy(load: float | None, cpus: int | None, when: str) -> str | None:
    """A warning when other processes keep the CPUs busy (client and server
    share them: everything slows down, unevenly)."""
    if load is None or not cpus or load < 0.5 * cpus:
        return None
    return f"the machine was busy {when} (load average {load}, {cpus} CPUs): expect noisy numbers"


def sql_runner(admin: psycopg.Connection[Any]) -> Callable[[str], Any]:
    def run_sql(statement: str) -> Any:
        cur = admin.execute(statement)  # type: ignore[call-overload]
        row = cur.fetchone() if cur.description is not None else None
        return row[0] if row else None

    return run_sql


def _run_groups(
    shared: Shared, url: str, settings: Settings, options: Options, notes: list[str]
) -> list[CaseResult]:
    results: list[CaseResult] = []

    def go(cases: list[Case]) -> None:
        for case in cases:
            if options.only and not any(s in case.id for s in options.only):
                continue
            result = run_case(case, settings)
            errors = [n for n, t in result.timings.items() if t.error]
            options.log(
                f"{case.id:<32} {result.seconds:6.1f} s  n={result.ops_per_batch}"
                + (f"  errors: {', '.join(errors)}" if errors else "")
            )
            results.append(result)

    db = Database(url, min_size=1, max_size=POOL_SIZE, prepare_threshold=PREPARE_THRESHOLD)
    with ExitStack() as stack:
        stack.callback(db.close)
        db.pool.wait()
        go(compile_cases(db, shared.sqla, shared.pika))
        engine = _engine(shared.sqla, url, stack)
        go(sync_cases(shared, db, engine))
        stack.close()  # the sync pool and engine, before the async ones open

        # The sync writes changed names and login times: start again from the same data.
        seed(url, shared.data.users)

        loop = asyncio.new_event_loop()
        stack.callback(loop.close)
        adb = AsyncDatabase(url, min_size=1, max_size=POOL_SIZE,
                            prepare_threshold=PREPARE_THRESHOLD)
        stack.callback(lambda: loop.run_until_complete(adb.close()))
        loop.run_until_complete(adb.open())
        loop.run_until_complete(adb.pool.wait())
        aengine = None
        if shared.sqla is not None:
            try:
                aengine = shared.sqla.async_engine(url, POOL_SIZE, PREPARE_THRESHOLD)
            except ImportError as exc:
                note = (f"SQLAlchemy async skipped: {exc.name or exc} is not installed "
                        "(pip install 'sqlalchemy[asyncio]')")
                notes.append(note)
                options.log(note)
            else:
                engine_ = aengine
                stack.callback(lambda: loop.run_until_complete(engine_.dispose()))
        go(async_cases(shared, adb, aengine, loop))
    with studio_cases(url, shared.run_sql, options.mode.studio_rows) as cases:
        go(cases)
    return results


def _engine(sqla: Sqla | None, url: str, stack: ExitStack) -> Any:
    if sqla is None:
        return None
    engine = sqla.engine(url, POOL_SIZE, PREPARE_THRESHOLD)
    stack.callback(engine.dispose)
    return engine


@contextmanager
def _stdout_utf8() -> Iterator[None]:
    """The micro and multiplication signs survive a non-UTF-8 console as '?',
    not as a crash."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")
    yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="pgbuild against raw psycopg, SQLAlchemy Core and PyPika, interleaved. "
        "Uses DATABASE_URL when set (tables go in a schema of their own, dropped "
        "afterwards), else an embedded PostgreSQL in a temporary directory.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run (small dataset, 3 rounds); numbers are not meaningful")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default: 25, quick: 3)")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="only cases whose id contains TEXT (repeatable), e.g. sync.point")
    parser.add_argument("--output", type=Path, default=HERE / "results.json",
                        help="where to write the JSON results (default: %(default)s)")
    parser.add_argument("--chart", type=Path, default=None,
                        help="where to draw the PNG chart when matplotlib is installed "
                        "(default: results.png beside the JSON)")
    parser.add_argument("--no-chart", action="store_true", help="draw no chart")
    parser.add_argument("--no-peers", action="store_true",
                        help="only pgbuild and psycopg, even if the peers are installed")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--latency", type=float, metavar="MS",
                        help="reach the server through a proxy that adds MS milliseconds to "
                        "each round trip, as a network would (see benchmarks/latency.py)")
    args = parser.parse_args(argv)

    if args.latency is not None and args.latency <= 0:
        parser.error("--latency must be a positive number of milliseconds")
    mode = QUICK if args.quick else FULL
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        mode = Mode(**{**asdict(mode), "rounds": args.rounds})
    chart = None if args.no_chart else (args.chart or args.output.with_suffix(".png"))
    options = Options(
        mode=mode,
        url=os.environ.get("DATABASE_URL") or None,
        output=args.output,
        chart=chart,
        only=args.only,
        peers=not args.no_peers,
        latency_ms=args.latency,
    )
    results = run(options)
    with _stdout_utf8():
        print(report.render(results, markdown=args.markdown))
        print(f"\nwrote {args.output}" + (f" and {results['chart']}" if results["chart"] else ""))
    failed = any(e.get("error") for c in results["cases"] for e in c["contenders"].values())
    return 1 if failed else 0
