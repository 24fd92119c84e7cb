"""Migrations people can adopt (issue 9), each against the real server.

- the Python API takes a ``Database``, an ``AsyncDatabase`` or a URL;
- ``baseline`` adopts a database that already has the schema, stores the
  checksums, and refuses a database that does not match (unless forced);
- ``up --dry-run`` / ``push --dry-run`` print exactly the SQL, in order,
  and change nothing; ``export`` prints the declared DDL;
- ``schemas`` / ``tables`` filters and a schema-qualified ``migrations_table``:
  foreign schemas, tables, enums, views and a FOREIGN TABLE are left alone;
- extensions, expression / operator-class / ordered / NULLS NOT DISTINCT
  indexes, FK ``on_update``, generated and identity columns, pgvector
  columns with HNSW and IVFFlat indexes: no phantom diff, and both ways in
  the differ;
- guards: ``DATABASE_DIRECT_URL`` preferred, transaction poolers refused;
- ``--hints hints.toml`` answers rename questions for a whole run.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgbuild import (
    AsyncDatabase,
    Database,
    Table,
    desc,
    extension,
    index,
    integer,
    jsonb,
    text,
    timestamp,
    unique,
    unique_index,
    vector,
)
from pgbuild.errors import PgbuildError
from pgbuild.migrate import (
    baseline,
    check,
    down,
    drop_extension,
    export,
    generate,
    push,
    status,
    up,
)
from pgbuild.migrate.config import load_config
from pgbuild.migrate.declared import from_tables
from pgbuild.migrate.diff import diff
from pgbuild.migrate.introspect import introspect
from pgbuild.migrate.model import Schema
from pgbuild.migrate.pull import pull
from pgbuild.migrate.snapshot import split_sql
from tests.migrate.test_cli import cli, declared, live
from tests.migrate.test_diff import both_ways, kinds
from tests.migrate.test_model import reset, scratch_connection, scratch_database

Conn = psycopg.Connection[Any]


def quiet(_: str) -> None:
    pass


# ------------------------------------------------------------------ the project

# Every object issue 9 adds to the model, in one schema module.
APP = '''
from pgbuild import (Table, bigint, desc, extension, index, integer, jsonb, sql, text,
    timestamp, unique, unique_index, vector)

trgm = extension("pg_trgm")


class Authors(Table, name="authors"):
    id = integer().generated_by_default_as_identity(start=1000, increment=5).primary_key()
    email = text().not_null()
    handle = text()
    team = integer()

    __constraints__ = (unique(team, handle).nulls_not_distinct(),)
    __indexes__ = (
        index("authors_email_lower").on(sql("lower({e})", e=email)),
        index("authors_handle_trgm").using("gin").on(handle.op("gin_trgm_ops")),
        unique_index("authors_team_email").on(team, email).nulls_not_distinct(),
    )


class Posts(Table, name="posts"):
    id = bigint().generated_always_as_identity().primary_key()
    author_id = integer().not_null().references(
        lambda: Authors.id, on_delete="cascade", on_update="cascade")
    title = text().not_null()
    slug = text().generated_always_as(sql("lower({t})", t=title))
    meta = jsonb()
    embedding = vector(3)
    created_at = timestamp().default_now().not_null()

    __indexes__ = (
        index("posts_embedding_hnsw").using("hnsw").on(embedding.op("vector_cosine_ops")),
        index("posts_embedding_ivfflat").using("ivfflat").on(embedding.op("vector_l2_ops")),
        index("posts_recent").on(desc(created_at, nulls="last"), author_id),
        index("posts_meta").using("gin").on(meta.op("jsonb_path_ops")),
    )
'''

# APP, then a new column and an index on it.
APP2 = APP.replace(
    "    created_at = timestamp().default_now().not_null()\n",
    "    created_at = timestamp().default_now().not_null()\n    score = integer()\n",
).replace(
    '        index("posts_meta")',
    '        index("posts_score").on(desc(score)),\n        index("posts_meta")',
)


@pytest.fixture
def url(server_url: str) -> Iterator[str]:
    """A fresh, empty database, dropped afterwards."""
    with scratch_database(server_url, "adopt") as u:
        yield u


@pytest.fixture
def new_database(server_url: str) -> Iterator[Callable[[], str]]:
    """More fresh databases, on demand."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(scratch_database(server_url, "adopt"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project declaring APP, made the current directory; stdin is no
    terminal; no database URL in the environment."""
    (tmp_path / "pyproject.toml").write_text("[tool.pgbuild]\n")
    (tmp_path / "schema.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_DIRECT_URL", raising=False)
    return tmp_path


def run(url: str, text: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(text.encode())
        return cur.fetchall() if cur.description else []


def everything(url: str) -> Schema:
    """The whole live model, nothing filtered."""
    with psycopg.connect(url, autocommit=True) as conn:
        return introspect(conn)


def applied(url: str) -> list[tuple[str, str]]:
    if run(url, "SELECT to_regclass('pgbuild_migrations')") == [(None,)]:
        return []
    return [(r[0], r[1]) for r in run(url, "SELECT name, checksum FROM pgbuild_migrations "
                                           "ORDER BY name")]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_by_hand(url: str, project: Path) -> None:
    """The database a team already has: made without pgbuild's migrations,
    from the DDL ``export`` prints."""
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in export(config=load_config(project)):
            conn.execute(statement.encode())


# ------------------------------------------------------------------ 1. the Python API


def test_every_command_runs_from_python_on_a_database_or_a_url(project: Path, url: str) -> None:
    assert [p.name for p in generate(name="init", echo=quiet)] == [
        "0001_init.sql", "0001_init.down.sql", "0001_init.json"]
    assert check() == []
    with Database(url, min_size=1, max_size=2) as db:
        assert [m.name for m in status(db).pending] == ["0001_init"]
        assert up(db, echo=quiet) == ["0001_init"]
        assert [m.name for m, _ in status(db).applied] == ["0001_init"]
        assert push(db, echo=quiet) == []  # no phantom diff
        assert 'class Posts(Table, name="posts"):' in pull(db)
        assert down(db, echo=quiet) == ["0001_init"]
    assert live(url) == Schema(frozenset({"public"}))
    assert up(url, echo=quiet) == ["0001_init"]  # a URL
    assert live(url) == declared(project)


def test_an_async_application_migrates_with_its_async_database(project: Path, url: str) -> None:
    generate(name="init", echo=quiet)
    adb = AsyncDatabase(url, min_size=1, max_size=1)
    assert up(adb, echo=quiet) == ["0001_init"]
    assert [m.name for m, _ in status(adb).applied] == ["0001_init"]
    assert live(url) == declared(project)


# ------------------------------------------------------------------ 2. baseline


def test_baseline_adopts_a_database_that_already_has_the_schema(
    project: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    build_by_hand(url, project)
    run(url, "INSERT INTO authors (email) VALUES ('kept@example.com')")
    generate(name="init", echo=quiet)
    code, out, err = cli(capsys, "baseline", "--url", url)
    assert (code, err) == (0, "")
    assert out == "recorded 0001_init as applied (not run)\n"
    migration = project / "migrations" / "0001_init.sql"
    assert applied(url) == [("0001_init", sha256(migration))]  # checksums stored
    # Not run: the row is still there, and up has nothing to do.
    assert run(url, "SELECT email FROM authors") == [("kept@example.com",)]
    assert up(url, echo=quiet) == []
    # The next change is a migration like any other.
    (project / "schema.py").write_text(APP2)
    generate(name="score", echo=quiet)
    assert up(url, echo=quiet) == ["0002_score"]
    assert live(url) == declared(project)
    # An edited baselined migration is caught like an applied one.
    migration.write_text(migration.read_text() + "\nSELECT 1;\n")
    with pytest.raises(PgbuildError, match=r"0001_init\.sql was changed after it was applied"):
        up(url, echo=quiet)


def test_baseline_refuses_a_database_that_does_not_match_unless_forced(
    project: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    build_by_hand(url, project)
    run(url, "ALTER TABLE posts DROP COLUMN meta; CREATE TABLE stray (id integer)")
    generate(name="init", echo=quiet)
    before = everything(url)
    code, _, err = cli(capsys, "baseline", "--url", url)
    assert code == 1
    assert err.startswith("error: refusing to baseline: the database does not match "
                          "0001_init.json")
    assert "  add column posts.meta jsonb\n" in err
    assert "  drop table stray\n" in err
    assert "--force" in err
    # Nothing recorded; not even the tracking table was created.
    assert applied(url) == [] and everything(url) == before

    said: list[str] = []
    assert baseline(url, force=True, echo=said.append) == ["0001_init"]
    assert said[-1] == "recorded 0001_init as applied (not run)"
    assert applied(url) == [("0001_init", sha256(project / "migrations" / "0001_init.sql"))]


def test_baseline_to_n_compares_with_the_snapshot_of_n(project: Path, url: str) -> None:
    generate(name="init", echo=quiet)
    build_by_hand(url, project)  # the schema of 0001
    (project / "schema.py").write_text(APP2)
    generate(name="score", echo=quiet)
    with pytest.raises(PgbuildError, match=r"does not match 0002_score\.json") as info:
        baseline(url, echo=quiet)
    assert "add column posts.score integer" in str(info.value)
    assert baseline(url, to=1, echo=quiet) == ["0001_init"]
    assert up(url, echo=quiet) == ["0002_score"]
    assert live(url) == declared(project)
    assert baseline(url, echo=quiet) == []  # nothing left to record


# ------------------------------------------------------------------ 3. dry runs, export


def test_up_dry_run_prints_each_pending_migration_in_order_and_changes_nothing(
    project: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(name="init", echo=quiet)
    up(url, echo=quiet)
    (project / "schema.py").write_text(APP2)
    generate(name="score", echo=quiet)
    generate(name="by_hand", custom=True, echo=quiet)
    folder = project / "migrations"
    (folder / "0003_by_hand.sql").write_text(
        "-- 0003_by_hand\n-- pgbuild: no-transaction\n"
        "CREATE INDEX CONCURRENTLY posts_title ON posts (title);\n"
    )
    model, rows = everything(url), applied(url)
    code, out, _ = cli(capsys, "up", "--dry-run", "--url", url)
    assert code == 0
    assert out == (
        "-- 0002_score.sql\n" + (folder / "0002_score.sql").read_text().rstrip() + "\n\n"
        "-- 0003_by_hand.sql (no transaction)\n"
        + (folder / "0003_by_hand.sql").read_text().rstrip() + "\n\n"
    )
    assert everything(url) == model and applied(url) == rows
    assert up(url, echo=quiet) == ["0002_score", "0003_by_hand"]


def test_push_dry_run_prints_exactly_the_sql_push_runs_and_changes_nothing(
    project: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    push(url, echo=quiet)
    # A change that loses data (drop meta), one that does not (score).
    (project / "schema.py").write_text(APP2.replace("    meta = jsonb()\n", "").replace(
        '        index("posts_meta").using("gin").on(meta.op("jsonb_path_ops")),\n', ""))
    before = everything(url)
    code, out, err = cli(capsys, "push", "--dry-run", "--url", url)
    assert code == 0, err
    assert everything(url) == before
    assert out.startswith("-- push --dry-run: 4 changes, nothing was changed")
    assert "-- drop column posts.meta (loses data)\nALTER TABLE posts DROP COLUMN meta;" in out
    assert out.endswith("-- 1 of these lose data: push needs --force to apply them\n")
    printed = split_sql(out)

    ops = push(url, force=True, echo=quiet)
    assert printed == [s for op in ops for s in op.statements()]
    assert live(url) == declared(project)


def test_export_prints_the_ddl_of_the_declared_schema(
    project: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "export", "--url", "postgresql://nobody@127.0.0.1:9/none")
    assert code == 0  # needs no database
    statements = split_sql(out)
    assert statements[:3] == [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm", "CREATE EXTENSION IF NOT EXISTS vector",
        statements[2],
    ]
    assert statements[2].startswith("CREATE TABLE authors (")
    run(url, out)
    assert live(url) == declared(project)


# ------------------------------------------------------------------ 4. scope

FOREIGN = """
CREATE SCHEMA auth;
CREATE TYPE auth.role AS ENUM ('admin', 'user');
CREATE TABLE auth.accounts (id integer PRIMARY KEY, role auth.role NOT NULL);
INSERT INTO auth.accounts VALUES (1, 'admin');
CREATE TYPE legacy_mood AS ENUM ('sad', 'ok');
CREATE TYPE app_orphan AS ENUM ('x');
CREATE TABLE legacy (id integer PRIMARY KEY, mood legacy_mood, o app_orphan);
INSERT INTO legacy VALUES (7, 'ok', 'x');
CREATE SCHEMA app;
CREATE TABLE app.audit (id integer, what text);
CREATE VIEW app_summary AS SELECT count(*) AS n FROM legacy;
CREATE EXTENSION file_fdw;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE app_feed (line text) SERVER files OPTIONS (filename '/dev/null');
"""

SCOPED = '''
from pgbuild import Table, integer, pg_enum, text

status = pg_enum("app_status", ["new", "done"])


class AppUsers(Table, name="app_users"):
    id = integer().primary_key()
    email = text().not_null()
    status = status().default("new")


class AppOrders(Table, name="app_orders", schema="app"):
    id = integer().primary_key()
    user_id = integer().references(lambda: AppUsers.id)


class Report(Table, name="report"):
    """Declared, but outside the tables filter: never created nor reported."""

    id = integer().primary_key()
'''


def foreign_objects(url: str) -> tuple[Schema, list[tuple[Any, ...]]]:
    """The foreign objects as the server sees them, and their rows."""
    model = everything(url)
    keep = {"auth.accounts", "legacy", "app.audit"}
    tables = {k: t for k, t in model.tables.items() if k in keep}
    enums = {k: e for k, e in model.enums.items() if k in {"auth.role", "legacy_mood",
                                                            "app_orphan"}}
    rows = run(url, "SELECT 'accounts', id::text FROM auth.accounts UNION ALL "
                    "SELECT 'legacy', mood::text FROM legacy UNION ALL "
                    "SELECT 'feed', to_regclass('app_feed')::text UNION ALL "
                    "SELECT 'view', to_regclass('app_summary')::text ORDER BY 1")
    return Schema(frozenset(), enums, tables, model.extensions), rows


@pytest.fixture
def scoped(project: Path) -> Path:
    (project / "pyproject.toml").write_text(
        '[tool.pgbuild]\nschemas = ["public", "app"]\ntables = ["app_*"]\n'
        'migrations_table = "app.app_migrations"\n'
    )
    (project / "schema.py").write_text(SCOPED)
    return project


def test_push_leaves_foreign_schemas_tables_enums_views_and_foreign_tables_alone(
    scoped: Path, url: str
) -> None:
    run(url, FOREIGN)
    before = foreign_objects(url)
    said: list[str] = []
    push(url, force=True, echo=said.append)
    assert said == ["  create enum app_status ('new', 'done')", "  create table app.app_orders",
                    "  create table app_users",
                    "  add foreign key app_orders_user_id_fkey on app.app_orders",
                    "pushed 4 changes"]
    assert foreign_objects(url) == before
    assert push(url, force=True, echo=quiet) == []
    assert run(url, "SELECT to_regclass('report')") == [(None,)]
    # And after a change that drops things: only managed ones go.
    (scoped / "schema.py").write_text(SCOPED.replace(
        '    status = status().default("new")\n', ""))
    said.clear()
    push(url, force=True, echo=said.append)
    assert said[:2] == ["  ! drop column app_users.status", "  drop enum app_status"]
    assert foreign_objects(url) == before


def test_generate_check_up_pull_and_introspection_stay_in_scope(
    scoped: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(url, FOREIGN)
    before = foreign_objects(url)
    generate(name="init", echo=quiet)
    text = (scoped / "migrations" / "0001_init.sql").read_text()
    assert "app_users" in text and "app.app_orders" in text
    for outsider in ("report", "legacy", "auth", "audit", "app_feed", "app_summary"):
        assert outsider not in text
    assert check() == []  # Report is declared but out of scope: not reported

    assert up(url, echo=quiet) == ["0001_init"]
    assert run(url, "SELECT name FROM app.app_migrations") == [("0001_init",)]
    assert foreign_objects(url) == before
    # The tracking table matches "app_*" in a managed schema, yet push keeps it.
    assert push(url, force=True, echo=quiet) == []
    assert status(url).pending == []

    code, out, _ = cli(capsys, "pull", "--url", url)
    assert code == 0
    assert "class AppUsers(" in out and "class AppOrders(" in out
    for outsider in ("legacy", "auth", "audit", "Report", "app_migrations", "app_feed",
                     "app_orphan"):
        assert outsider not in out

    from pgbuild.migrate.runner import connect, live_schema

    cfg = load_config(scoped)
    with connect(url, cfg) as conn:
        managed = live_schema(conn, cfg)
    model = declared(scoped)
    assert (managed.schemas, managed.enums, managed.tables) == (
        model.schemas, model.enums, model.tables)
    assert managed.extensions == {"file_fdw"}  # there, in public; never dropped
    assert diff(managed, model) == []


# ------------------------------------------------------------------ 5. the new objects


def test_every_new_object_migrates_pushes_and_pulls_without_a_phantom_diff(
    project: Path, url: str, new_database: Callable[[], str]
) -> None:
    generate(name="init", echo=quiet)
    assert up(url, echo=quiet) == ["0001_init"]
    model = declared(project)
    assert live(url) == model
    assert model.extensions == {"pg_trgm", "vector"}
    assert push(url, echo=quiet) == []
    assert generate(echo=quiet) == [] and check() == []
    # The live database diffs as nothing against the declared schema, both ways.
    assert diff(live(url), model) == [] and diff(model, live(url)) == []
    # The code pull prints declares the same model.
    (project / "schema.py").write_text(pull(url))
    pushed = new_database()
    push(pushed, echo=quiet)
    assert live(pushed) == model


def test_extensions_come_first_and_go_only_when_declared_dropped(
    project: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "schema.py").write_text(APP + '\nlabels = extension("ltree")\n')
    generate(name="init", echo=quiet)
    text = (project / "migrations" / "0001_init.sql").read_text()
    assert text.index("CREATE EXTENSION IF NOT EXISTS ltree") < text.index("CREATE TABLE")
    assert text.index("CREATE EXTENSION IF NOT EXISTS vector") < text.index("CREATE TABLE")
    up(url, echo=quiet)

    def installed() -> set[str]:
        return {r[0] for r in run(url, "SELECT extname FROM pg_extension")}

    assert {"ltree", "vector", "pg_trgm"} <= installed()
    # No longer declared: never dropped, by generate or by push.
    (project / "schema.py").write_text(APP)
    assert generate(echo=quiet) == []
    assert push(url, force=True, echo=quiet) == []
    assert "ltree" in installed()
    # Declared dropped: dropped, last, and back on down.
    (project / "schema.py").write_text(
        APP + '\nfrom pgbuild.migrate import drop_extension\nold = drop_extension("ltree")\n')
    files = generate(name="drop_ltree", echo=quiet)
    assert "DROP EXTENSION ltree;" in files[0].read_text()
    assert up(url, echo=quiet) == ["0002_drop_ltree"]
    assert "ltree" not in installed() and {"vector", "pg_trgm"} <= installed()
    assert generate(echo=quiet) == [] and push(url, echo=quiet) == []
    down(url, echo=quiet)
    assert "ltree" in installed()
    # push drops it too, but only with --force (what it holds goes with it).
    code, _, err = cli(capsys, "push", "--url", url)
    assert code == 1 and "drop extension ltree" in err
    assert cli(capsys, "push", "--force", "--url", url)[0] == 0
    assert "ltree" not in installed()


def test_an_extension_installed_in_another_schema_is_no_phantom_change(
    project: Path, url: str
) -> None:
    run(url, "CREATE SCHEMA extensions; CREATE EXTENSION pg_trgm SCHEMA extensions; "
             "CREATE EXTENSION vector")
    (project / "schema.py").write_text(
        "from pgbuild import Table, extension, integer, vector\n"
        "trgm = extension('pg_trgm')\n"
        "class Items(Table, name='items'):\n"
        "    id = integer().primary_key()\n    embedding = vector(3)\n"
    )
    said: list[str] = []
    push(url, echo=said.append)
    assert said == ["  create table items", "pushed 1 change"]
    assert push(url, echo=quiet) == []


def test_a_column_cannot_need_an_extension_declared_dropped() -> None:
    class Vectors(Table, name="vectors"):
        id = integer().primary_key()
        embedding = vector(3)

    with pytest.raises(PgbuildError, match=r"'vector' is declared dropped .* vectors\.embedding"):
        from_tables([Vectors], [drop_extension("vector")])
    with pytest.raises(PgbuildError, match=r"extension\(\) and drop_extension\(\) at once"):
        from_tables([], [extension("ltree"), drop_extension("ltree")])


# -- both ways in the differ (see tests/migrate/test_diff.py's both_ways)


@pytest.fixture(scope="module")
def conn(server_url: str) -> Iterator[Conn]:
    with scratch_connection(server_url, "adopt_diff") as c:
        yield c


class Team(Table, name="teams"):
    id = integer().primary_key()


class Member(Table, name="members"):
    id = integer().primary_key()
    team_id = integer().references(lambda: Team.id)
    nick = text()
    meta = jsonb()
    joined = timestamp()


class MemberV2(Table, name="members"):
    id = integer().primary_key()
    team_id = integer().references(lambda: Team.id, on_delete="cascade", on_update="cascade")
    nick = text()
    meta = jsonb()
    joined = timestamp()

    __constraints__ = (unique(team_id, nick).nulls_not_distinct(),)
    __indexes__ = (
        index("members_nick_pattern").on(nick.op("text_pattern_ops")),
        index("members_meta_path").using("gin").on(meta.op("jsonb_path_ops")),
        index("members_recent").on(desc(joined, nulls="last"), team_id),
        unique_index("members_team_nick").on(team_id, nick).nulls_not_distinct(),
    )


def seed_members(c: Conn) -> None:
    c.execute("INSERT INTO teams VALUES (1); INSERT INTO members VALUES (1, 1, 'ann', NULL, NULL)")


def members_v2_behave(c: Conn) -> None:
    # ON UPDATE CASCADE: the member follows its team's new id.
    c.execute("UPDATE teams SET id = 2")
    assert c.execute("SELECT team_id FROM members").fetchall() == [(2,)]
    c.execute("UPDATE teams SET id = 1")
    # NULLS NOT DISTINCT: a second NULL nick in one team is a duplicate.
    c.execute("INSERT INTO members (id, team_id) VALUES (2, 1)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        c.execute("INSERT INTO members (id, team_id) VALUES (3, 1)")
    c.execute("DELETE FROM members WHERE id = 2")


def test_opclass_ordering_nulls_not_distinct_and_on_update_both_ways(conn: Conn) -> None:
    ops = both_ways(conn, [Team, Member], [Team, MemberV2], seed=seed_members,
                    check_b=members_v2_behave)
    described = [op.describe() for op in ops]
    assert described == [
        "drop foreign key members_team_id_fkey on members",
        "add unique members_team_id_nick_key on members",
        "add foreign key members_team_id_fkey on members",
        "create index members_meta_path on members",
        "create index members_nick_pattern on members",
        "create index members_recent on members",
        "create index members_team_nick on members",
    ]
    statements = [s for op in ops for s in op.statements()]
    assert "ON UPDATE CASCADE" in statements[2]
    assert "UNIQUE NULLS NOT DISTINCT (team_id, nick)" in statements[1]
    assert statements[-1].endswith("USING btree (team_id, nick) NULLS NOT DISTINCT")


def test_the_default_operator_classes_are_the_servers(conn: Conn) -> None:
    """An item naming its method's default operator class is the same item
    without it (the server leaves it out): the list must be the server's."""
    from pgbuild.migrate.model import Index
    from pgbuild.migrate.normalize import DEFAULT_OPCLASSES

    reset(conn)
    for name in ("vector", "citext", "ltree", "pg_trgm", "hstore", "btree_gin",
                 "btree_gist", "cube", "seg", "isn", "intarray"):
        conn.execute(f"CREATE EXTENSION {name}".encode())
    rows = conn.execute(
        "SELECT am.amname, array_agg(c.opcname::text) FROM pg_opclass c "
        "JOIN pg_am am ON am.oid = c.opcmethod WHERE c.opcdefault GROUP BY am.amname"
    ).fetchall()
    assert {method: frozenset(names) for method, names in rows} == DEFAULT_OPCLASSES
    ivfflat = Index("i", ("embedding vector_l2_ops",), method="ivfflat")
    assert ivfflat == Index("i", ("embedding",), method="ivfflat")
    assert ivfflat != Index("i", ("embedding vector_cosine_ops",), method="ivfflat")
    hnsw = Index("i", ("embedding vector_l2_ops",), method="hnsw")  # hnsw has no default
    assert hnsw != Index("i", ("embedding",), method="hnsw")
    reset(conn)


