"""What the sync and async executors share, free of I/O: connection
options, URL checks, the transaction control statements, the retry policy
of ``run_in_transaction`` and the pool's check of a connection it hands out."""

from __future__ import annotations

import os
import random
import select
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


Pooler = Literal["transaction"]


def connection_options(prepare_threshold: int | None, pooler: Pooler | None) -> dict[str, Any]:
    """Autocommit outside transactions: one round trip per statement; UTF-8
    on the wire (a startup parameter, which poolers track), so compiled
    statements are encoded once and reused.

    Behind a transaction-mode pooler (``pooler="transaction"``) consecutive
    statements may reach different server connections, so nothing is
    prepared on the server; pgbuild sets no session state in any mode.
    """
    if pooler not in (None, "transaction"):
        raise PgbuildError(f"pooler={pooler!r}: the only pooler mode is 'transaction'")
    return {
        "autocommit": True,
        "prepare_threshold": None if pooler else prepare_threshold,
        "client_encoding": "utf8",
    }


def rolled_back(savepoint_name: str | None) -> TransactionRollback:
    """The exception ``tx.rollback()`` raises out of its block."""
    what = "transaction" if savepoint_name is None else "savepoint"
    return TransactionRollback(f"{what} rolled back")


POOL_ERRORS = (PoolClosed, PoolTimeout)


def pool_error(exc: Exception, what: str, pool: Any = None) -> PgbuildError:
    """A closed pool or a pool with no free connection, said plainly."""
    if isinstance(exc, PoolClosed):
        return PgbuildError(f"the {what} is closed")
    if isinstance(exc, PoolTimeout):
        sizes = ""
        if pool is not None:
            sizes = (
                f" (max_size={pool.max_size}, timeout={pool.timeout:g} s): every connection "
                "is in use, or the server cannot be reached; a transaction, or a loop over "
                "iter(), holds its connection until it ends"
            )
        return DatabaseError(f"no connection available from the {what}'s pool: {exc}{sizes}")
    return DatabaseError(f"connection pool error: {exc}")


# -- the pool's check of a connection before handing it out

if hasattr(select, "poll"):

    def _readable(fd: int) -> bool:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))

else:  # Windows

    def _readable(fd: int) -> bool:
        return bool(select.select([fd], [], [], 0)[0])


def may_be_dead(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle pooled connection needs a round trip to prove it alive.

    Idle, a healthy connection has nothing to read; one whose server process
    was terminated (``pg_terminate_backend``, a restart, an idle timeout) has
    the server's last message or the end of the stream waiting on its socket.
    One ``poll()``, no round trip: the check costs about a microsecond.
    """
    if conn.closed:
        return True
    try:
        return _readable(conn.fileno())
    except (OSError, ValueError, psycopg.Error):
        return True


# -- run_in_transaction


def check_retries(retries: int) -> None:
    if not isinstance(retries, int) or retries < 0:
        raise QueryError(f"run_in_transaction: retries must be an int >= 0, not {retries!r}")


def retry_delay(attempt: int) -> float:
    """Seconds to wait before running a transaction again after its
    ``attempt``-th serialization failure (0-based): a short, jittered,
    growing pause, so that the conflicting transactions stop colliding."""
    return random.uniform(0.5, 1.5) * min(0.005 * 2.0**attempt, 0.25)


# -- a block that ends normally in a failed transaction

INERROR = psycopg.pq.TransactionStatus.INERROR


def not_committed(failure: PgbuildError | None, savepoint_name: str | None) -> DatabaseError:
    """The error for a block that ended normally although a statement in it
    failed (its error caught inside the block): PostgreSQL would turn the
    ``COMMIT`` into a ``ROLLBACK`` without a word, so pgbuild rolls back and
    says so. The class is the failed statement's (a
    :class:`~pgbuild.SerializationError` stays retryable)."""
    what = "transaction" if savepoint_name is None else "savepoint"
    cls = type(failure) if isinstance(failure, DatabaseError) else DatabaseError
    message = (
        f"the {what} was rolled back, not committed: a statement in it failed and its "
        "error was caught inside the block"
    )
    if failure is not None:
        message += f"; the statement's error: {failure}"
    statement = failure.statement if isinstance(failure, DatabaseError) else None
    error = cls(message, statement=statement)
    if failure is not None:
        error.__cause__ = failure.__cause__  # the psycopg error: SQLSTATE, constraint
    return error
