"""Read replicas: which node a read goes to, which nodes are down, and the
health report. I/O-free; the executors (``database.py``, ``database_async.py``)
connect, probe and fall back.

A read that fails because its replica is unreachable marks the replica down
and runs again elsewhere (another replica, else the primary): reads are safe
to repeat. A down replica gets no queries; once ``retry`` seconds have passed,
the next read starts a background probe, and the replica is used again when
the probe's ``SELECT 1`` answers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import psycopg
from psycopg_pool import PoolTimeout

from pgbuild.errors import PgbuildError

P = TypeVar("P")

Pick = Callable[[Sequence[str]], str]
"""Chooses one of the healthy replicas' URLs (default: at random)."""


@dataclass(eq=False)
class Node(Generic[P]):
    """A replica: its URL as given, its pool, and since when it is down."""

    url: str
    pool: P
    down_since: float | None = None
    probing: bool = False


class Replicas(Generic[P]):
    """The replica nodes of a database and the choice among them."""

    def __init__(
        self, nodes: list[Node[P]], pick: Pick | None, retry: float, timeout: float
    ) -> None:
        if retry <= 0 or timeout <= 0:
            raise PgbuildError("replica_retry and replica_timeout must be positive")
        self.nodes = nodes
        self.retry = retry
        self.timeout = timeout
        self._pick = pick
        self._by_url = {n.url: n for n in nodes}

    def choose(self) -> Node[P] | None:
        """A healthy replica for the next read, or ``None`` (use the primary)."""
        healthy = [n for n in self.nodes if n.down_since is None]
        if not healthy:
            return None
        if self._pick is None:
            return healthy[0] if len(healthy) == 1 else random.choice(healthy)
        chosen = self._pick([n.url for n in healthy])
        node = self._by_url.get(chosen)
        if node is None or node.down_since is not None:
            raise PgbuildError(f"pick= returned {chosen!r}, which is not a healthy replica URL")
        return node

    def due(self) -> list[Node[P]]:
        """Down replicas whose retry time has come: the caller probes each
        (they are marked as being probed, so only one probe runs per node)."""
        now = time.monotonic()
        ready = [
            n
            for n in self.nodes
            if n.down_since is not None and not n.probing and now - n.down_since >= self.retry
        ]
        for node in ready:
            node.probing = True
        return ready

    def down(self, node: Node[P]) -> None:
        node.down_since = time.monotonic()
        node.probing = False

    def up(self, node: Node[P]) -> None:
        node.down_since = None
        node.probing = False


def unreachable(exc: BaseException) -> bool:
    """Whether a failed read means its node is unreachable (worth retrying
    elsewhere), rather than a problem with the statement itself."""
    cause = exc.__cause__ if isinstance(exc, PgbuildError) else exc
    if isinstance(cause, PoolTimeout):
        return True
    if not isinstance(cause, psycopg.OperationalError):
        return False
    state = cause.sqlstate
    # No SQLSTATE: the connection broke. 08: connection exceptions. 57P01-03:
    # the server is shutting down, crashed, or not accepting connections yet.
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


@dataclass(frozen=True)
class Health:
    """``db.check_health()``: whether each node answers ``SELECT 1``.

    True (``bool(health)``) when the primary answers.
    """

    primary: bool
    replicas: dict[str, bool] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.primary
