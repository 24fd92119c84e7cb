"""Interleaved timing.

A case has contenders (pgbuild, raw psycopg, the peers) that do the same
work. Each contender first warms up (past psycopg's ``prepare_threshold``,
so every contender runs on server-side prepared statements from then on)
and its first result is checked against the baseline's, so a contender that
does less work cannot win. Then, for each round, every contender runs one
batch of ``n`` operations, the order rotating from round to round, so drift
(caches, autovacuum, CPU frequency, a noisy neighbour) hits all contenders
alike. A contender's time is the median over rounds of its batch time / n.

Everything a case needs between batches (emptying the bulk-insert table,
removing inserted users) runs outside the timed region, and so does a
``gc.collect()`` before each batch: no contender pays for another's garbage.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Op = Callable[[int], Any]
AsyncOp = Callable[[int], Awaitable[Any]]


@dataclass
class Contender:
    """One way of doing a case's operation. ``once(i)`` runs operation ``i``
    and returns its result; ``batch(start, n)`` runs operations
    ``start .. start+n-1`` and returns the seconds they took."""

    name: str
    once: Callable[[int], Any]
    batch: Callable[[int, int], float]
    canon: Callable[[Any], Any] | None = None  # overrides the case's canon


def sync_contender(name: str, op: Op, canon: Callable[[Any], Any] | None = None) -> Contender:
    def batch(start: int, n: int) -> float:
        begin = time.perf_counter()
        for i in range(start, start + n):
            op(i)
        return time.perf_counter() - begin

    return Contender(name, op, batch, canon)


def async_contender(
    name: str,
    op: AsyncOp,
    loop: asyncio.AbstractEventLoop,
    canon: Callable[[Any], Any] | None = None,
) -> Contender:
    """The batch is one coroutine, timed inside the event loop: the loop's
    start-up is not part of it, each operation's awaits are."""

    async def batch(start: int, n: int) -> float:
        begin = time.perf_counter()
        for i in range(start, start + n):
            await op(i)
        return time.perf_counter() - begin

    return Contender(
        name,
        lambda i: loop.run_until_complete(op(i)),  # type: ignore[arg-type]
        lambda start, n: loop.run_until_complete(batch(start, n)),
        canon,
    )


@dataclass
class Case:
    """Contenders doing the same operation; ratios are to ``baseline``."""

    id: str
    group: str  # "compile", "sync" or "async"
    title: str
    baseline: str
    contenders: list[Contender]
    notes: dict[str, str] = field(default_factory=dict)  # contender -> what it runs
    canon: Callable[[Any], Any] | None = None  # result -> comparable; None: unchecked
    reset: Callable[[], None] | None = None  # untimed, after every batch and warm-up op
    teardown: Callable[[], None] | None = None  # untimed, once after the case
    max_ops: int | None = None  # cap on operations per batch
    warmup: int | None = None  # warm-up operations per contender (default: settings')


@dataclass(frozen=True)
class Settings:
    rounds: int
    warmup: int
    target: float  # seconds a batch should take, roughly
    max_ops: int = 5000


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)  # seconds per operation, per round
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples and not self.error else None