class MemberOtherOpclass(Table, name="members"):
    id = integer().primary_key()
    team_id = integer().references(lambda: Team.id)
    nick = text()
    meta = jsonb()
    joined = timestamp()

    __indexes__ = (
        index("members_nick_pattern").on(nick.op("varchar_pattern_ops")),
        index("members_meta_path").using("gin").on(meta),
        index("members_recent").on(joined, team_id),
    )


def test_changing_an_opclass_or_an_ordering_recreates_the_index(conn: Conn) -> None:
    ops = both_ways(conn, [Team, MemberV2], [Team, MemberOtherOpclass])
    recreated = [op.describe() for op in ops if "index" in op.describe()]
    for name in ("members_nick_pattern", "members_meta_path", "members_recent"):
        assert f"drop index {name} on members" in recreated
        assert f"create index {name} on members" in recreated


class Doc(Table, name="docs"):
    id = integer().primary_key()


class DocVectors(Table, name="docs"):
    id = integer().primary_key()
    embedding = vector(3)
    summary = vector(2).not_null()

    __indexes__ = (
        index("docs_embedding_hnsw").using("hnsw").on(embedding.op("vector_cosine_ops")),
        index("docs_summary_ivfflat").using("ivfflat").on(summary.op("vector_l2_ops")),
    )


