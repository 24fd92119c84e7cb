"""``up``, ``down``, ``status`` and ``baseline`` on a real server, with
hand-written migration files in a temporary project.

Each test gets a fresh database on the session's server and a project
directory of its own (``pyproject.toml`` + ``migrations/``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgbuild import Database
from pgbuild.errors import DatabaseError, PgbuildError
from pgbuild.migrate.config import Config, load_config
from pgbuild.migrate.runner import baseline, down, status, up
from tests.conftest import fresh_database


@pytest.fixture
def url(server_url: str) -> Iterator[str]:
    """A fresh, empty database, dropped afterwards."""
    with fresh_database(server_url, "migrate") as url:
        yield url


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    (tmp_path / "pyproject.toml").write_text("[tool.pgbuild]\nschema = 'schema'\n")
    (tmp_path / "migrations").mkdir()
    return load_config(tmp_path)


def write_migration(cfg: Config, stem: str, up_sql: str, down_sql: str = "") -> Path:
    path = cfg.migrations / f"{stem}.sql"
    path.write_text(f"-- {stem}\n{up_sql}")
    (cfg.migrations / f"{stem}.down.sql").write_text(f"-- {stem}.down\n{down_sql}")
    (cfg.migrations / f"{stem}.json").write_text("{}\n")
    return path


def query(url: str, text: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(text.encode())
        return cur.fetchall() if cur.description else []


def tables(url: str) -> list[str]:
    return [
        r[0]
        for r in query(
            url,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' ORDER BY 1",
        )
    ]


def applied(url: str) -> list[str]:
    return [r[0] for r in query(url, "SELECT name FROM pgbuild_migrations ORDER BY name")]


def two_migrations(cfg: Config) -> None:
    write_migration(
        cfg, "0001_users",
        "CREATE TABLE users (id int PRIMARY KEY, note text DEFAULT 'a;b');\n",
        "DROP TABLE users;\n",
    )
    write_migration(
        cfg, "0002_posts",
        "CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users);\n\n"
        "INSERT INTO users (id) VALUES (1);\n",
        "DROP TABLE posts;\nDELETE FROM users WHERE id = 1;\n",
    )


def test_up_applies_pending_migrations_in_order_and_records_them(url: str, cfg: Config) -> None:
    two_migrations(cfg)
    said: list[str] = []
    assert up(url, config=cfg, echo=said.append) == ["0001_users", "0002_posts"]
    assert said == ["applied 0001_users", "applied 0002_posts"]
    assert tables(url) == ["pgbuild_migrations", "posts", "users"]
    rows = query(url, "SELECT name, checksum, applied_at FROM pgbuild_migrations ORDER BY name")
    text = (cfg.migrations / "0001_users.sql").read_bytes()
    assert rows[0][:2] == ("0001_users", hashlib.sha256(text).hexdigest())
    assert rows[0][2] is not None

    said.clear()
    assert up(url, config=cfg, echo=said.append) == []
    assert said == ["nothing to apply: the database is up to date"]


def test_up_takes_a_database(url: str, cfg: Config) -> None:
    two_migrations(cfg)
    with Database(url, min_size=1, max_size=1) as db:
        assert up(db, config=cfg, echo=lambda _: None) == ["0001_users", "0002_posts"]
        # The lock was released: the pool's connection is reusable at once.
        assert status(db, config=cfg).pending == []


def test_a_failing_statement_names_file_statement_and_server_message(
    url: str, cfg: Config
) -> None:
    two_migrations(cfg)
    bad = write_migration(
        cfg, "0003_bad",
        "CREATE TABLE tags (id int);\n\nALTER TABLE users ADD COLUMN handle text;\n\n"
        "UPDATE users SET nickname = 'x';\n",
    )
    with pytest.raises(DatabaseError) as info:
        up(url, config=cfg, echo=lambda _: None)
    message = str(info.value)
    assert f"{bad}:6" in message
    assert "UPDATE users SET nickname = 'x'" in message
    assert 'column "nickname" of relation "users" does not exist' in message
    assert "SQLSTATE 42703" in message
    assert "nothing of it was applied" in message
    assert info.value.statement == "UPDATE users SET nickname = 'x'"
    assert isinstance(info.value.__cause__, psycopg.errors.UndefinedColumn)
    # The earlier migrations stay; nothing of 0003 is left behind, nor recorded.
    assert applied(url) == ["0001_users", "0002_posts"]
    assert "tags" not in tables(url)
    assert query(url, "SELECT count(*) FROM information_schema.columns "
                      "WHERE table_name = 'users' AND column_name = 'handle'") == [(0,)]


def test_an_edited_applied_migration_is_refused(url: str, cfg: Config) -> None:
    two_migrations(cfg)
    up(url, config=cfg, echo=lambda _: None)
    path = cfg.migrations / "0001_users.sql"
    path.write_text(path.read_text() + "CREATE INDEX ON users (note);\n")
    write_migration(cfg, "0003_tags", "CREATE TABLE tags (id int);\n")
    with pytest.raises(PgbuildError, match="refusing to migrate") as info:
        up(url, config=cfg, echo=lambda _: None)
    assert f"{path} was changed after it was applied (checksum mismatch)" in str(info.value)
    assert "tags" not in tables(url)
    assert [m.name for m in status(url, config=cfg).changed] == ["0001_users"]


def test_line_endings_do_not_count_as_an_edit(url: str, cfg: Config) -> None:
    two_migrations(cfg)
    up(url, config=cfg, echo=lambda _: None)
    path = cfg.migrations / "0001_users.sql"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert up(url, config=cfg, echo=lambda _: None) == []


def test_an_out_of_order_migration_is_reported_and_refused(url: str, cfg: Config) -> None:
    write_migration(cfg, "0001_a", "CREATE TABLE a (id int);\n")
    write_migration(cfg, "0003_c", "CREATE TABLE c (id int);\n")
    up(url, config=cfg, echo=lambda _: None)
    late = write_migration(cfg, "0002_b", "CREATE TABLE b (id int);\n")
    write_migration(cfg, "0004_d", "CREATE TABLE d (id int);\n")
    with pytest.raises(PgbuildError) as info:
        up(url, config=cfg, echo=lambda _: None)
    assert f"{late} is not applied but is older than 0003_c" in str(info.value)
    assert tables(url) == ["a", "c", "pgbuild_migrations"]
    lines = status(url, config=cfg).lines()
    assert "pending  0002_b  OUT OF ORDER" in lines
    assert "pending  0004_d" in lines


def test_an_applied_migration_whose_file_is_gone_is_refused(url: str, cfg: Config) -> None:
    two_migrations(cfg)
    up(url, config=cfg, echo=lambda _: None)
    (cfg.migrations / "0002_posts.sql").unlink()
    with pytest.raises(PgbuildError, match=r"0002_posts is recorded as applied .* is missing"):
        up(url, config=cfg, echo=lambda _: None)


def test_no_transaction_header_allows_create_index_concurrently(url: str, cfg: Config) -> None:
    write_migration(cfg, "0001_t", "CREATE TABLE t (id int, v text);\n")
    write_migration(cfg, "0002_idx", "CREATE INDEX CONCURRENTLY t_v_idx ON t (v);\n")
    with pytest.raises(DatabaseError, match="cannot run inside a transaction block"):
        up(url, config=cfg, echo=lambda _: None)
    assert applied(url) == ["0001_t"]
    (cfg.migrations / "0002_idx.sql").write_text(
        "-- 0002_idx\n-- pgbuild: no-transaction\n"
        "CREATE INDEX CONCURRENTLY t_v_idx ON t (v);\n"
        "CREATE INDEX CONCURRENTLY t_id_idx ON t (id);\n"
    )
    assert up(url, config=cfg, echo=lambda _: None) == ["0002_idx"]
    assert query(url, "SELECT count(*) FROM pg_indexes WHERE tablename = 't'") == [(2,)]


def test_transaction_statements_in_a_migration_are_refused(url: str, cfg: Config) -> None:
    path = write_migration(cfg, "0001_t", "BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n")
    with pytest.raises(PgbuildError, match=f"{path}:2: BEGIN: .*no-transaction"):
        up(url, config=cfg, echo=lambda _: None)
    assert tables(url) == ["pgbuild_migrations"]


def test_up_dry_run_prints_sql_and_changes_nothing(url: str, cfg: Config) -> None:
    two_migrations(cfg)
    said: list[str] = []
    assert up(url, config=cfg, dry_run=True, echo=said.append) == ["0001_users", "0002_posts"]
    assert said[0] == "-- 0001_users.sql"
    assert "CREATE TABLE users (id int PRIMARY KEY, note text DEFAULT 'a;b');" in said[1]
    assert "INSERT INTO users (id) VALUES (1);" in said[3]
    assert tables(url) == []


def test_down_reverses_the_newest_migrations(url: str, cfg: Config) -> None:
    two_migrations(cfg)
    write_migration(cfg, "0003_tags", "CREATE TABLE tags (id int);\n", "DROP TABLE tags;\n")
    up(url, config=cfg, echo=lambda _: None)
    said: list[str] = []
    assert down(url, config=cfg, echo=said.append) == ["0003_tags"]
    assert said == ["reverted 0003_tags"]
    assert applied(url) == ["0001_users", "0002_posts"]
    assert tables(url) == ["pgbuild_migrations", "posts", "users"]
    assert down(url, config=cfg, to="0", echo=lambda _: None) == ["0002_posts", "0001_users"]
    assert tables(url) == ["pgbuild_migrations"] and applied(url) == []
    assert down(url, config=cfg, echo=said.append) == []
    # Everything can be applied again.
    assert len(up(url, config=cfg, echo=lambda _: None)) == 3


def test_down_to_keeps_that_migration(url: str, cfg: Config) -> None:
    two_migrations(cfg)
    write_migration(cfg, "0003_tags", "CREATE TABLE tags (id int);\n", "DROP TABLE tags;\n")
    up(url, config=cfg, echo=lambda _: None)
    assert down(url, config=cfg, to=1, echo=lambda _: None) == ["0003_tags", "0002_posts"]
    assert applied(url) == ["0001_users"]


def test_down_refuses_an_empty_reverse(url: str, cfg: Config) -> None:
    write_migration(cfg, "0001_t", "CREATE TABLE t (id int);\n", "")
    up(url, config=cfg, echo=lambda _: None)
    with pytest.raises(PgbuildError, match=r"0001_t\.down\.sql is empty"):
        down(url, config=cfg, echo=lambda _: None)
    assert applied(url) == ["0001_t"]


def test_a_failing_down_leaves_the_migration_applied(url: str, cfg: Config) -> None:
    write_migration(cfg, "0001_t", "CREATE TABLE t (id int);\n",
                    "DROP TABLE t;\nDROP TABLE nope;\n")
    up(url, config=cfg, echo=lambda _: None)
    with pytest.raises(DatabaseError, match=r"0001_t\.down\.sql:3.*DROP TABLE nope"):
        down(url, config=cfg, echo=lambda _: None)
    assert applied(url) == ["0001_t"] and "t" in tables(url)


def test_status_lists_applied_and_pending(url: str, cfg: Config) -> None:
    assert status(url, config=cfg).lines() == ["no migrations"]
    two_migrations(cfg)
    state = status(url, config=cfg)
    assert [m.name for m in state.pending] == ["0001_users", "0002_posts"]
    assert state.lines() == ["pending  0001_users", "pending  0002_posts"]
    assert tables(url) == []  # status only reads
    up(url, config=cfg, echo=lambda _: None)
    write_migration(cfg, "0003_tags", "CREATE TABLE tags (id int);\n")
    lines = status(url, config=cfg).lines()
    assert lines[0].startswith("applied  0001_users  (")
    assert lines[1].startswith("applied  0002_posts  (")
    assert lines[2] == "pending  0003_tags"


def test_baseline_records_without_running(url: str, cfg: Config) -> None:
    # These hand-written migrations have no real snapshots to compare the
    # database with (tests/migrate/test_adoption.py does that): --force.
    two_migrations(cfg)
    assert baseline(url, config=cfg, to=1, force=True, echo=lambda _: None) == ["0001_users"]
    assert tables(url) == ["pgbuild_migrations"]
    assert applied(url) == ["0001_users"]
    text = (cfg.migrations / "0001_users.sql").read_bytes()
    assert query(url, "SELECT checksum FROM pgbuild_migrations") == [
        (hashlib.sha256(text).hexdigest(),)
    ]
    query(url, "CREATE TABLE users (id int PRIMARY KEY)")
    assert up(url, config=cfg, echo=lambda _: None) == ["0002_posts"]


def test_schema_qualified_tracking_table(url: str, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pgbuild]\nmigrations_table = 'meta.applied'\n"
    )
    cfg = load_config(tmp_path)
    cfg.migrations.mkdir()
    write_migration(cfg, "0001_t", "CREATE TABLE t (id int);\n")
    up(url, config=cfg, echo=lambda _: None)
    assert query(url, "SELECT name FROM meta.applied") == [("0001_t",)]


def test_concurrent_up_from_three_processes_applies_each_migration_once(
    url: str, cfg: Config
) -> None:
    write_migration(
        cfg, "0001_log",
        "CREATE TABLE log (n serial PRIMARY KEY, what text);\n"
        "SELECT pg_sleep(1);\nINSERT INTO log (what) VALUES ('0001');\n",
    )
    write_migration(cfg, "0002_more", "INSERT INTO log (what) VALUES ('0002');\n")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("DATABASE_URL", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pgbuild.migrate", "up", "--url", url],
            cwd=cfg.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert query(url, "SELECT what FROM log ORDER BY n") == [("0001",), ("0002",)]
    assert applied(url) == ["0001_log", "0002_more"]
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count("applied 0001_log") == 1 and stdout.count("applied 0002_more") == 1
    assert stdout.count("nothing to apply") == 2
