"""The benchmark harness works: a quick run, in process, on the test server.

A smoke test, never a timed one: it checks that every case runs every
contender to a number and that the results file is written, not how fast
anything is (CI machines are too noisy to judge speed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.catalog import COMPILE_SPECS, MAIN, PGBUILD, PSYCOPG, e2e_specs
from benchmarks.harness import Case, Settings, run_case, sync_contender
from benchmarks.suite import Mode, Options, run


@pytest.fixture(scope="module")
def executor() -> str:
    """The suite drives Database and AsyncDatabase itself: one test database
    is enough (conftest's ``executor`` would run this module twice)."""
    return "sync"


def tiny() -> Mode:
    return Mode("quick", rounds=2, warmup=6, target=0.001, users=40, bulk_rows=50)


@pytest.fixture(scope="module")
def results(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    lines: list[str] = []
    data = run(Options(mode=tiny(), url=database_url, output=out, chart=None,
                       log=lines.append))
    return {"data": data, "path": out, "log": lines}


def test_every_case_runs_in_each_group(results: dict) -> None:
    ids = [c["id"] for c in results["data"]["cases"]]
    expected = [f"compile.{s.key}" for s in COMPILE_SPECS]
    for group in ("sync", "async"):
        expected += [f"{group}.{s.key}" for s in e2e_specs(50)]
    expected += ["studio.first_page", "studio.keyset_page"]
    assert ids == expected


def test_every_contender_has_a_numeric_median_and_ratio(results: dict) -> None:
    for case in results["data"]["cases"]:
        contenders = case["contenders"]
        assert PGBUILD in contenders, case["id"]
        if case["group"] != "compile":
            assert PSYCOPG in contenders, case["id"]
        for name, entry in contenders.items():
            where = f"{case['id']} {name}"
            assert entry.get("error") is None, f"{where}: {entry.get('error')}"
            median, ratio = entry["median_s"], entry["ratio"]
            assert isinstance(median, float) and math.isfinite(median) and median > 0, where
            assert isinstance(ratio, float) and math.isfinite(ratio) and ratio > 0, where
            assert len(entry["samples_s"]) == tiny().rounds, where
        assert contenders[case["baseline"]]["ratio"] == pytest.approx(1.0), case["id"]


def test_peers_run_when_installed_and_are_noted_when_not(results: dict) -> None:
    data = results["data"]
    ran = {name for case in data["cases"] for name in case["contenders"]}
    for peer, label in (("sqlalchemy", "SQLAlchemy"), ("pypika", "PyPika")):
        skipped = [n for n in data["notes"] if n.startswith(f"{label} skipped")]
        assert (peer in ran) != bool(skipped), (peer, data["notes"])
    assert set(MAIN) - {"sqlalchemy", "pypika"} <= ran


def test_results_json_is_written_where_asked(results: dict) -> None:
    path: Path = results["path"]
    saved = json.loads(path.read_text())
    assert [c["id"] for c in saved["cases"]] == [c["id"] for c in results["data"]["cases"]]
    for key in ("timestamp", "machine", "postgresql", "versions", "settings", "dataset"):
        assert saved[key], key
    assert saved["postgresql"]["server_version"]
    assert "embedded" not in saved["server"]  # the URL it was given
    assert saved["chart"] is None


def test_the_table_renders(results: dict) -> None:
    from benchmarks.report import render

    for markdown in (False, True):
        text = render(results["data"], markdown=markdown)
        for case in results["data"]["cases"]:
            assert case["title"] in text


def test_rounds_rotate_and_results_are_checked_against_the_baseline() -> None:
    """No server: fake contenders that record when they run."""
    ran: list[str] = []

    def op(name: str, value: object) -> object:
        def run(i: int) -> object:
            ran.append(name)
            if value is None:
                raise RuntimeError("boom")
            return value

        return run

    case = Case(
        "t.case", "sync", "a case", baseline=PSYCOPG, canon=lambda result: result, max_ops=1,
        contenders=[
            sync_contender(PGBUILD, op(PGBUILD, 1)),
            sync_contender(PSYCOPG, op(PSYCOPG, 1)),
            sync_contender("wrong", op("wrong", 2)),
            sync_contender("broken", op("broken", None)),
        ],
    )
    result = run_case(case, Settings(rounds=3, warmup=1, target=0.001))

    warm_up = [PSYCOPG, PGBUILD, "wrong", "broken"]  # the baseline first
    rounds = [PSYCOPG, PGBUILD, PGBUILD, PSYCOPG, PSYCOPG, PGBUILD]  # rotating
    assert ran == warm_up + rounds
    assert result.timings["wrong"].error == "AssertionError: result differs from psycopg's: 2 != 1"
    assert result.timings["broken"].error == "RuntimeError: boom"
    assert result.ratio(PSYCOPG) == 1.0
    assert len(result.timings[PGBUILD].samples) == 3


def test_the_latency_proxy_forwards_every_byte_and_holds_each_round_trip(
    database_url: str,
) -> None:
    """``--latency``: a result larger than one chunk arrives whole, and every
    round trip takes at least the delay asked for (the proxy holds each
    chunk half of it in each direction)."""
    import psycopg

    from benchmarks.latency import delayed, round_trip

    with delayed(database_url, 20) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            big = conn.execute("SELECT repeat('x', 300000) || 'end'").fetchone()
        assert big == ("x" * 300000 + "end",)
        assert round_trip(url, n=5) >= 0.020


def test_a_latency_run_reports_the_round_trips_it_measured(database_url: str) -> None:
    from benchmarks.report import render

    data = run(Options(mode=tiny(), url=database_url, output=None, chart=None,
                       only=["sync.relational_one"], latency_ms=5, log=lambda line: None))
    assert [c["id"] for c in data["cases"]] == ["sync.relational_one", "async.relational_one"]
    assert not [e for c in data["cases"] for e in c["contenders"].values() if e.get("error")]
    network = data["network"]
    assert network["added_ms"] == 5
    assert network["round_trip_s"] >= 0.005 > network["direct_round_trip_s"]
    assert "through a proxy adding 5 ms" in render(data)