class DocVectorsChanged(Table, name="docs"):
    id = integer().primary_key()
    embedding = vector(4)
    summary = vector(2).not_null()

    __indexes__ = (
        index("docs_embedding_hnsw").using("hnsw").on(embedding.op("vector_ip_ops")),
        index("docs_summary_ivfflat").using("ivfflat").on(summary.op("vector_cosine_ops")),
    )


def test_vector_columns_and_hnsw_ivfflat_indexes_both_ways(conn: Conn) -> None:
    no_vector = from_tables([Doc], [drop_extension("vector")])
    ops = both_ways(conn, no_vector, [DocVectors])
    assert kinds(ops) == ["CreateExtension", "AddColumn", "AddColumn", "CreateIndex",
                          "CreateIndex"]
    back = diff(from_tables([DocVectors]), no_vector)
    assert kinds(back) == ["DropIndex", "DropIndex", "DropColumn", "DropColumn",
                           "DropExtension"]
    # Without the declaration, going back keeps the extension.
    assert kinds(diff(from_tables([DocVectors]), from_tables([Doc]))) == kinds(back)[:-1]

    ops = both_ways(conn, [DocVectors], [DocVectorsChanged])
    assert "alter column docs.embedding type vector(3) -> vector(4)" in [
        op.describe() for op in ops]
    assert any("USING hnsw (embedding vector_ip_ops)" in s
               for op in ops for s in op.statements())


