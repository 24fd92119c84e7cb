"""Where pgbuild's time goes: cProfile over many operations of a case.

::

    python -m benchmarks.profiling                       # sync.point_select, sync.filtered_page
    python -m benchmarks.profiling sync.upsert compile.upsert --ops 5000 --top 20
    python -m benchmarks.profiling sync.bulk_insert:pgbuild_copy_into   # another contender

For each case it times pgbuild and raw psycopg without the profiler (the
overhead to explain is the difference), then profiles pgbuild and lists the
functions in pgbuild/ by cumulative time, per operation. Sync and
compile-only cases (the async ones spend the same time in the same
I/O-free code). Same server choice as ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.cases_compile import compile_cases
from benchmarks.cases_sync import sync_cases
from benchmarks.catalog import PGBUILD, PSYCOPG, Shared
from benchmarks.dataset import seed
from benchmarks.harness import Contender
from benchmarks.server import bench_target
from benchmarks.suite import FULL, POOL_SIZE, PREPARE_THRESHOLD, sql_runner
from pgbuild import Database

PACKAGE = f"{os.sep}pgbuild{os.sep}"


def entries(profile: cProfile.Profile, ops: int, top: int, inside: bool) -> list[str]:
    """The ``top`` functions by cumulative time (in pgbuild/ only, when ``inside``)."""
    stats: Any = pstats.Stats(profile).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    rows = []
    for (file, line, name), (_cc, calls, own, cumulative, _callers) in stats.items():
        if inside != (PACKAGE in file):
            continue
        if not inside and f"{os.sep}benchmarks{os.sep}" in file:
            continue  # the harness's own loop
        where = "pgbuild/" + file.split(PACKAGE, 1)[1] if inside else Path(file).name
        rows.append((cumulative, own, calls, f"{where}:{line} {name}"))
    rows.sort(reverse=True)
    return [
        f"  {ct / ops * 1e6:9.2f}  {tt / ops * 1e6:9.2f}  {calls / ops:8.2f}  {what}"
        for ct, tt, calls, what in rows[:top]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", default=["sync.point_select", "sync.filtered_page"])
    parser.add_argument("--ops", type=int, default=2000, help="operations profiled per case")
    parser.add_argument("--top", type=int, default=15, help="entries listed per case")
    args = parser.parse_args(argv)

    with bench_target(os.environ.get("DATABASE_URL") or None) as target:
        data = seed(target.url, FULL.users)
        with psycopg.connect(target.url, autocommit=True) as admin, Database(
            target.url, min_size=1, max_size=POOL_SIZE, prepare_threshold=PREPARE_THRESHOLD
        ) as db:
            shared = Shared(data, FULL.bulk_rows, None, None, sql_runner(admin))
            cases = {c.id: c for c in compile_cases(db, None, None) + sync_cases(shared, db, None)}
            chosen = [(*spec.split(":", 1), PGBUILD)[:2] for spec in args.cases]
            unknown = [c for c, _ in chosen if c not in cases]
            if unknown:
                parser.error(f"unknown or unsupported cases {unknown}; choose from {sorted(cases)}")
            for case_id, contender in chosen:
                profile_case(cases[case_id], contender, args.ops, args.top)
    return 0


def profile_case(case: Any, name: str, ops: int, top: int) -> None:
    by_name = {c.name: c for c in case.contenders}
    if name not in by_name:
        raise SystemExit(f"{case.id} has no contender {name!r}; it has {sorted(by_name)}")
    mine, raw = by_name[name], by_name.get(PSYCOPG)
    contenders = [c for c in (mine, raw) if c is not None]
    one_by_one = case.max_ops == 1  # bulk inserts: the table is emptied after each
    if one_by_one:
        ops = min(ops, 20)
    for c in contenders:  # warm up, past prepare_threshold
        timed_run(case, c, 0, min(ops, 50), one_by_one)
    timed = {c.name: timed_run(case, c, 1000, ops, one_by_one) / ops for c in contenders}
    profile = cProfile.Profile()
    profiled = timed_run(case, mine, 3000, ops, one_by_one, profile) / ops
    line = f"{case.id}: {name} {timed[name] * 1e6:.1f} µs/op"
    if raw is not None and raw is not mine:
        line += (f", psycopg {timed[PSYCOPG] * 1e6:.1f} µs/op, overhead "
                 f"{(timed[name] - timed[PSYCOPG]) * 1e6:.1f} µs/op")
    print(line)
    print(f"profiled: {ops} operations, {profiled * 1e6:.1f} µs/op under cProfile")
    print("  cum µs/op  own µs/op  calls/op  function (in pgbuild/, by cumulative time)")
    print("\n".join(entries(profile, ops, top, inside=True)))
    print("  ... and outside pgbuild/ (psycopg, the pool, the standard library):")
    print("\n".join(entries(profile, ops, 8, inside=False)))
    print()
    sys.stdout.flush()


def timed_run(
    case: Any,
    contender: Contender,
    start: int,
    ops: int,
    one_by_one: bool,
    profile: cProfile.Profile | None = None,
) -> float:
    """Seconds for ``ops`` operations (profiled when asked); resets outside."""
    reset = case.reset or (lambda: None)
    batches = [(start + i, 1) for i in range(ops)] if one_by_one else [(start, ops)]
    seconds = 0.0
    for first, n in batches:
        if profile is not None:
            profile.enable()
        seconds += contender.batch(first, n)
        if profile is not None:
            profile.disable()
        reset()
    return seconds


if __name__ == "__main__":
    raise SystemExit(main())