@dataclass
class CaseResult:
    case: Case
    ops_per_batch: int
    timings: dict[str, Timing]
    seconds: float  # wall time of the whole case, warm-up included

    def ratio(self, name: str) -> float | None:
        mine = self.timings[name].median
        base = self.timings.get(self.case.baseline)
        theirs = base.median if base else None
        return mine / theirs if mine is not None and theirs else None

    def paired_ratio(self, name: str) -> float | None:
        """The median of the per-round ratios: each round's batch against the
        baseline's batch of the same round, run moments apart. Close to
        :meth:`ratio` unless the machine's speed drifted during the case."""
        mine = self.timings[name]
        base = self.timings.get(self.case.baseline)
        if base is None or mine.error or base.error or not mine.samples:
            return None
        if len(mine.samples) != len(base.samples):
            return None
        return statistics.median(a / b for a, b in zip(mine.samples, base.samples, strict=True))

    def to_json(self) -> dict[str, Any]:
        contenders: dict[str, Any] = {}
        for c in self.case.contenders:
            t = self.timings[c.name]
            entry: dict[str, Any] = {
                "median_s": t.median,
                "ratio": self.ratio(c.name),
                "ratio_paired": self.paired_ratio(c.name),
                "note": self.case.notes.get(c.name),
            }
            if t.samples and not t.error:
                entry["min_s"] = min(t.samples)
                entry["max_s"] = max(t.samples)
                if len(t.samples) >= 4:
                    q1, _, q3 = statistics.quantiles(t.samples, n=4)
                    entry["iqr_s"] = [q1, q3]
                entry["samples_s"] = t.samples
            if t.error:
                entry["error"] = t.error
            contenders[c.name] = entry
        return {
            "id": self.case.id,
            "group": self.case.group,
            "title": self.case.title,
            "baseline": self.case.baseline,
            "ops_per_batch": self.ops_per_batch,
            "rounds": max((len(t.samples) for t in self.timings.values()), default=0),
            "wall_s": round(self.seconds, 3),
            "contenders": contenders,
        }


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def run_case(case: Case, settings: Settings) -> CaseResult:
    """Warm up and check every contender, size the batches, then time the rounds."""
    try:
        return _run_case(case, settings)
    finally:
        if case.teardown is not None:
            case.teardown()


def _run_case(case: Case, settings: Settings) -> CaseResult:
    started = time.perf_counter()
    timings = {c.name: Timing() for c in case.contenders}
    nxt = dict.fromkeys(timings, 0)  # next operation index, per contender
    reset = case.reset or (lambda: None)
    warmup = max(1, case.warmup if case.warmup is not None else settings.warmup)
    # The baseline goes first: the others' results are checked against its.
    ordered = sorted(case.contenders, key=lambda c: c.name != case.baseline)
    expected: Any = None
    live: list[Contender] = []
    for c in ordered:
        try:
            canon = c.canon or case.canon
            first = c.once(0)
            got = canon(first) if canon is not None else None  # may look at the tables
            reset()
            for i in range(1, warmup):
                c.once(i)
                reset()
            nxt[c.name] = warmup
            if canon is not None:
                if c.name == case.baseline:
                    expected = got
                elif expected is not None and got != expected:
                    raise AssertionError(
                        f"result differs from {case.baseline}'s: {_short(got)} != "
                        f"{_short(expected)}"
                    )
        except Exception as exc:
            timings[c.name].error = _describe(exc)
            _quiet(reset)
            continue
        live.append(c)

    n = _batch_size(case, settings, live, nxt, timings)
    for r in range(settings.rounds):
        k = r % len(live) if live else 0
        for c in live[k:] + live[:k]:
            if timings[c.name].error:
                continue
            gc.collect()
            try:
                seconds = c.batch(nxt[c.name], n)
            except Exception as exc:
                timings[c.name].error = _describe(exc)
                _quiet(reset)
                continue
            nxt[c.name] += n
            timings[c.name].samples.append(seconds / n)
            reset()
    return CaseResult(case, n, timings, time.perf_counter() - started)


def _batch_size(
    case: Case,
    settings: Settings,
    live: list[Contender],
    nxt: dict[str, int],
    timings: dict[str, Timing],
) -> int:
    """Operations per batch: enough for a batch to last about
    ``settings.target`` seconds, estimated from a short probe of the slowest
    of the baseline and pgbuild."""
    cap = min(settings.max_ops, case.max_ops or settings.max_ops)
    if cap <= 1 or not live:
        return 1
    probes = [c for c in live if c.name in (case.baseline, "pgbuild")] or live[:1]
    per_op = 0.0
    for c in probes:
        k = 3
        try:
            per_op = max(per_op, c.batch(nxt[c.name], k) / k)
        except Exception as exc:
            timings[c.name].error = _describe(exc)
        nxt[c.name] += k
        _quiet(case.reset)
    if per_op <= 0:
        return 1
    return max(1, min(cap, round(settings.target / per_op)))


def _quiet(reset: Callable[[], None] | None) -> None:
    if reset is None:
        return
    try:
        reset()
    except Exception:
        pass
