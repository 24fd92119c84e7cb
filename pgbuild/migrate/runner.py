"""Running migrations against a database: ``up``, ``down``, ``status``,
``baseline``, ``push`` and ``pull``.

Every command that writes holds a session-level advisory lock on one
connection for its whole run, so concurrent runs (several app instances
starting at once) apply each migration exactly once: the second run waits,
then finds nothing pending. Each migration runs in its own transaction
together with its row in the tracking table, so a failing migration leaves
nothing behind and is not recorded.

>>> from pgbuild.migrate import up
>>> up("postgresql://localhost/app")          # or a Database, or None for the config's URL
['0001_init', '0002_add_handle']
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql as pg

from pgbuild.errors import DatabaseError, PgbuildError, server_message
from pgbuild.migrate.config import (
    Config,
    database_url,
    describe_url,
    refuse_pooler,
    resolve_config,
)
from pgbuild.migrate.snapshot import (
    NO_TRANSACTION,
    Folder,
    Migration,
    checksum,
    no_transaction,
    scan,
    split_sql_lines,
)

if TYPE_CHECKING:
    from pgbuild.database import Database
    from pgbuild.database_async import AsyncDatabase
    from pgbuild.migrate.diff import Op
    from pgbuild.migrate.hints import Hints
    from pgbuild.migrate.model import Schema

    Target = Database | AsyncDatabase | str | None

__all__ = ["Status", "baseline", "connect", "down", "live_schema", "push", "status", "up"]

Echo = Callable[[str], None]


def _stdout(message: str) -> None:
    print(message, flush=True)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ connection


@contextmanager
def connect(
    target: Database | AsyncDatabase | str | None,
    config: Config,
    *,
    allow_pooler: bool = False,
) -> Iterator[psycopg.Connection[Any]]:
    """One autocommit session connection: borrowed from a ``Database``'s
    pool, or opened on ``target`` (a URL, or an ``AsyncDatabase``'s URL) or
    the config's URL. A known transaction-mode pooler is refused unless
    ``allow_pooler``, whichever way it was given."""
    from pgbuild.database import Database
    from pgbuild.database_async import AsyncDatabase

    if isinstance(target, Database):
        conninfo = target.pool.conninfo
        if not allow_pooler and isinstance(conninfo, str):
            refuse_pooler(conninfo, "the Database given")
        with target.pool.connection() as conn:
            yield conn
        return
    if isinstance(target, AsyncDatabase):
        async_conninfo = target.pool.conninfo
        if not isinstance(async_conninfo, str):
            raise PgbuildError("migrations need the AsyncDatabase's URL; pass it instead")
        if not allow_pooler:
            refuse_pooler(async_conninfo, "the AsyncDatabase given")
        target = async_conninfo
    url = database_url(config, target, allow_pooler=allow_pooler, echo=_stderr)
    try:
        conn = psycopg.connect(url, autocommit=True, prepare_threshold=None, connect_timeout=10)
    except psycopg.Error as exc:
        message = str(exc).strip()
        password = psycopg.conninfo.conninfo_to_dict(url).get("password")
        if password:
            message = message.replace(str(password), "***")
        raise PgbuildError(f"cannot connect to {describe_url(url)}: {message}") from exc
    with conn:
        yield conn


def _lock_key(config: Config) -> int:
    digest = hashlib.sha256(f"pgbuild.migrate:{config.migrations_table_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def advisory_lock(
    conn: psycopg.Connection[Any], config: Config, echo: Echo | None = None
) -> Iterator[None]:
    """Hold the migrations' session advisory lock; wait (and say so) while
    another run holds it."""
    key = _lock_key(config)
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    if not (got and got[0]):
        (echo or _stderr)("waiting for another migration run to finish (advisory lock)...")
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        yield
    finally:
        if not conn.closed:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


# ------------------------------------------------------------------ tracking table


def _table(config: Config) -> pg.Identifier:
    schema, name = config.migrations_table
    return pg.Identifier(schema, name) if schema else pg.Identifier(name)


def ensure_tracking_table(conn: psycopg.Connection[Any], config: Config) -> None:
    schema, _ = config.migrations_table
    if schema:
        conn.execute(pg.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pg.Identifier(schema)))
    conn.execute(
        pg.SQL(
            "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, checksum text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(_table(config))
    )


@dataclass(frozen=True)
class Applied:
    """A row of the tracking table."""

    name: str
    checksum: str
    applied_at: datetime


def read_applied(conn: psycopg.Connection[Any], config: Config) -> dict[str, Applied]:
    """The tracking table's rows by name; empty when the table does not exist."""
    qualified = _table(config).as_string(conn)
    found = conn.execute("SELECT to_regclass(%s)", (qualified,)).fetchone()
    if found is None or found[0] is None:
        return {}
    rows = conn.execute(
        pg.SQL("SELECT name, checksum, applied_at FROM {} ORDER BY name").format(_table(config))
    ).fetchall()
    return {r[0]: Applied(r[0], r[1], r[2]) for r in rows}


# ------------------------------------------------------------------ status


@dataclass
class Status:
    """Migrations compared with the tracking table.

    ``applied``: (migration, row) in order; ``pending``: not applied yet;
    ``changed``: applied, but the file's checksum differs; ``missing``:
    applied names with no file; ``out_of_order``: pending migrations older
    than the newest applied one; ``duplicates``: numbers used twice.
    """

    applied: list[tuple[Migration, Applied]] = field(default_factory=list)
    pending: list[Migration] = field(default_factory=list)
    changed: list[Migration] = field(default_factory=list)
    missing: list[Applied] = field(default_factory=list)
    out_of_order: list[Migration] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    def problems(self, config: Config) -> list[str]:
        """Why ``up`` refuses to run, one sentence per problem."""
        out = list(self.duplicates)
        for m in self.changed:
            out.append(
                f"{m.sql} was changed after it was applied (checksum mismatch); restore it "
                "and put the change in a new migration"
            )
        for a in self.missing:
            out.append(
                f"migration {a.name} is recorded as applied in "
                f"{config.migrations_table_name} but {config.migrations}/{a.name}.sql is missing"
            )
        newest = max((a.name for _, a in self.applied), key=order, default="")
        for m in self.out_of_order:
            out.append(
                f"{m.sql} is not applied but is older than {newest}, which is "
                "(merged out of order?); renumber it after the newest migration, or "
                "regenerate it"
            )
        return out

    def lines(self) -> list[str]:
        """A human-readable report, one line per migration."""
        changed = {m.name for m in self.changed}
        late = {m.name for m in self.out_of_order}
        out = []
        for m, a in self.applied:
            flag = "  CHANGED since applied" if m.name in changed else ""
            out.append(f"applied  {m.name}  ({a.applied_at:%Y-%m-%d %H:%M:%S %Z}){flag}")
        for a in self.missing:
            out.append(f"missing  {a.name}  (applied, but its file is gone)")
        for m in self.pending:
            flag = "  OUT OF ORDER" if m.name in late else ""
            out.append(f"pending  {m.name}{flag}")
        out.extend(f"problem  {d}" for d in self.duplicates)
        if not out:
            out.append("no migrations")
        return out


def order(name: str) -> tuple[int, str]:
    """Sort key of a migration name: its number, then the name."""
    head = name.split("_", 1)[0]
    return (int(head) if head.isdigit() else -1, name)


def compute_status(folder: Folder, applied: Mapping[str, Applied]) -> Status:
    """Compare the migrations folder with the tracking table's rows."""
    result = Status()
    numbers: dict[int, list[str]] = {}
    for m in folder.migrations:
        numbers.setdefault(m.number, []).append(m.name)
    result.duplicates = [
        f"{len(names)} migrations are numbered {n:04d}: {', '.join(names)}; keep one and "
        "`generate` the other's changes again"
        for n, names in numbers.items()
        if len(names) > 1
    ]
    files = folder.by_name()
    newest = max(applied, key=order, default="")
    for m in folder.migrations:
        row = applied.get(m.name)
        if row is None:
            result.pending.append(m)
            if newest and order(m.name) < order(newest):
                result.out_of_order.append(m)
        else:
            result.applied.append((m, row))
            if row.checksum != m.checksum():
                result.changed.append(m)
    result.missing = [a for name, a in sorted(applied.items()) if name not in files]
    return result


def status(
    db: Target = None,
    *,
    config: Config | str | os.PathLike[str] | None = None,
    allow_pooler: bool = False,
) -> Status:
    """Applied, pending, changed and out-of-order migrations. Reads only."""
    cfg = resolve_config(config)
    with connect(db, cfg, allow_pooler=allow_pooler) as conn:
        return compute_status(scan(cfg.migrations), read_applied(conn, cfg))


# ------------------------------------------------------------------ up


def up(
    db: Target = None,
    *,
    config: Config | str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    allow_pooler: bool = False,
    echo: Echo | None = None,
) -> list[str]:
    """Apply the pending migrations in order, each in its own transaction
    (unless its header says ``-- pgbuild: no-transaction``), and return their
    names. With ``dry_run`` print their SQL through ``echo`` and change nothing.

    Refuses (:class:`PgbuildError`, nothing applied) when an applied
    migration's file changed, an applied one's file is missing, or a pending
    one is older than the newest applied one. A failing statement raises
    :class:`DatabaseError` naming the file, the statement and the server's
    message; that migration is rolled back and not recorded.
    """
    cfg = resolve_config(config)
    say = echo or _stdout
    folder = scan(cfg.migrations)
    with connect(db, cfg, allow_pooler=allow_pooler) as conn:
        if dry_run:
            state = compute_status(folder, read_applied(conn, cfg))
            _refuse(state, cfg)
            for m in state.pending:
                text = m.text()
                say(f"-- {m.sql.name}" + (" (no transaction)" if no_transaction(text) else ""))
                say(text.rstrip() + "\n")
            if not state.pending:
                say("nothing to apply")
            return [m.name for m in state.pending]
        with advisory_lock(conn, cfg):
            ensure_tracking_table(conn, cfg)
            state = compute_status(folder, read_applied(conn, cfg))
            _refuse(state, cfg)
            for m in state.pending:
                _apply(conn, cfg, m, say)
            if not state.pending:
                say("nothing to apply: the database is up to date")
            return [m.name for m in state.pending]


def _refuse(state: Status, config: Config) -> None:
    problems = state.problems(config)
    if problems:
        raise PgbuildError("refusing to migrate:\n  " + "\n  ".join(problems))


def _apply(conn: psycopg.Connection[Any], config: Config, m: Migration, say: Echo) -> None:
    text = m.text()
    statements = split_sql_lines(text)
    if not statements:
        say(f"warning: {m.sql} has no statements; recording it as applied")
    record = pg.SQL("INSERT INTO {} (name, checksum) VALUES (%s, %s)").format(_table(config))
    transactional = not no_transaction(text)
    if transactional:
        _refuse_transaction_control(m, statements)
    _run_file(conn, m, statements, transactional, record, (m.name, checksum(text)))
    say(f"applied {m.name}")


def _run_file(
    conn: psycopg.Connection[Any],
    m: Migration,
    statements: list[tuple[int, str]],
    transactional: bool,
    bookkeeping: pg.Composed,
    params: tuple[str, ...],
) -> None:
    """Run a migration file's ``statements``, then ``bookkeeping`` (recording
    or forgetting it): all in one transaction, or, for a no-transaction
    file, one after the other."""
    if transactional:
        with conn.transaction():
            for i, (line, statement) in enumerate(statements):
                _execute(conn, m, statement, line, i)
            conn.execute(bookkeeping, params)
    else:
        for i, (line, statement) in enumerate(statements):
            _execute(conn, m, statement, line, i, **_fate(i))
        conn.execute(bookkeeping, params)


def _refuse_transaction_control(m: Migration, statements: list[tuple[int, str]]) -> None:
    for line, statement in statements:
        words = _strip_comments(statement).lower().split()
        if words[:1] in (["begin"], ["commit"], ["rollback"], ["end"], ["abort"]) or words[
            :2
        ] == ["start", "transaction"]:
            raise PgbuildError(
                f"{m.sql}:{line}: {' '.join(words[:2]).upper()}: pgbuild runs each migration "
                "in a transaction of its own; remove the transaction statements, or put "
                f"'{NO_TRANSACTION}' in the header to run it statement by statement"
            )


def _strip_comments(statement: str) -> str:
    lines = [ln for ln in statement.splitlines() if not ln.lstrip().startswith("--")]
    return "\n".join(lines)


_NO_TRANSACTION_FATE = (
    "it runs outside a transaction (no-transaction), so the statements before this one "
    "remain applied; it is not recorded"
)


def _execute(
    conn: psycopg.Connection[Any],
    m: Migration | None,
    statement: str,
    line: int,
    index: int,
    *,
    fate: str = "nothing of it was applied",
) -> None:
    """Run one statement; a failure names the file and line (or the push
    statement's number), the statement and the server's message."""
    try:
        # No parameters: the text goes to the server as written (no %-placeholders).
        conn.execute(statement.encode())
    except psycopg.Error as exc:
        where = f"migration {m.sql}" if m is not None else "push"
        location = f"{m.sql}:{line}" if m is not None else f"statement {index + 1}"
        diag = exc.diag
        server = server_message(exc)
        sqlstate = f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else ""
        detail = f"\n  detail: {diag.message_detail}" if diag.message_detail else ""
        hint = f"\n  hint: {diag.message_hint}" if diag.message_hint else ""
        raise DatabaseError(
            f"{where} failed; {fate}\n  at {location}: {statement}\n"
            f"  server: {server}{sqlstate}{detail}{hint}",
            statement=statement,
        ) from exc


def _fate(index: int) -> dict[str, str]:
    return {"fate": _NO_TRANSACTION_FATE} if index > 0 else {}


# ------------------------------------------------------------------ down, baseline


def _number(to: int | str | None) -> int | None:
    if to is None or isinstance(to, int):
        return to
    head = to.split("_")[0]
    if not head.isdigit():
        raise PgbuildError(f"--to {to!r}: give a migration number, e.g. --to 3 or --to 0003")
    return int(head)


def down(
    db: Target = None,
    *,
    config: Config | str | os.PathLike[str] | None = None,
    to: int | str | None = None,
    dry_run: bool = False,
    allow_pooler: bool = False,
    echo: Echo | None = None,
) -> list[str]:
    """Revert the newest applied migration (or, with ``to=N``, every applied
    migration numbered above N) by running its ``.down.sql`` and deleting
    its tracking row, newest first. Returns the reverted names."""
    cfg = resolve_config(config)
    say = echo or _stdout
    target = _number(to)
    folder = scan(cfg.migrations)
    files = folder.by_name()
    with connect(db, cfg, allow_pooler=allow_pooler) as conn, advisory_lock(conn, cfg):
        applied = read_applied(conn, cfg)
        names = sorted(applied, key=order, reverse=True)
        chosen = (
            names[:1] if target is None else [n for n in names if order(n)[0] > target]
        )
        if not chosen:
            say("nothing to revert")
            return []
        plan: list[tuple[Migration, str]] = []
        for name in chosen:
            m = files.get(name)
            if m is None:
                raise PgbuildError(f"cannot revert {name}: {cfg.migrations}/{name}.sql is missing")
            if applied[name].checksum != m.checksum():
                raise PgbuildError(
                    f"cannot revert {name}: {m.sql} changed after it was applied, so its "
                    ".down.sql may not match what the database holds"
                )
            if m.down is None:
                raise PgbuildError(f"cannot revert {name}: {cfg.migrations}/{name}.down.sql "
                                   "is missing")
            text = m.down.read_text(encoding="utf-8")
            if not split_sql_lines(text) and m.statements():
                raise PgbuildError(
                    f"cannot revert {name}: {m.down} is empty; write the SQL that undoes "
                    f"{m.sql.name} first"
                )
            plan.append((m, text))
        forget = pg.SQL("DELETE FROM {} WHERE name = %s").format(_table(cfg))
        for m, text in plan:
            assert m.down is not None
            reverse = Migration(m.number, m.name, m.down)
            statements = split_sql_lines(text)
            if dry_run:
                say(f"-- {m.down.name}")
                say(text.rstrip() + "\n")
                continue
            _run_file(conn, reverse, statements, not no_transaction(text), forget, (m.name,))
            say(f"reverted {m.name}")
        return [m.name for m, _ in plan]


def baseline(
    db: Target = None,
    *,
    config: Config | str | os.PathLike[str] | None = None,
    to: int | str | None = None,
    force: bool = False,
    allow_pooler: bool = False,
    echo: Echo | None = None,
) -> list[str]:
    """Record migrations (all, or those numbered up to ``to``) as applied,
    with their checksums, without running them: to adopt a database that
    already has the schema (Alembic's ``stamp``). Returns their names.

    The live database must match the snapshot of the newest migration
    recorded (what the schema is once it has run), within the config's
    ``schemas`` and ``tables``: otherwise :class:`PgbuildError` lists the
    differences and nothing is recorded, so nobody baselines the wrong
    database. ``force`` records them anyway."""
    from pgbuild.migrate.snapshot import read_snapshot

    cfg = resolve_config(config)
    say = echo or _stdout
    target = _number(to)
    folder = scan(cfg.migrations)
    with connect(db, cfg, allow_pooler=allow_pooler) as conn, advisory_lock(conn, cfg):
        applied = read_applied(conn, cfg)
        chosen = [
            m for m in folder.migrations
            if m.name not in applied and (target is None or m.number <= target)
        ]
        if not chosen:
            say("nothing to record")
            return []
        last = chosen[-1]
        if force:
            say(f"--force: not comparing the database with {last.name}'s snapshot")
        elif last.snapshot is None:
            raise PgbuildError(
                f"refusing to baseline: {last.sql} has no snapshot {last.name}.json to compare "
                "the database with; restore it, or pass --force to record the migrations anyway"
            )
        else:
            expected = read_snapshot(last.snapshot)
            if cfg.schemas is not None or cfg.tables is not None:
                expected = expected.filter(cfg.schemas, cfg.tables)
            managed = cfg.schemas if cfg.schemas is not None else sorted(expected.schemas)
            live = live_schema(conn, cfg, managed, needed=expected.extensions
                               | expected.drop_extensions)
            differences = schema_differences(live, expected)
            if differences:
                raise PgbuildError(
                    f"refusing to baseline: the database does not match {last.snapshot.name}, "
                    f"the schema once {last.name} has run. To match, it would need:\n  "
                    + "\n  ".join(differences)
                    + "\nIs this the right database? Bring it in line first (push, or by hand), "
                    "baseline --to an older migration it does match, or pass --force to record "
                    "them anyway"
                )
        ensure_tracking_table(conn, cfg)
        record = pg.SQL("INSERT INTO {} (name, checksum) VALUES (%s, %s)").format(_table(cfg))
        with conn.transaction():
            for m in chosen:
                conn.execute(record, (m.name, m.checksum()))
                say(f"recorded {m.name} as applied (not run)")
        return [m.name for m in chosen]


def schema_differences(live: Schema, expected: Schema) -> list[str]:
    """What it would take to turn ``live`` into ``expected``, one line per
    operation (``create table users``); empty when they match. Possible
    renames count as drops and adds."""
    from pgbuild.migrate.diff import AmbiguousRename, diff

    answers: dict[str, str] = {}
    while True:
        try:
            return [op.describe() for op in diff(live, expected, renames=answers)]
        except AmbiguousRename as exc:
            answers.update((key, "") for key, _ in exc.candidates)


# ------------------------------------------------------------------ push, pull


def live_schema(
    conn: psycopg.Connection[Any],
    config: Config,
    managed: Sequence[str] | None = None,
    *,
    needed: Iterable[str] = (),
) -> Schema:
    """The live database's model: the ``managed`` schemas (default: the
    config's ``schemas``, else every schema), tables matching the config's
    ``tables`` patterns, never the migrations' tracking table.

    Extensions are listed where they are installed in those schemas, and
    also, for the names in ``needed`` (the declared ones), wherever they
    are installed: an extension that lives in a schema of its own
    (``extensions`` on Supabase) is there all the same."""
    from pgbuild.migrate.introspect import introspect

    schemas = list(managed) if managed is not None else config.schemas
    # The tracking table goes first, so that its schema counts as empty only
    # when nothing at all (managed or not) is in it.
    model = without_tracking_table(introspect(conn, schemas), config)
    model = model.filter(schemas, config.tables)
    wanted = sorted(set(needed) - model.extensions)
    if wanted:
        found = conn.execute(
            "SELECT extname FROM pg_extension WHERE extname = ANY(%s)", (wanted,)
        ).fetchall()
        model = replace(model, extensions=model.extensions | {r[0] for r in found})
    return model


def without_tracking_table(model: Schema, config: Config) -> Schema:
    """``model`` without the tracking table (nor its schema, when that holds
    nothing else)."""
    from pgbuild.migrate.model import qualified_key

    schema, name = config.migrations_table
    key = qualified_key(schema or "public", name)
    tables = {k: v for k, v in model.tables.items() if k != key}
    schemas = set(model.schemas)
    if schema and schema != "public" and not any(
        t.schema == schema for t in tables.values()
    ) and not any(e.schema == schema for e in model.enums.values()):
        schemas.discard(schema)
    return replace(model, schemas=frozenset(schemas), tables=tables)


def push(
    db: Target = None,
    *,
    config: Config | str | os.PathLike[str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    renames: Mapping[str, str] | None = None,
    hints: Hints | str | os.PathLike[str] | None = None,
    interactive: bool | None = None,
    allow_pooler: bool = False,
    echo: Echo | None = None,
) -> list[Op]:
    """Make the live database match the declared schema directly (for
    development): introspect it, diff against the declared tables, and apply
    the operations in one transaction. Operations that lose data (dropping a
    table or column, narrowing a type...) are refused unless ``force``.
    Rename questions are answered by ``renames`` and the ``hints`` file, as
    for ``generate``. Returns the operations.

    ``dry_run`` prints, through ``echo``, exactly the SQL push would run, in
    order (each operation under a comment saying what it does, as in a
    migration file), and changes nothing; changes that lose data are
    printed too, marked as needing ``force``."""
    from pgbuild.migrate.hints import load_hints
    from pgbuild.migrate.snapshot import commit_groups, declared_schema, diff_asking, script

    cfg = resolve_config(config)
    say = echo or _stdout
    loaded = load_hints(hints) if isinstance(hints, str | os.PathLike) else hints
    declared = declared_schema(cfg)
    # Without a schemas setting, push manages the schemas the module declares:
    # it never drops a schema (auth, extensions...) that it was not told about.
    managed = cfg.schemas if cfg.schemas is not None else sorted(declared.schemas)
    with connect(db, cfg, allow_pooler=allow_pooler) as conn, advisory_lock(conn, cfg):
        applied = read_applied(conn, cfg)
        if applied:
            _stderr(
                f"note: this database has {len(applied)} migration(s) applied; push changes "
                "it without a migration, so `up` and `status` will not know about it"
            )
        live = live_schema(conn, cfg, managed,
                           needed=declared.extensions | declared.drop_extensions)
        ops = diff_asking(live, declared, renames=renames, interactive=interactive,
                          hints=loaded, echo=_stderr)
        if not ops:
            say("nothing to push: the database matches the schema")
            return []
        losing = [op for op in ops if op.loses_data]
        groups = commit_groups(ops)
        count = f"{len(ops)} change{'s' if len(ops) != 1 else ''}"
        if dry_run:
            say(f"-- push --dry-run: {count}, nothing was changed; this is the SQL push runs"
                + ("" if len(groups) == 1 else f", in {len(groups)} transactions"))
            for i, group in enumerate(groups):
                if i:
                    say("-- commit: the new enum values above are committed before use\n")
                say(script(group))
            if losing and not force:
                say(f"-- {len(losing)} of these lose data: push needs --force to apply them")
            return ops
        for op in ops:
            say(("  ! " if op.loses_data else "  ") + op.describe())
        if losing and not force:
            raise PgbuildError(
                "refusing to push: these changes lose data:\n  "
                + "\n  ".join(op.describe() for op in losing)
                + "\nrun again with --force to apply them anyway"
            )
        # One transaction, unless new enum values must be committed before use.
        done = 0
        for group in groups:
            fate = "nothing was applied" if done == 0 else (
                "the new enum values committed before it remain; the rest was not applied"
            )
            with conn.transaction():
                for op in group:
                    for statement in op.statements():
                        _execute(conn, None, statement, 0, done, fate=fate)
                        done += 1
        say(f"pushed {count}")
        return ops
