"""A network between client and server: ``python -m benchmarks --latency MS``.

The embedded server is reached through a Unix socket, a round trip of tens
of microseconds. An application server reaches its database over a network,
a round trip of ~0.2 to 1 ms. That is what N+1 queries pay for, so the
relational cases are worth seeing under it too.

``delayed(url, ms)`` starts a forwarding proxy in a process of its own (so
it takes nothing from the benchmark's interpreter) and yields a URL that
reaches the server through it. Each chunk of bytes is held for half of
``ms`` in each direction, timed from when it arrived, so chunks that
follow each other closely (a bulk load) are not delayed one after another.
The proxy adds its own overhead on top; the report gives the round trip it
measured, with and without the proxy.

Run as ``python -m benchmarks.latency UPSTREAM SOCKET SECONDS`` it is the
proxy itself: ``UPSTREAM`` is a Unix socket path or ``host:port``.
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

CHUNK = 65536


@contextmanager
def delayed(url: str, ms: float) -> Iterator[str]:
    """``url``, reached through a proxy that adds ``ms`` milliseconds to each
    round trip."""
    params = conninfo_to_dict(url)
    host = str(params.get("host") or os.environ.get("PGHOST") or "/var/run/postgresql")
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    upstream = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else f"{host}:{port}"
    with tempfile.TemporaryDirectory(prefix="pgbuild-latency-") as where:
        listen = Path(where) / f".s.PGSQL.{port}"
        proxy = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.latency", upstream, str(listen), str(ms / 2000)],
            cwd=Path(__file__).resolve().parent.parent,  # where ``benchmarks`` imports from
        )
        try:
            deadline = time.monotonic() + 10
            while not listen.exists():
                if proxy.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the latency proxy did not start (upstream {upstream})")
                time.sleep(0.01)
            # libpq sends no SSL request over a Unix socket: the proxy sees plain bytes.
            params.pop("hostaddr", None)
            yield make_conninfo("", **{**params, "host": where, "port": port, "sslmode": "disable"})
        finally:
            proxy.terminate()
            proxy.wait()


def round_trip(url: str, n: int = 200) -> float:
    """The median time, in seconds, of an empty query on one connection."""
    with psycopg.connect(url, autocommit=True) as conn:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            conn.execute(";")
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _serve(upstream: str, listen: str, delay: float) -> None:
    """One thread serves every connection: ``select`` waits to the
    microsecond (threads handing chunks to each other added ~0.2 ms a round
    trip).
    Every chunk is held for the same time, so one FIFO keeps them in the
    order they fall due."""
    _exact_sleeps()
    server = socket.socket(socket.AF_UNIX)
    server.bind(listen)
    server.listen(64)
    peer: dict[socket.socket, socket.socket] = {}
    reading: set[socket.socket] = set()
    shut: set[socket.socket] = set()  # told their peer's end (after all its data)
    held: deque[tuple[float, socket.socket, bytes]] = deque()
    while True:
        timeout = max(0.0, held[0][0] - time.perf_counter()) if held else None
        ready, _, _ = select.select([server, *reading], [], [], timeout)
        arrived = time.perf_counter()
        for source in ready:
            if source is server:
                client, _ = server.accept()
                try:
                    target = _connect(upstream)
                except OSError:
                    client.close()  # the client sees the server refuse it
                    continue
                peer[client], peer[target] = target, client
                reading.update((client, target))
                continue
            try:
                data = source.recv(CHUNK)
            except OSError:
                data = b""
            held.append((arrived + delay, peer[source], data))
            if not data:
                reading.discard(source)
        while held and held[0][0] <= time.perf_counter():
            _, sink, data = held.popleft()
            if data:
                with suppress(OSError):
                    sink.sendall(data)
                continue
            with suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            shut.add(sink)
            other = peer[sink]
            if other in shut:  # both ways ended and forwarded: nothing is held for them
                for end in (sink, other):
                    shut.discard(end)
                    del peer[end]
                    end.close()


def _connect(upstream: str) -> socket.socket:
    if upstream.startswith("/"):
        target = socket.socket(socket.AF_UNIX)
        target.connect(upstream)
        return target
    host, _, port = upstream.rpartition(":")
    target = socket.create_connection((host, int(port)))
    target.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return target


def _exact_sleeps() -> None:
    """Linux lets a sleep overrun by 50 µs by default (timer slack); ask for
    1 ns. Elsewhere the proxy just sleeps less exactly."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
    except (AttributeError, OSError):
        pass


_PR_SET_TIMERSLACK = 29


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], float(sys.argv[3]))
