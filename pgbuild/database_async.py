"""``AsyncDatabase``: the async twin of :class:`~pgbuild.Database`, over
``psycopg_pool.AsyncConnectionPool``.

The builders are the same objects; on an ``AsyncDatabase`` their terminal
methods return awaitables. Only the I/O lives here; statements, row shapes,
errors and transaction control come from the shared, I/O-free modules::

    async with AsyncDatabase(url) as db:
        user = await db.select().from_(Users).where(eq(Users.id, "u1")).first()
        async with db.transaction() as tx:
            await tx.update(Users).set({"name": "Ann"}).where(eq(Users.id, "u1")).execute()
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg import sql as pg
from psycopg_pool import AsyncConnectionPool

from pgbuild.ddl import create_plan, drop_plan, existing
from pgbuild.errors import DatabaseError, PgbuildError, QueryError, SerializationError
from pgbuild.expressions import Compiled
from pgbuild.queries.base import Async, Finish, Query
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
AsyncConn = psycopg.AsyncConnection[Any]
AsyncPool = AsyncConnectionPool[AsyncConn]
Connect = Callable[[], AbstractAsyncContextManager[AsyncConn]]


class _AsyncSession(Session[Async]):
    """Runs statements on an asyncio psycopg connection."""

    def _connection(self) -> AbstractAsyncContextManager[AsyncConn]:
        raise NotImplementedError

    def _execute(
        self, compiled: Compiled, row_factory: Any, fetch: bool, finish: Finish | None = None
    ) -> Awaitable[Any]:
        # Not a coroutine itself: it hands back _execute_on's, one fewer per statement.
        return self._execute_on(self._connection, compiled, row_factory, fetch, finish)

    async def _execute_on(
        self,
        connect: Connect,
        compiled: Compiled,
        row_factory: Any,
        fetch: bool,
        finish: Finish | None = None,
    ) -> Any:
        """As :meth:`Database._execute_on`: ``finish(rows, compiled)`` or
        ``(rows, rowcount)``."""
        # The hot path of every statement, cursor left unclosed. Finishing here
        # spares _fetch a coroutine of its own.
        logger = self._logger
        started = time.perf_counter() if logger is not None else 0.0
        try:
            async with connect() as conn:
                try:
                    cur = conn.cursor(row_factory=row_factory) if row_factory else conn.cursor()
                    await cur.execute(
                        compiled.query(encoding(conn)), compiled.params, prepare=compiled.prepare
                    )
                    rows = await cur.fetchall() if fetch and has_rows(cur) else []
                    count = cur.rowcount
                except STATEMENT_ERRORS as exc:
                    raise self._error(exc, compiled) from exc
        except POOL_ERRORS as exc:
            raise pool_error(exc, "AsyncDatabase", getattr(self, "pool", None)) from exc
        if logger is not None:
            self._log(compiled, time.perf_counter() - started)
        return (rows, count) if finish is None else finish(rows, compiled)

    def _fetch(self, compiled: Compiled, maker: Maker | None, finish: Finish) -> Awaitable[Any]:
        factory = None if maker is None else maker_factory(maker)
        return self._execute(compiled, factory, True, finish)

    async def _run(self, compiled: Compiled) -> int:
        count: int = (await self._execute(compiled, None, False))[1]
        return count

    async def _result(self, compiled: Compiled, row_factory: Any) -> Result:
        # Raw statements run on the primary, whatever they say.
        return Result(*await self._execute_on(self._connection, compiled, row_factory, True))

    def _stream(
        self, compiled: Compiled, maker: Maker | None, batch_size: int
    ) -> AsyncIterator[Any]:
        return self._stream_on(self._connection, compiled, maker, batch_size)

    async def _stream_on(
        self, connect: Connect, compiled: Compiled, maker: Maker | None, batch_size: int
    ) -> AsyncGenerator[Any, None]:
        async with connect() as conn, self._cursor_scope(conn):
            try:
                cur = conn.cursor(name=cursor_name(), row_factory=row_factory_for(maker))
                async with cur:
                    cur.itersize = batch_size
                    await cur.execute(compiled.query(encoding(conn)), compiled.params)
                    async for row in cur:
                        yield row
            except STATEMENT_ERRORS as exc:
                raise self._error(exc, compiled) from exc

    def _cursor_scope(self, conn: AsyncConn) -> AbstractAsyncContextManager[Any]:
        return nullcontext()

    async def batch(self, queries: Sequence[Query[Any, Any]]) -> list[Any]:
        """Several statements in one round trip and one transaction (see
        :meth:`Database.batch`)."""
        plan = batch_plan(queries)
        async with self._batch_scope() as session:
            try:
                async with session._connection() as conn:
                    cursors = []
                    async with conn.pipeline():
                        for compiled, maker in plan:
                            cur = conn.cursor(row_factory=row_factory_for(maker))
                            await cur.execute(compiled.query(encoding(conn)), compiled.params)
                            cursors.append(cur)
                    return [
                        cur.rowcount if maker is False else await cur.fetchall()
                        for cur, (_, maker) in zip(cursors, plan, strict=True)
                    ]
            except STATEMENT_ERRORS as exc:
                raise self._error(exc, None) from exc

    def _batch_scope(self) -> AbstractAsyncContextManager[_AsyncSession]:
        return nullcontext(self)

    async def copy_into(self, table: type[Table], rows: Sequence[RowValues]) -> int:
        """Load many rows fast with ``COPY ... FROM STDIN`` (see ``Database.copy_into``)."""
        statement, values = copy_plan(table, rows)
        compiled = Compiled(statement, ())
        async with self._connection() as conn:
            try:
                async with conn.cursor() as cur:
                    async with cur.copy(sql_text(statement)) as copy:
                        for row in values:
                            await copy.write_row(row)
                    return cur.rowcount
            except STATEMENT_ERRORS as exc:
                raise self._error(exc, compiled) from exc


class AsyncDatabase(_AsyncSession):
    """A pool of asyncio connections to one PostgreSQL database.

    Same options as :class:`~pgbuild.Database`. The pool opens on first use
    (or ``await db.open()``); close it with ``await db.close()`` or
    ``async with AsyncDatabase(url) as db:``.
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
        self._closed = False
        options = connection_options(prepare_threshold, pooler)

        # An asyncio pool cannot open without a running loop: open lazily.
        def pool(url: str, name: str, primary: bool = False) -> AsyncPool:
            return AsyncConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                timeout=timeout,
                kwargs=options,
                configure=None if prepared_max is None else _prepared_max(prepared_max),
                check=self._check_connection if primary else _check_replica,
                open=False,
                name=name,
            )

        self.pool: AsyncPool = pool(resolve_url(url, "AsyncDatabase"), "pgbuild-async", True)
        self._replicas: Replicas[AsyncPool] | None = None
        if replicas:
            nodes = [Node(u, pool(u, f"pgbuild-async-replica-{i}")) for i, u in enumerate(replicas)]
            self._replicas = Replicas(nodes, pick, replica_retry, replica_timeout)
        self._primary = self
        self._probes: set[asyncio.Task[None]] = set()

    @classmethod
    def embedded(
        cls, data_dir: str | os.PathLike[str] | None = None, **options: Any
    ) -> AsyncDatabase:
        """An AsyncDatabase on the embedded development server (see
        :meth:`Database.embedded`)."""
        from pgbuild.embedded import embedded_url

        return cls(embedded_url(data_dir), **options)

    async def open(self) -> None:
        """Open the pools now rather than on first use."""
        if self._closed:
            raise PgbuildError("the AsyncDatabase is closed")
        if self.pool.closed:
            await self.pool.open()
            for node in self._replicas.nodes if self._replicas is not None else ():
                await node.pool.open()

    async def _check_connection(self, conn: AsyncConn) -> None:
        """The pool's check before it hands out ``conn`` (see
        :meth:`Database._check_connection`)."""
        if not may_be_dead(conn):
            return
        try:
            await AsyncConnectionPool.check_connection(conn)
        except Exception:
            await self.pool.check()
            raise

    @asynccontextmanager
    async def _borrow(
        self, pool: AsyncPool | None = None, timeout: float | None = None
    ) -> AsyncIterator[AsyncConn]:
        await self.open()
        pool = self.pool if pool is None else pool
        try:
            async with pool.connection(timeout) as conn:
                yield conn
        except POOL_ERRORS as exc:
            raise pool_error(exc, "AsyncDatabase", pool) from exc

    def _connection(self) -> AbstractAsyncContextManager[AsyncConn]:
        return self._borrow()

    # -- replicas: reads there, everything else on the primary (see Database)

    @property
    def primary(self) -> AsyncDatabase:
        """This database with every statement on the primary, reads too (see
        :attr:`Database.primary`)."""
        if self._primary is self and self._replicas is not None:
            view = copy.copy(self)
            view._replicas = None
            self._primary = view
        return self._primary

    def _execute(
        self, compiled: Compiled, row_factory: Any, fetch: bool, finish: Finish | None = None
    ) -> Awaitable[Any]:
        if self.pool.closed or (compiled.read and self._replicas is not None):
            return self._execute_routed(compiled, row_factory, fetch, finish)
        # The pool's own context manager: _borrow's would wrap it in another.
        return self._execute_on(self.pool.connection, compiled, row_factory, fetch, finish)

    async def _execute_routed(
        self, compiled: Compiled, row_factory: Any, fetch: bool, finish: Finish | None
    ) -> Any:
        """A read on a replica while one answers; the pool opened first if need be."""
        if compiled.read and self._replicas is not None:
            while (node := self._replica()) is not None:
                connect = partial(self._borrow, node.pool, self._replicas.timeout)
                try:
                    return await self._execute_on(connect, compiled, row_factory, fetch, finish)
                except PgbuildError as exc:
                    if not unreachable(exc):
                        raise
                    self._replicas.down(node)
        if self.pool.closed:  # opened on first use
            await self.open()
        return await self._execute_on(self.pool.connection, compiled, row_factory, fetch, finish)

    async def _stream(
        self, compiled: Compiled, maker: Maker | None, batch_size: int
    ) -> AsyncIterator[Any]:
        if compiled.read and self._replicas is not None:
            while (node := self._replica()) is not None:
                connect = partial(self._borrow, node.pool, self._replicas.timeout)
                rows = self._stream_on(connect, compiled, maker, batch_size)
                try:
                    # Until the first row arrives, another node can still serve it.
                    first = await anext(rows, _END)
                except PgbuildError as exc:
                    if not unreachable(exc):
                        raise
                    self._replicas.down(node)
                    continue
                try:
                    if first is not _END:
                        yield first
                        async for row in rows:
                            yield row
                finally:
                    await rows.aclose()
                return
        async for row in self._stream_on(self._connection, compiled, maker, batch_size):
            yield row

    def _replica(self) -> Node[AsyncPool] | None:
        assert self._replicas is not None
        for node in self._replicas.due():
            task = asyncio.get_running_loop().create_task(self._probe(node))
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)
        return self._replicas.choose()

    async def _probe(self, node: Node[AsyncPool]) -> None:
        assert self._replicas is not None
        if await _answers(node.pool, self._replicas.timeout):
            self._replicas.up(node)
        else:
            self._replicas.down(node)

    def _cursor_scope(self, conn: AsyncConn) -> AbstractAsyncContextManager[Any]:
        return conn.transaction()

    def _batch_scope(self) -> AbstractAsyncContextManager[_AsyncSession]:
        return self.transaction()

    @asynccontextmanager
    async def transaction(
        self,
        *,
        isolation_level: IsolationLevel | None = None,
        read_only: bool | None = None,
        deferrable: bool | None = None,
    ) -> AsyncIterator[AsyncTransaction]:
        """``async with db.transaction() as tx``: commits when the block ends,
        rolls back on an exception; ``tx.rollback()`` raises
        :class:`TransactionRollback` out of the block. A block that ends
        normally after one of its statements failed is rolled back and raises
        (see :meth:`Database.transaction`)."""
        begin_sql = begin(isolation_level, read_only, deferrable)
        async with self._borrow() as conn:
            tx = AsyncTransaction(self, conn, None, [None])
            await _run(conn, begin_sql)
            try:
                yield tx
            except BaseException:
                if not tx._done:
                    await _quietly(conn, ROLLBACK)
                raise
            finally:
                tx._done = True
            if conn.info.transaction_status == INERROR:
                await _quietly(conn, ROLLBACK)
                raise not_committed(tx._failures[0], None)
            await _run(conn, COMMIT)

    async def run_in_transaction(
        self,
        fn: Callable[[AsyncTransaction], Awaitable[R]],
        *,
        retries: int = 3,
        isolation_level: IsolationLevel | None = None,
        read_only: bool | None = None,
        deferrable: bool | None = None,
    ) -> R:
        """``await db.run_in_transaction(fn)``: await ``fn(tx)`` in a
        transaction, again after a :class:`SerializationError` (see
        :meth:`Database.run_in_transaction`).

        >>> async def book(tx): ...
        >>> await db.run_in_transaction(book, isolation_level="serializable")
        """
        check_retries(retries)
        for attempt in itertools.count():
            try:
                async with self.transaction(
                    isolation_level=isolation_level, read_only=read_only, deferrable=deferrable
                ) as tx:
                    return await fn(tx)
            except SerializationError:
                if attempt >= retries:
                    raise
            await asyncio.sleep(retry_delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def create_tables(self, *tables: type[Table], if_not_exists: bool = False) -> None:
        """Create ``tables`` in one transaction (see :meth:`Database.create_tables`)."""
        async with self.transaction() as tx:
            found = (await tx.execute(existing(tables))).one()
            for statement in create_plan(tables, found, if_not_exists=if_not_exists):
                await tx._run(statement)

    async def drop_tables(self, *tables: type[Table]) -> None:
        """Drop ``tables`` (``CASCADE``) and their enums, if they exist."""
        async with self.transaction() as tx:
            for statement in drop_plan(tables):
                await tx._run(statement)

    async def check_health(self, timeout: float = 3.0) -> Health:
        """Whether each node answers ``SELECT 1`` (see :meth:`Database.check_health`).
        Never raises."""
        try:
            await self.open()
        except PgbuildError:
            return Health(False)
        replicas = {}
        if self._replicas is not None:
            for node in self._replicas.nodes:
                replicas[node.url] = ok = await _answers(node.pool, timeout)
                (self._replicas.up if ok else self._replicas.down)(node)
        return Health(await _answers(self.pool, timeout), replicas)

    async def close(self) -> None:
        """Close every connection; later statements raise :class:`PgbuildError`."""
        self._closed = True
        await self.pool.close()
        for node in self._replicas.nodes if self._replicas is not None else ():
            await node.pool.close()
        for task in list(self._probes):
            task.cancel()

    async def __aenter__(self) -> AsyncDatabase:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncTransaction(_AsyncSession):
    """The async twin of :class:`~pgbuild.Transaction`."""

    def __init__(
        self,
        db: AsyncDatabase,
        conn: AsyncConn,
        savepoint: str | None,
        failures: list[PgbuildError | None],
    ) -> None:
        self._db = db
        self._conn = conn
        self._savepoint = savepoint
        self._done = False
        self._logger = db._logger
        self._log_params = db._log_params
        self._failures = failures

    def _failed(self, error: PgbuildError) -> None:
        # The first server error since the transaction was last healthy: the
        # one that aborted it (later statements only fail with 25P02).
        if isinstance(error, DatabaseError) and self._failures[0] is None:
            self._failures[0] = error

    def _connection(self) -> AbstractAsyncContextManager[AsyncConn]:
        if self._done:
            raise QueryError(ENDED)
        return nullcontext(self._conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncTransaction]:
        """A savepoint: ``async with tx.transaction() as inner``."""
        if self._done:
            raise QueryError(ENDED)
        name = f"pgbuild_asp_{next(_savepoints)}"
        await _run(self._conn, savepoint(name))
        inner = AsyncTransaction(self._db, self._conn, name, self._failures)
        try:
            yield inner
        except BaseException:
            if not inner._done:
                await inner._undo()
            raise
        finally:
            inner._done = True
        if self._conn.info.transaction_status == INERROR:
            failure = self._failures[0]
            await inner._undo()
            raise not_committed(failure, name)
        await _run(self._conn, release(name))

    async def _undo(self) -> None:
        for statement in undo(self._savepoint):
            await _quietly(self._conn, statement)
        self._failures[0] = None  # rolled back to a healthy state

    async def rollback(self) -> None:
        """Roll back this transaction (or savepoint) and leave its block by
        raising :class:`TransactionRollback`."""
        if self._done:
            raise QueryError(ENDED)
        await self._undo()
        self._done = True
        raise rolled_back(self._savepoint)


async def _check_replica(conn: AsyncConn) -> None:
    # As the primary pool's check, without its sweep of the other connections.
    if may_be_dead(conn):
        await AsyncConnectionPool.check_connection(conn)


async def _answers(pool: AsyncPool, timeout: float) -> bool:
    try:
        async with pool.connection(timeout=timeout) as conn:
            await conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def _prepared_max(n: int) -> Callable[[AsyncConn], Awaitable[None]]:
    async def configure(conn: AsyncConn) -> None:
        conn.prepared_max = n

    return configure


_END = object()


async def _run(conn: AsyncConn, statement: pg.Composed | pg.SQL) -> None:
    try:
        await conn.execute(statement)
    except psycopg.Error as exc:
        raise wrap_error(exc, None, False) from exc


async def _quietly(conn: AsyncConn, statement: pg.Composed | pg.SQL) -> None:
    try:
        await conn.execute(statement)
    except psycopg.Error:
        pass
