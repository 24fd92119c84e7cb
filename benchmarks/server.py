"""Where the benchmarks run: a throw-away embedded server, or ``DATABASE_URL``.

Either way the benchmark tables live in a schema of their own
(``pgbuild_bench_<random>``, first on every connection's ``search_path``),
dropped when the run ends, so a run never touches the tables of the
database it is pointed at.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


@dataclass(frozen=True)
class Target:
    """A connection string whose ``search_path`` is the run's own schema."""

    url: str
    schema: str
    server: str  # how the server was found, for the report


@contextmanager
def bench_target(url: str | None) -> Iterator[Target]:
    """The database to benchmark: ``url`` if given, else an embedded server
    started in a temporary directory and stopped (and deleted) afterwards."""
    if url:
        with _own_schema(url, "DATABASE_URL") as target:
            yield target
        return
    with _embedded() as embedded, _own_schema(embedded, "embedded, temporary") as target:
        yield target


@contextmanager
def _embedded() -> Iterator[str]:
    try:
        from pgbuild.embedded import embedded_url, stop_embedded
    except ImportError as exc:  # pragma: no cover - pgbuild is always there
        raise SystemExit(f"cannot import pgbuild.embedded: {exc}") from exc
    data_dir = Path(tempfile.mkdtemp(prefix="pgbuild-bench-"))
    try:
        # persistent=False: even if this process dies, the server stops with it.
        url = embedded_url(data_dir, persistent=False)
        try:
            yield url
        finally:
            stop_embedded(data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def _own_schema(url: str, server: str) -> Iterator[Target]:
    schema = f"pgbuild_bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    options = conninfo_to_dict(url).get("options") or ""
    scoped = make_conninfo(url, options=f"{options} -c search_path={schema}".strip())
    try:
        yield Target(scoped, schema, server)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def server_info(url: str) -> dict[str, Any]:
    """The PostgreSQL version and the settings that move write timings."""
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SELECT version()").fetchone()
        settings = {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers")
        }
        host = conn.info.host
    return {
        "version": version[0] if version else None,
        **{k: v[0] if v else None for k, v in settings.items()},
        "connection": "unix socket" if host.startswith("/") else f"tcp {host}",
    }


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "load_average_1min": load_average(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
    }


def load_average() -> float | None:
    """The 1-minute load average: other work on the machine skews the numbers."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def versions() -> dict[str, str | None]:
    """Versions of pgbuild, psycopg (and libpq) and the peers."""

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    libpq = psycopg.pq.version()
    return {
        "pgbuild": version("pgbuild"),
        "pgbuild_source": _source(),
        "psycopg": psycopg.__version__,
        "psycopg_impl": psycopg.pq.__impl__,
        "libpq": f"{libpq // 10000}.{libpq % 10000}",
        "psycopg_pool": version("psycopg-pool"),
        "sqlalchemy": version("sqlalchemy"),
        "pypika": version("pypika"),
    }


def _source() -> str | None:
    """The git commit of the pgbuild that was imported (``+dirty`` with local
    changes), so a result can be traced to the code it measured."""
    import pgbuild

    where = Path(pgbuild.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True,
            text=True, check=True, timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=where, capture_output=True,
            text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")
