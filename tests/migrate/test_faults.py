"""Migrations under faults: a runner killed with SIGKILL in the middle of a
migration leaves the database as it was before that migration (each
migration is one transaction, recorded in the same transaction), a rerun
completes, and the advisory lock dies with the killed runner's session, so
the next runner is not blocked.

Three concurrent ``up`` runs applying each migration once are tested in
tests/migrate/test_runner.py (``test_concurrent_up_from_three_processes_...``);
a failing migration leaving nothing behind, also there.

The killed runner is a real ``python -m pgbuild.migrate up`` subprocess. Its
migration sleeps (only for that runner: the sleep depends on the session's
``application_name``, so reruns do not wait) after a ``CREATE TABLE``, and the
test kills the process while the server runs the sleep.

When a client dies, PostgreSQL notices it at the next read or write on the
socket: when the running statement ends, or sooner when the session sets
``client_connection_check_interval``. Until then the dead session's
transaction stays open (uncommitted) and holds the lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pgbuild.migrate import up
from tests.conftest import fresh_database

KILLED = "pgbuild-killed-runner"  # application_name of the runner to kill
SLEEP = (
    "SELECT pg_sleep(CASE WHEN current_setting('application_name') = "
    f"'{KILLED}' THEN {{seconds}} ELSE 0 END);\n"
)

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


@pytest.fixture
def url(server_url: str) -> Iterator[str]:
    """A fresh, empty database, dropped afterwards."""
    with fresh_database(server_url, "mfaults") as url:
        yield url


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.pgbuild]\nschema = 'schema'\n")
    (tmp_path / "migrations").mkdir()
    return tmp_path


def write_migration(project: Path, stem: str, up_sql: str) -> None:
    folder = project / "migrations"
    (folder / f"{stem}.sql").write_text(f"-- {stem}\n{up_sql}")
    (folder / f"{stem}.down.sql").write_text(f"-- {stem}.down\n")
    (folder / f"{stem}.json").write_text("{}\n")


def three_migrations(project: Path, seconds: float) -> None:
    write_migration(project, "0001_first", "CREATE TABLE first (n int);\n")
    write_migration(
        project,
        "0002_slow",
        "CREATE TABLE second (n int);\n"
        + SLEEP.format(seconds=seconds)
        + "INSERT INTO first (n) VALUES (2);\n",
    )
    write_migration(project, "0003_third", "CREATE TABLE third (n int);\n")


def query(url: str, text: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(text.encode())
        return cur.fetchall() if cur.description else []


def tables(url: str) -> list[str]:
    rows = query(
        url,
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' ORDER BY 1",
    )
    return [str(r[0]) for r in rows]


def applied(url: str) -> list[str]:
    return [str(r[0]) for r in query(url, "SELECT name FROM pgbuild_migrations ORDER BY name")]


def runner(project: Path, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("DATABASE_DIRECT_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pgbuild.migrate", "up", "--url", url],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(url: str, condition: str, seconds: float = 20) -> None:
    """Poll pg_stat_activity until ``condition`` (SQL) holds; bounded."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if query(url, f"SELECT {condition}") == [(True,)]:
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s: {condition}")


HERE = "datname = current_database()"
SLEEPING = (
    f"EXISTS (SELECT FROM pg_stat_activity WHERE {HERE} AND application_name = '{KILLED}' "
    "AND query LIKE 'SELECT pg_sleep%')"
)
GONE = f"NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = '{KILLED}')"
WAITING = (
    f"EXISTS (SELECT FROM pg_stat_activity WHERE {HERE} AND wait_event_type = 'Lock' "
    "AND wait_event = 'advisory')"
)


def kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def test_a_runner_killed_mid_migration_leaves_the_database_before_it_and_a_rerun_completes(
    project: Path, url: str
) -> None:
    three_migrations(project, seconds=30)
    # The server notices the dead client within 50 ms, even mid-sleep.
    doomed_url = make_conninfo(
        url, application_name=KILLED, options="-c client_connection_check_interval=50"
    )
    proc = runner(project, doomed_url)
    try:
        wait_for(url, SLEEPING)  # 0001 committed; 0002 mid-way
    finally:
        kill(proc)
    wait_for(url, GONE, seconds=10)

    # Before 0002, not between: its table is not there, its row not written,
    # and it is not recorded.
    assert applied(url) == ["0001_first"]
    assert tables(url) == ["first", "pgbuild_migrations"]
    assert query(url, "SELECT count(*) FROM first") == [(0,)]

    assert up(url, config=project, echo=lambda _: None) == ["0002_slow", "0003_third"]
    assert applied(url) == ["0001_first", "0002_slow", "0003_third"]
    assert tables(url) == ["first", "pgbuild_migrations", "second", "third"]
    assert query(url, "SELECT n FROM first") == [(2,)]


def test_the_advisory_lock_dies_with_a_killed_runner_and_the_next_one_proceeds(
    project: Path, url: str
) -> None:
    # No client_connection_check_interval here: the server notices the death
    # when the sleep ends, and only then ends the session and its lock.
    three_migrations(project, seconds=1.5)
    first = runner(project, make_conninfo(url, application_name=KILLED))
    second = None
    try:
        wait_for(url, SLEEPING)
        second = runner(project, url)  # waits for the lock
        wait_for(url, WAITING)
        kill(first)
        out, err = second.communicate(timeout=30)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)

    assert second.returncode == 0, err
    assert "waiting for another migration run to finish" in err
    assert out.splitlines() == ["applied 0002_slow", "applied 0003_third"]
    assert applied(url) == ["0001_first", "0002_slow", "0003_third"]
    assert query(url, "SELECT n FROM first") == [(2,)]
    assert query(url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]
