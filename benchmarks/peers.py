"""The peers, when installed (``pip install -e '.[bench]'``): SQLAlchemy Core
on its own engine (``postgresql+psycopg://``, psycopg 3 underneath) and
PyPika, which only writes SQL text that psycopg then runs on pgbuild's pool.

Both build each statement the way their documentation shows, with bound
parameters (PyPika: ``Parameter("%s")``), mirroring :mod:`benchmarks.queries`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from benchmarks.queries import AUDIT_COLUMNS, DOMAIN, LATEST, PAGE, SINCE, USER_COLUMNS

USER_FIELDS = tuple(USER_COLUMNS.split(", "))
SESSION_FIELDS = ("id", "user_id", "title", "created_at", "last_active_at")


def engine_options(url: str, pool_size: int, prepare_threshold: int | None) -> dict[str, Any]:
    """SQLAlchemy engine options matching pgbuild's pool: same server, same
    size, autocommit, same ``prepare_threshold``."""
    return {
        "connect_args": {**conninfo_to_dict(url), "prepare_threshold": prepare_threshold},
        "pool_size": pool_size,
        "max_overflow": 0,
        "isolation_level": "AUTOCOMMIT",
    }


class Sqla:
    """SQLAlchemy Core: the guide's tables, and each case's statement.
    Raises ImportError when SQLAlchemy is not installed."""

    def __init__(self) -> None:
        import sqlalchemy as sa
        from sqlalchemy.dialects import postgresql
        from sqlalchemy.dialects.postgresql import psycopg as sa_psycopg

        self.sa = sa
        self.pg_insert = postgresql.insert
        self.JSONB = postgresql.JSONB
        self.ARRAY = postgresql.ARRAY
        self.dialect = sa_psycopg.dialect()
        md = sa.MetaData()
        tz = sa.TIMESTAMP(timezone=True)
        self.users = sa.Table(
            "claude_code_users", md,
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("email", sa.Text, nullable=False, unique=True),
            sa.Column("name", sa.Text),
            sa.Column("metadata", postgresql.JSONB),
            sa.Column("refresh_token", sa.Text),
            sa.Column("created_at", tz, nullable=False, server_default=sa.func.now()),
            sa.Column("last_login_at", tz, nullable=False, server_default=sa.func.now()),
            sa.Column("deleted_at", tz),
        )
        self.sessions = sa.Table(
            "claude_code_sessions", md,
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("user_id", sa.Text, sa.ForeignKey("claude_code_users.id"), nullable=False),
            sa.Column("title", sa.Text),
            sa.Column("created_at", tz, nullable=False, server_default=sa.func.now()),
            sa.Column("last_active_at", tz, nullable=False, server_default=sa.func.now()),
        )
        self.audit_logs = sa.Table(
            "audit_logs", md,
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("user_id", sa.Text),
            sa.Column("action", sa.Text, nullable=False),
            sa.Column("table_name", sa.Text, nullable=False),
            sa.Column("record_id", sa.Text),
            sa.Column("changes", postgresql.JSONB),
            sa.Column("created_at", tz, nullable=False, server_default=sa.func.now()),
        )
        u = self.users
        self.point_prepared = sa.select(u).where(u.c.id == sa.bindparam("id"))
        self.bulk = sa.insert(self.audit_logs)

    def engine(self, url: str, pool_size: int, prepare_threshold: int | None) -> Any:
        return self.sa.create_engine(
            "postgresql+psycopg://", **engine_options(url, pool_size, prepare_threshold)
        )

    def async_engine(self, url: str, pool_size: int, prepare_threshold: int | None) -> Any:
        """Raises ImportError when SQLAlchemy's asyncio support (greenlet) is missing."""
        import greenlet  # noqa: F401  - SQLAlchemy's asyncio layer needs it
        from sqlalchemy.ext.asyncio import create_async_engine

        return create_async_engine(
            "postgresql+psycopg://", **engine_options(url, pool_size, prepare_threshold)
        )

    def compile(self, statement: Any) -> tuple[str, Any]:
        """What executing does before its cache exists: compile for the
        dialect, then the SQL text and the parameters."""
        compiled = statement.compile(dialect=self.dialect)
        return compiled.string, compiled.params

    def point(self, uid: str) -> Any:
        u = self.users
        return self.sa.select(u).where(u.c.id == uid)

    def page(self) -> Any:
        sa, u = self.sa, self.users
        return (
            sa.select(u)
            .where(sa.and_(u.c.last_login_at >= SINCE, u.c.email.like(DOMAIN)))
            .order_by(u.c.created_at.desc())
            .limit(PAGE)
        )

    def insert(self, row: dict[str, Any]) -> Any:
        return self.sa.insert(self.users).values(row).returning(*self.users.c)

    def upsert(self, row: dict[str, Any], now: datetime) -> Any:
        u = self.users
        return (
            self.pg_insert(u)
            .values(row)
            .on_conflict_do_update(
                index_elements=[u.c.email], set_={"name": row["name"], "last_login_at": now}
            )
            .returning(*u.c)
        )

    def update(self, uid: str, name: str, now: datetime) -> Any:
        u = self.users
        return (
            self.sa.update(u).values(name=name, last_login_at=now).where(u.c.id == uid)
            .returning(*u.c)
        )

    def jsonb_update(self, uid: str) -> Any:
        sa, u = self.sa, self.users
        value = sa.func.jsonb_set(
            sa.func.coalesce(u.c.metadata, sa.literal_column("'{}'::jsonb")),
            sa.literal(["preferences", "theme"], self.ARRAY(sa.Text)),
            sa.literal("dark", self.JSONB),
            True,
        )
        return sa.update(u).values(metadata=value).where(u.c.id == uid)

    def users_page(self) -> Any:
        u = self.users
        return self.sa.select(u).order_by(u.c.created_at.desc()).limit(PAGE)

    def sessions_of(self, uid: str) -> Any:
        s = self.sessions
        return (
            self.sa.select(s).where(s.c.user_id == uid).order_by(s.c.created_at.desc())
            .limit(LATEST)
        )