def test_extensions_both_ways(conn: Conn) -> None:
    ops = both_ways(conn, from_tables([], [drop_extension("ltree"), drop_extension("pg_trgm")]),
                    from_tables([], [extension("ltree"), extension("pg_trgm")]))
    assert kinds(ops) == ["CreateExtension", "CreateExtension"]
    assert diff(from_tables([], [extension("ltree")]), from_tables([])) == []


# ------------------------------------------------------------------ 6. guards


@pytest.fixture
def pooled(url: str) -> Iterator[str]:
    """``url`` as a Neon transaction-pooler URL (a ``-pooler.`` host) that
    still reaches the test server: its socket directory behind a symbolic
    link of that name (short: socket paths are limited), or the host name
    with ``hostaddr`` for TCP."""
    host = str(conninfo_to_dict(url).get("host") or "/tmp")
    if not host.startswith("/"):
        address = socket.gethostbyname(host)
        yield make_conninfo(url, host="ep-1-pooler.neon.invalid", hostaddr=address)
        return
    folder = Path(tempfile.mkdtemp(prefix="pgb"))
    try:
        link = folder / "ep-1-pooler.neon"
        link.symlink_to(host)
        yield make_conninfo(url, host=str(link))
    finally:
        shutil.rmtree(folder)  # the link, not what it points to


