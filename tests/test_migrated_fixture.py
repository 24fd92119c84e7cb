"""A test database migrated from Python, the way a project's own fixtures do it.

The ``migrated_db`` fixture creates a fresh database and applies the
repository's own ``migrations/`` with :func:`pgbuild.migrate.up`, reading
``[tool.pgbuild]`` from the repository's ``pyproject.toml``: no subprocess,
no ``create_tables``. The tests prove that what the migrations built is the
guide's schema (``schema.TABLES``), and that the guide's tables work on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import schema
from pgbuild import Database, desc, eq
from pgbuild.migrate import Config, check, load_config, push, status, up
from pgbuild.migrate.declared import from_tables
from pgbuild.migrate.runner import connect, live_schema
from schema import Prompts, Sessions, Users
from tests.conftest import fresh_database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config() -> Config:
    """The repository's own ``[tool.pgbuild]``."""
    return load_config(ROOT)


@pytest.fixture(scope="module")
def migrated_db(server_url: str, config: Config) -> Iterator[Database]:
    """A fresh database, migrated by ``pgbuild.migrate.up`` to the newest
    migration; dropped afterwards."""
    with (
        fresh_database(server_url, "migrated") as url,
        Database(url, min_size=1, max_size=2) as db,
    ):
        up(db, config=config, echo=lambda _: None)
        yield db


def test_every_migration_is_applied_and_nothing_is_left_to_do(
    migrated_db: Database, config: Config
) -> None:
    state = status(migrated_db, config=config)
    files = sorted(p.stem for p in config.migrations.glob("*.sql") if ".down." not in p.name)
    assert [m.name for m, _ in state.applied] == files and files[0] == "0001_init"
    assert state.pending == [] and state.problems(config) == []
    assert check(config=config) == []
    assert up(migrated_db, config=config, echo=lambda _: None) == []
    assert push(migrated_db, config=config, dry_run=True, echo=lambda _: None) == []


def test_the_migrated_database_introspects_as_the_guides_tables(
    migrated_db: Database, config: Config
) -> None:
    with connect(migrated_db, config) as conn:
        live = live_schema(conn, config)  # without the tracking table
    assert live == from_tables(schema.TABLES)


def test_the_guides_tables_work_on_the_migrated_database(migrated_db: Database) -> None:
    db = migrated_db
    db.insert(Users).values({"id": "u1", "email": "ann@example.com", "name": "Ann"}).execute()
    db.insert(Sessions).values([
        {"id": "s1", "user_id": "u1", "title": "first"},
        {"id": "s2", "user_id": "u1", "title": "second"},
    ]).execute()
    db.insert(Prompts).values(
        {"id": "p1", "session_id": "s2", "user_id": "u1", "content": "hello"}
    ).execute()

    user = db.select().from_(Users).where(eq(Users.email, "ann@example.com")).one()
    assert (user.id, user.name, user.created_at.tzinfo is not None) == ("u1", "Ann", True)
    found = db.query(Users).find_first(
        with_={"sessions": {"order_by": desc(Sessions.title), "with_": {"prompts": True}}}
    )
    assert found is not None
    assert [(s.id, [p.content for p in s.prompts]) for s in found.sessions] == [
        ("s2", ["hello"]), ("s1", []),
    ]
    # The foreign keys' ON DELETE CASCADE came from the migration too.
    db.delete(Users).where(eq(Users.id, "u1")).execute()
    assert db.select().from_(Prompts).all() == []