class Pika:
    """PyPika: each case's statement as SQL text with ``%s`` parameters.
    Raises ImportError when PyPika is not installed."""

    def __init__(self) -> None:
        from pypika import Order, Parameter, PostgreSQLQuery, Table, functions
        from pypika.terms import LiteralValue

        self.Q = PostgreSQLQuery
        self.Table = Table
        self.Order = Order
        self.P = Parameter("%s")
        self.functions = functions
        self.LiteralValue = LiteralValue
        self.point_prepared = self.point()

    def point(self) -> str:
        u = self.Table("claude_code_users")
        return str(self.Q.from_(u).select(*USER_FIELDS).where(u.id == self.P))

    def page(self) -> str:
        u, P = self.Table("claude_code_users"), self.P
        return str(
            self.Q.from_(u)
            .select(*USER_FIELDS)
            .where((u.last_login_at >= P) & u.email.like(P))
            .orderby(u.created_at, order=self.Order.desc)
            .limit(PAGE)
        )

    def insert(self) -> str:
        u, P = self.Table("claude_code_users"), self.P
        return str(
            self.Q.into(u).columns("id", "email", "name").insert(P, P, P).returning(*USER_FIELDS)
        )

    def upsert(self) -> str:
        u, P = self.Table("claude_code_users"), self.P
        return str(
            self.Q.into(u)
            .columns("id", "email", "name")
            .insert(P, P, P)
            .on_conflict(u.email)
            .do_update(u.field("name"), P)
            .do_update(u.last_login_at, P)
            .returning(*USER_FIELDS)
        )

    def update(self) -> str:
        u, P = self.Table("claude_code_users"), self.P
        return str(
            self.Q.update(u)
            .set(u.field("name"), P)
            .set(u.last_login_at, P)
            .where(u.id == P)
            .returning(*USER_FIELDS)
        )

    def jsonb_update(self) -> str:
        u, P, fn, lit = self.Table("claude_code_users"), self.P, self.functions, self.LiteralValue
        value = fn.Function(
            "jsonb_set",
            fn.Coalesce(u.metadata, lit("'{}'::jsonb")),
            lit("%s::text[]"),
            lit("%s::jsonb"),
            P,
        )
        return str(self.Q.update(u).set(u.metadata, value).where(u.id == P))

    def bulk(self, rows: int) -> str:
        a, P = self.Table("audit_logs"), self.P
        row = (P,) * len(AUDIT_COLUMNS)
        return str(self.Q.into(a).columns(*AUDIT_COLUMNS).insert(*([row] * rows)))

    def users_page(self) -> str:
        u = self.Table("claude_code_users")
        return str(
            self.Q.from_(u).select(*USER_FIELDS).orderby(u.created_at, order=self.Order.desc)
            .limit(PAGE)
        )

    def sessions_of(self) -> str:
        s = self.Table("claude_code_sessions")
        return str(
            self.Q.from_(s)
            .select(*SESSION_FIELDS)
            .where(s.user_id == self.P)
            .orderby(s.created_at, order=self.Order.desc)
            .limit(LATEST)
        )


def load_peers() -> tuple[Sqla | None, Pika | None, list[str]]:
    """The peers that import, and a one-line note for each that does not."""
    notes = []
    sqla: Sqla | None = None
    pika: Pika | None = None
    try:
        sqla = Sqla()
    except ImportError as exc:
        notes.append(f"SQLAlchemy skipped: not importable ({exc.name or exc}); "
                     "pip install -e '.[bench]'")
    try:
        pika = Pika()
    except ImportError as exc:
        notes.append(f"PyPika skipped: not importable ({exc.name or exc}); "
                     "pip install -e '.[bench]'")
    return sqla, pika, notes