def test_a_transaction_pooler_is_refused_saying_why_unless_allowed(
    project: Path, url: str, pooled: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    generate(name="init", echo=quiet)
    with psycopg.connect(pooled) as c:  # it is the real server
        assert c.execute("SELECT 1").fetchone() == (1,)
    for command in ("up", "status", "push", "pull", "baseline", "down"):
        code, _, err = cli(capsys, command, "--url", pooled)
        assert code == 1, command
        assert "is a transaction-mode connection pooler" in err
        assert "session-level advisory lock" in err
        assert "DATABASE_DIRECT_URL" in err and "--allow-pooler" in err
    assert applied(url) == [] and live(url) == Schema(frozenset({"public"}))
    # From the environment, and as a Database, just the same.
    monkeypatch.setenv("DATABASE_URL", pooled)
    assert "DATABASE_URL) is a transaction-mode" in cli(capsys, "up")[2]
    with Database(pooled, min_size=1, max_size=1) as db:
        with pytest.raises(PgbuildError, match="transaction-mode connection pooler"):
            up(db, echo=quiet)
        assert up(db, allow_pooler=True, echo=quiet) == ["0001_init"]
    down(url, echo=quiet)
    # --allow-pooler runs against it.
    assert cli(capsys, "up", "--allow-pooler")[:2] == (0, "applied 0001_init\n")
    # DATABASE_DIRECT_URL is what the message says to set: then it works.
    down(url, echo=quiet)
    monkeypatch.setenv("DATABASE_DIRECT_URL", url)
    assert cli(capsys, "up")[:2] == (0, "applied 0001_init\n")


def test_which_urls_count_as_transaction_poolers(tmp_path: Path) -> None:
    from pgbuild.migrate.config import Config, database_url

    cfg = Config.for_directory(tmp_path)
    refused = [
        "postgresql://postgres.abc:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres",
        "postgresql://postgres:pw@db.abcdefgh.supabase.co:6543/postgres",
        "postgresql://u:pw@ep-cool-darkness-123456-pooler.eu-central-1.aws.neon.tech/db",
        "host=ep-a-pooler.us-east-2.aws.neon.tech dbname=db user=u",
        "postgresql://u@localhost:6543/app",  # Supavisor's port, self-hosted
        "postgresql://u@127.0.0.1:6432/app",  # PgBouncer's default port
    ]
    allowed = [  # session mode and direct connections keep the advisory lock
        "postgresql://postgres.abc:pw@aws-0-eu-west-1.pooler.supabase.com:5432/postgres",
        "postgresql://postgres:pw@db.abcdefgh.supabase.co:5432/postgres",
        "postgresql://u:pw@ep-cool-darkness-123456.eu-central-1.aws.neon.tech/db",
        "postgresql://u@localhost:5432/app",
        "postgresql://u@localhost/app",
    ]
    for url in refused:
        with pytest.raises(PgbuildError, match="transaction-mode connection pooler"):
            database_url(cfg, url)
        assert database_url(cfg, url, allow_pooler=True) == url
    for url in allowed:
        assert database_url(cfg, url) == url


def test_database_direct_url_is_preferred_by_migrate_and_pull(
    project: Path, url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    generate(name="init", echo=quiet)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    code, _, err = cli(capsys, "status")
    assert code == 1 and "cannot connect to nobody@127.0.0.1:9/none" in err
    monkeypatch.setenv("DATABASE_DIRECT_URL", url)
    assert cli(capsys, "status")[:2] == (0, "pending  0001_init\n")
    assert cli(capsys, "up")[:2] == (0, "applied 0001_init\n")
    assert cli(capsys, "push")[:2] == (0, "nothing to push: the database matches the schema\n")
    code, out, _ = cli(capsys, "pull")
    assert code == 0 and 'class Authors(Table, name="authors"):' in out
    assert status().pending == [] and 'class Posts(' in pull()


# ------------------------------------------------------------------ 7. hints files

V1 = '''
from pgbuild import Table, integer, text


class Users(Table, name="users"):
    id = integer().primary_key()
    nickname = text()
    legacy = text()


class Notes(Table, name="notes"):
    id = integer().primary_key()
    body = text()
'''

# users.nickname -> handle (a rename), users.legacy -> fresh (a drop and an
# add), notes -> memos (a table rename, with memos.body -> content).
V2 = '''
from pgbuild import Table, integer, text


class Users(Table, name="users"):
    id = integer().primary_key()
    handle = text()
    fresh = text()


class Memos(Table, name="memos"):
    id = integer().primary_key()
    content = text()
'''

HINTS = '''# Answers for generate, so CI needs no terminal.
[renames]
"users.nickname" = "handle"
"users.legacy" = ""
"notes" = "memos"
"memos.body" = "content"
'''


@pytest.fixture
def renaming(project: Path) -> Path:
    (project / "schema.py").write_text(V1)
    generate(name="init", echo=quiet)
    (project / "schema.py").write_text(V2)
    return project


def test_a_hints_file_answers_the_rename_questions_of_a_whole_run(
    renaming: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    up(url, echo=quiet)
    run(url, "INSERT INTO users VALUES (1, 'ann', 'old'); INSERT INTO notes VALUES (1, 'hi')")
    (renaming / "hints.toml").write_text(HINTS)
    code, out, err = cli(capsys, "generate", "--name", "renames", "--hints", "hints.toml")
    assert code == 0, err
    text = (renaming / "migrations" / "0002_renames.sql").read_text()
    assert "ALTER TABLE users RENAME COLUMN nickname TO handle;" in text
    assert "ALTER TABLE notes RENAME TO memos;" in text
    assert "ALTER TABLE memos RENAME COLUMN body TO content;" in text
    assert "ALTER TABLE users DROP COLUMN legacy;" in text
    assert "ALTER TABLE users ADD COLUMN fresh text;" in text
    assert up(url, echo=quiet) == ["0002_renames"]
    assert run(url, "SELECT handle, fresh FROM users") == [("ann", None)]
    assert run(url, "SELECT content FROM memos") == [("hi",)]
    assert live(url) == declared(renaming)

    # The same file kept for the next run: its entries answer nothing now.
    (renaming / "schema.py").write_text(V2.replace("    fresh = text()\n",
                                                   "    fresh = text()\n    bio = text()\n"))
    code, out, err = cli(capsys, "generate", "--name", "bio", "--hints", "hints.toml")
    assert code == 0, err
    assert f'note: {Path("hints.toml")}: [renames] "users.nickname" = "handle": the schema ' \
        "before this change has nothing by that name" in out
    assert "ADD COLUMN bio text" in (renaming / "migrations" / "0003_bio.sql").read_text()


def test_rename_flags_win_over_the_hints_file(
    renaming: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (renaming / "hints.toml").write_text(HINTS)
    code, _, err = cli(capsys, "generate", "--name", "x", "--hints", "hints.toml",
                       "--rename", "users.nickname=")
    assert code == 0, err
    text = (renaming / "migrations" / "0002_x.sql").read_text()
    assert "DROP COLUMN nickname" in text and "RENAME COLUMN nickname" not in text
    assert "RENAME COLUMN body TO content" in text


def test_push_takes_a_hints_file(renaming: Path, url: str) -> None:
    (renaming / "schema.py").write_text(V1)
    push(url, echo=quiet)
    run(url, "INSERT INTO users VALUES (1, 'ann', 'old')")
    (renaming / "schema.py").write_text(V2)
    (renaming / "hints.toml").write_text(HINTS)
    push(url, hints=renaming / "hints.toml", force=True, echo=quiet)
    assert run(url, "SELECT handle FROM users") == [("ann",)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[renames\n", r"cannot read hints file hints\.toml: "),
        ("[rename]\n'users.nickname' = 'handle'\n", r"hints\.toml: unknown key\(s\) rename"),
        ("[renames]\n'users.nickname' = 3\n",
         r'hints\.toml: \[renames\] "users.nickname" = 3: the value must be a string'),
        ("[renames]\nusers.nickname = 'handle'\n",
         r'hints\.toml: \[renames\] users: quote the key, as in "users\.nickname"'),
        ("[renames]\n'users.' = 'handle'\n", r'hints\.toml: \[renames\] "users\.": write'),
        # It answers a question, wrongly: no column hndle in the new schema.
        ("[renames]\n'users.nickname' = 'hndle'\n'users.legacy' = ''\n'notes' = 'memos'\n"
         "'memos.body' = 'content'\n",
         r'hints\.toml: \[renames\] "users\.nickname" = "hndle": rename users\.nickname to '
         r"hndle: no column hndle in users"),
        # A question it does not answer: named, with the file.
        ("[renames]\n'users.nickname' = 'handle'\n'users.legacy' = ''\n",
         r"(?s)--rename notes=memos.*hints\.toml does not answer these; add them under "
         r'\[renames\], e\.g\. "notes" = "memos"'),
    ],
    ids=["toml", "section", "value", "bare-key", "key", "bad-target", "unanswered"],
)
def test_a_bad_hints_file_is_an_error_naming_the_file_and_the_entry(
    renaming: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    (renaming / "hints.toml").write_text(content)
    code, _, err = cli(capsys, "generate", "--hints", "hints.toml")
    assert code == 1
    assert err.startswith("error: ")
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert sorted(p.name for p in (renaming / "migrations").iterdir()) == [
        "0001_init.down.sql", "0001_init.json", "0001_init.sql"]


def test_a_missing_hints_file(renaming: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "generate", "--hints", "nowhere.toml")
    assert code == 1 and "cannot read hints file nowhere.toml" in err
