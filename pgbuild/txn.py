"""What the sync and async executors share, free of I/O: connection
options, URL checks, and the transaction control statements."""

from __future__ import annotations

import os
from typing import Any, Literal

import psycopg
from psycopg import sql as pg
from psycopg_pool import PoolClosed, PoolTimeout

from pgbuild.errors import DatabaseError, PgbuildError, QueryError, TransactionRollback

COMMIT = pg.SQL("COMMIT")
ROLLBACK = pg.SQL("ROLLBACK")
ENDED = "this transaction has ended; use it only inside its with block"

IsolationLevel = Literal["read uncommitted", "read committed", "repeatable read", "serializable"]
_ISOLATION = {
    "read uncommitted": "READ UNCOMMITTED",
    "read committed": "READ COMMITTED",
    "repeatable read": "REPEATABLE READ",
    "serializable": "SERIALIZABLE",
}


def begin(
    isolation_level: IsolationLevel | None, read_only: bool | None, deferrable: bool | None
) -> pg.SQL:
    modes = []
    if isolation_level is not None:
        if isolation_level not in _ISOLATION:
            raise QueryError(f"unknown isolation level {isolation_level!r}")
        modes.append("ISOLATION LEVEL " + _ISOLATION[isolation_level])
    if read_only is not None:
        modes.append("READ ONLY" if read_only else "READ WRITE")
    if deferrable is not None:
        modes.append("DEFERRABLE" if deferrable else "NOT DEFERRABLE")
    return pg.SQL("BEGIN " + ", ".join(modes) if modes else "BEGIN")




def savepoint(name: str) -> pg.Composed:
    return pg.SQL("SAVEPOINT {}").format(pg.Identifier(name))


def release(name: str) -> pg.Composed:
    return pg.SQL("RELEASE SAVEPOINT {}").format(pg.Identifier(name))


def undo(name: str | None) -> list[pg.Composed | pg.SQL]:
    """Roll back a transaction (``name`` None) or a savepoint."""
    if name is None:
        return [ROLLBACK]
    sp = pg.Identifier(name)
    return [pg.SQL("ROLLBACK TO SAVEPOINT {}").format(sp), release(name)]


def resolve_url(url: str | None, what: str) -> str:
    """``url``, or ``DATABASE_URL``; a clear error when neither is usable."""
    url = url if url is not None else os.environ.get("DATABASE_URL")
    if not url:
        raise PgbuildError(
            f"{what}() needs a URL: pass one or set DATABASE_URL "
            f"(or use {what}.embedded() for the development server)"
        )
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise PgbuildError(f"malformed database URL: {exc}") from None
    return url


def connection_options(prepare_threshold: int | None) -> dict[str, Any]:
    """Autocommit outside transactions: one round trip per statement."""
    return {"autocommit": True, "prepare_threshold": prepare_threshold}


def rolled_back(savepoint_name: str | None) -> TransactionRollback:
    """The exception ``tx.rollback()`` raises out of its block."""
    what = "transaction" if savepoint_name is None else "savepoint"
    return TransactionRollback(f"{what} rolled back")


POOL_ERRORS = (PoolClosed, PoolTimeout)


def pool_error(exc: Exception, what: str) -> PgbuildError:
    """A closed pool or a pool with no free connection, said plainly."""
    if isinstance(exc, PoolClosed):
        return PgbuildError(f"the {what} is closed")
    if isinstance(exc, PoolTimeout):
        return DatabaseError(f"no connection available: {exc}")
    return DatabaseError(f"connection pool error: {exc}")
