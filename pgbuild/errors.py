"""The exception hierarchy: every error pgbuild raises is a :class:`PgbuildError`.

::

    PgbuildError
    ├── SchemaError          a Table declaration is invalid (names the table/column)
    ├── QueryError           a query was built wrong, caught before the server
    ├── DatabaseError        the server (or the connection) refused a statement
    │   ├── IntegrityError   a constraint was violated (SQLSTATE class 23)
    │   └── SerializationError  a concurrent transaction won (40001, 40P01): retry
    ├── NoResultError        ``.one()`` found no row
    ├── MultipleResultsError ``.one()`` found more than one row
    └── TransactionRollback  ``tx.rollback()`` was called

A :class:`DatabaseError` keeps psycopg's error as ``__cause__`` and exposes the
statement text, the SQLSTATE and, for constraint violations, the constraint.
A connection that dies under a statement (the server terminated it, or
restarted) is a :class:`DatabaseError` too; the pool replaces the connection.
"""

from __future__ import annotations

import psycopg


class PgbuildError(Exception):
    """Base class of every error pgbuild raises."""


class SchemaError(PgbuildError):
    """A table, column, index or constraint declaration is invalid."""


class QueryError(PgbuildError):
    """A query was built with bad input (unknown column, missing value, ...).

    Raised before anything is sent to the server, so nothing is written.
    """


class DatabaseError(PgbuildError):
    """The server refused a statement, or the connection failed.

    ``__cause__`` is the original :class:`psycopg.Error`.
    """

    def __init__(self, message: str, *, statement: str | None = None) -> None:
        super().__init__(message)
        self.statement = statement

    @property
    def sqlstate(self) -> str | None:
        """The SQLSTATE of the server's error, e.g. ``"23505"``."""
        cause = self.__cause__
        return cause.sqlstate if isinstance(cause, psycopg.Error) else None

    @property
    def constraint(self) -> str | None:
        """The name of the violated constraint, when the server reported one."""
        cause = self.__cause__
        if isinstance(cause, psycopg.Error) and cause.diag is not None:
            return cause.diag.constraint_name
        return None


class IntegrityError(DatabaseError):
    """A constraint was violated: unique, foreign key, not null or check."""


class SerializationError(DatabaseError):
    """The transaction lost a conflict with a concurrent one and was rolled
    back: a serialization failure (SQLSTATE ``40001``, under ``repeatable
    read`` or ``serializable``) or a deadlock (``40P01``). Running the whole
    transaction again may succeed; ``db.run_in_transaction(fn, retries=3)``
    does so::

        def transfer(tx):
            ...

        db.run_in_transaction(transfer, isolation_level="serializable")
    """


class NoResultError(PgbuildError):
    """``.one()`` expected exactly one row and found none."""


class MultipleResultsError(PgbuildError):
    """``.one()`` expected exactly one row and found several."""


class TransactionRollback(PgbuildError):
    """Raised by ``tx.rollback()``: the transaction (or savepoint) was rolled back.

    It propagates out of the ``with`` block that owns ``tx``::

        try:
            with db.transaction() as tx:
                tx.insert(Users).values(row).execute()
                tx.rollback()
        except TransactionRollback:
            pass  # nothing was written
    """


def server_message(exc: psycopg.Error) -> str:
    """The server's primary message for ``exc`` (psycopg's text when there
    is none), without the trailing newline."""
    return (exc.diag.message_primary or str(exc)).strip()
