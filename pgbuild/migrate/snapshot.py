"""The migrations folder: numbered SQL files, their reverses and snapshots.

::

    migrations/
      0001_init.sql          the migration (header comment, one statement per block)
      0001_init.down.sql     its generated reverse, for ``down``
      0001_init.json         the declared schema after it (``Schema.to_json()``)

The newest snapshot is what ``generate`` diffs the declared schema against,
so ``generate``, ``check`` and ``export`` need no database. This module
reads and writes those files, splits SQL text into statements, and holds
those three commands; it does no database I/O.

>>> generate(name="add_handle", renames={"users.nickname": "handle"})
[PosixPath('.../0002_add_handle.sql'), ...]
>>> check()          # [] when every declared change is covered by a migration
[]
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pgbuild.errors import PgbuildError
from pgbuild.migrate.config import Config, import_schema, resolve_config

if TYPE_CHECKING:
    import os

    from pgbuild.migrate.diff import Op
    from pgbuild.migrate.hints import Hints
    from pgbuild.migrate.model import Schema

__all__ = [
    "NO_TRANSACTION",
    "Folder",
    "Migration",
    "check",
    "checksum",
    "commit_groups",
    "declared_schema",
    "export",
    "generate",
    "scan",
    "script",
    "split_sql",
    "split_sql_lines",
]

NO_TRANSACTION = "-- pgbuild: no-transaction"
_FILE = re.compile(
    r"^(?P<number>\d{4,})_(?P<label>[A-Za-z0-9_-]+)(?P<ext>\.down\.sql|\.sql|\.json)$"
)


def checksum(text: str) -> str:
    """sha256 of a migration's text; line endings are normalised first, so a
    checkout that turns ``\\n`` into ``\\r\\n`` does not count as an edit."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode()).hexdigest()


@dataclass(frozen=True)
class Migration:
    """One numbered migration: ``NNNN_label.sql`` and its companions."""

    number: int
    name: str  # the file stem, "0001_init": the key in the tracking table
    sql: Path
    down: Path | None = None
    snapshot: Path | None = None

    def text(self) -> str:
        return self.sql.read_text(encoding="utf-8")

    def checksum(self) -> str:
        return checksum(self.text())

    def statements(self) -> list[str]:
        return split_sql(self.text())

    def transactional(self) -> bool:
        """False when the header says ``-- pgbuild: no-transaction``."""
        return not no_transaction(self.text())


def no_transaction(text: str) -> bool:
    """Whether the leading comment block holds ``-- pgbuild: no-transaction``."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            return False
        if re.fullmatch(r"--\s*pgbuild:\s*no-transaction\s*", stripped, re.IGNORECASE):
            return True
    return False


@dataclass
class Folder:
    """What :func:`scan` found: the migrations in order, and what is wrong
    with the folder (each problem a sentence naming the file)."""

    path: Path
    migrations: list[Migration] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def by_name(self) -> dict[str, Migration]:
        return {m.name: m for m in self.migrations}

    def last_snapshot(self) -> Path | None:
        """The newest migration's snapshot (None for an empty folder)."""
        for m in reversed(self.migrations):
            if m.snapshot is not None:
                return m.snapshot
        return None

    def next_number(self) -> int:
        return max((m.number for m in self.migrations), default=0) + 1


def scan(path: Path) -> Folder:
    """List the migrations in ``path`` (a missing folder is empty) and check
    that every ``.sql`` has its snapshot, every snapshot its ``.sql``, that
    numbers are unique, and that no ``.sql`` file is misnamed."""
    folder = Folder(path)
    if not path.is_dir():
        if path.exists():
            folder.problems.append(f"{path} is not a directory")
        return folder
    groups: dict[str, dict[str, Path]] = {}
    for entry in sorted(path.iterdir()):
        if not entry.is_file():
            continue
        match = _FILE.match(entry.name)
        if match is None:
            if entry.suffix in (".sql", ".json"):
                folder.problems.append(
                    f"{entry}: not a migration file name; migrations are NNNN_name.sql "
                    "(with NNNN_name.down.sql and NNNN_name.json)"
                )
            continue
        stem = entry.name[: match.start("ext")]
        groups.setdefault(stem, {})[match["ext"]] = entry
    numbers: dict[int, list[str]] = {}
    for stem, files in sorted(groups.items(), key=lambda kv: (int(kv[0].split("_")[0]), kv[0])):
        number = int(stem.split("_")[0])
        if ".sql" not in files:
            present = files.get(".json") or files[".down.sql"]
            folder.problems.append(f"{present} has no migration {stem}.sql beside it")
            continue
        if ".json" not in files:
            folder.problems.append(
                f"{files['.sql']} has no snapshot {stem}.json beside it "
                "(write migrations with `generate`, or `generate --custom` for hand-written SQL)"
            )
        numbers.setdefault(number, []).append(stem)
        folder.migrations.append(
            Migration(number, stem, files[".sql"], files.get(".down.sql"), files.get(".json"))
        )
    for number, stems in numbers.items():
        if len(stems) > 1:
            folder.problems.append(
                f"{len(stems)} migrations are numbered {number:04d} in {path}: "
                f"{', '.join(stems)} (two branches were merged?); keep one, then "
                "`generate` the other's changes again"
            )
    return folder


def migration_file_name(number: int, label: str) -> str:
    return f"{number:04d}_{label}"


def clean_label(name: str) -> str:
    """A migration name made safe for a file name: ``"Add handle!"`` → ``add_handle``."""
    label = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
    if not label:
        raise PgbuildError(f"migration name {name!r} has no letters or digits")
    return label[:60]


# ------------------------------------------------------------------ splitting SQL

_DOLLAR = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")


def split_sql(text: str) -> list[str]:
    """Split SQL text into statements at top-level semicolons.

    Semicolons inside single-quoted strings (``E'...'`` too), quoted
    identifiers, dollar-quoted bodies (``$$ ... $$``, ``$fn$ ... $fn$``) and
    comments (``--``, nested ``/* */``) do not split. Comments before a
    statement are dropped, and so are chunks holding only comments; each
    statement is returned stripped, without its semicolon.

    >>> split_sql("SELECT ';'; -- a; comment\\nSELECT $$;$$;")
    ["SELECT ';'", 'SELECT $$;$$']
    """
    return [statement for _, statement in split_sql_lines(text)]


def split_sql_lines(text: str) -> list[tuple[int, str]]:
    """:func:`split_sql` with the line (1-based) where each statement starts."""
    out: list[tuple[int, str]] = []
    start = 0
    for end in [*_boundaries(text), len(text)]:
        raw = text[start:end]
        code = _code_start(raw)
        if code >= 0:
            out.append((text.count("\n", 0, start + code) + 1, raw[code:].strip()))
        start = end + 1
    return out


def _boundaries(text: str) -> Iterator[int]:
    """Offsets of the top-level semicolons in ``text``."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == ";":
            yield i
            i += 1
        elif c == "-" and text.startswith("--", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline + 1
        elif c == "/" and text.startswith("/*", i):
            i = _skip_block_comment(text, i)
        elif c == "'":
            escapes = i > 0 and text[i - 1] in "eE" and not _word_char(text, i - 2)
            i = _skip_quoted(text, i, "'", backslash=escapes)
        elif c == '"':
            i = _skip_quoted(text, i, '"', backslash=False)
        elif (c == "b" or c == "B") and not _word_char(text, i - 1):
            match = _BEGIN_ATOMIC.match(text, i)
            i = _skip_atomic_body(text, match.end()) if match else i + 1
        elif c == "$" and not _word_char(text, i - 1):
            match = _DOLLAR.match(text, i)
            if match is None:
                i += 1
                continue
            close = text.find(match.group(0), match.end())
            i = n if close < 0 else close + len(match.group(0))
        else:
            i += 1


_BEGIN_ATOMIC = re.compile(r"begin\s+atomic\b", re.IGNORECASE)
_BLOCK_WORD = re.compile(r"\b(begin|case|end)\b", re.IGNORECASE)


def _skip_atomic_body(text: str, i: int) -> int:
    """Skip a SQL-standard function body (``BEGIN ATOMIC ... END``), whose
    statements end in semicolons of their own; ``CASE ... END`` nests."""
    depth, n = 1, len(text)
    while i < n and depth:
        c = text[i]
        if c == "'" or c == '"':
            i = _skip_quoted(text, i, c, backslash=False)
        elif text.startswith("--", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline + 1
        elif text.startswith("/*", i):
            i = _skip_block_comment(text, i)
        elif c.isalpha() and not _word_char(text, i - 1):
            match = _BLOCK_WORD.match(text, i)
            if match:
                depth += -1 if match[1].lower() == "end" else 1
                i = match.end()
            else:
                i += 1
        else:
            i += 1
    return i


def _word_char(text: str, i: int) -> bool:
    return i >= 0 and (text[i].isalnum() or text[i] in "_$")


def _skip_quoted(text: str, i: int, quote: str, *, backslash: bool) -> int:
    i += 1
    n = len(text)
    while i < n:
        c = text[i]
        if backslash and c == "\\":
            i += 2
        elif c == quote:
            if text.startswith(quote * 2, i):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return n


def _skip_block_comment(text: str, i: int) -> int:
    depth, i, n = 1, i + 2, len(text)
    while i < n and depth:
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _code_start(chunk: str) -> int:
    """Offset of the first character in ``chunk`` that is not a comment or
    whitespace, or -1 when there is none."""
    i, n = 0, len(chunk)
    while i < n:
        if chunk[i].isspace():
            i += 1
        elif chunk.startswith("--", i):
            newline = chunk.find("\n", i)
            i = n if newline < 0 else newline + 1
        elif chunk.startswith("/*", i):
            i = _skip_block_comment(chunk, i)
        else:
            return i
    return -1


# ------------------------------------------------------------------ generate, check, export


def declared_schema(config: Config) -> Schema:
    """The model of the Table classes in the config's schema module, limited
    to the config's schemas and tables filters."""
    from pgbuild.migrate.declared import find_extensions, find_tables, from_tables

    module = import_schema(config)
    model = from_tables(find_tables(module), find_extensions(module))
    if config.schemas is not None or config.tables is not None:
        model = model.filter(config.schemas, config.tables)
    return model


def read_snapshot(path: Path | None) -> Schema:
    """The model saved in a snapshot file; the empty model for None."""
    from pgbuild.migrate.model import Schema

    if path is None:
        return Schema(frozenset({"public"}))  # what a new database holds
    try:
        return Schema.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PgbuildError(f"cannot read snapshot {path}: {type(exc).__name__}: {exc}") from exc


def diff_asking(
    a: Schema,
    b: Schema,
    *,
    renames: Mapping[str, str] | None = None,
    interactive: bool | None = None,
    ask: Callable[[str], str] | None = None,
    hints: Hints | str | os.PathLike[str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> list[Op]:
    """``diff(a, b)``; when the differ cannot tell a rename from a drop and an
    add, take the answer from ``renames``, then from the ``hints`` file,
    else ask on a terminal (``interactive``, default: stdin is a terminal),
    otherwise fail with the ``--rename`` flags that would answer."""
    from pgbuild.migrate.diff import AmbiguousRename, RenameError, diff
    from pgbuild.migrate.hints import Hints, load_hints

    if hints is not None and not isinstance(hints, Hints):
        hints = load_hints(hints)
    given = dict(renames or {})
    answers = hints.answers(a, given, echo) if hints is not None else given
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    prompt = ask or input
    while True:
        try:
            return diff(a, b, renames=answers)
        except RenameError as exc:
            if hints is not None and exc.key is not None and exc.key not in given \
                    and exc.key in hints.renames:
                raise PgbuildError(f"{hints.entry(exc.key)}: {exc}") from exc
            raise
        except AmbiguousRename as exc:
            if not interactive:
                unanswered = "" if hints is None else (
                    f"\n{hints.path} does not answer these; add them under [renames], e.g. "
                    + ", ".join(f'"{k}" = "{n}"' for k, n in exc.candidates[:2])
                )
                raise PgbuildError(str(exc) + unanswered) from exc
            before = dict(answers)
            for key, new in exc.candidates:
                if key in answers:
                    continue  # already renamed to another candidate
                reply = prompt(rename_question(a, key, new) + " [y/N] ")
                if reply.strip().lower() in ("y", "yes"):
                    answers[key] = new
            for key, _ in exc.candidates:
                answers.setdefault(key, "")
            if answers == before:  # asked again what was answered: do not loop forever
                raise PgbuildError(str(exc)) from exc


def rename_question(a: Schema, key: str, new: str) -> str:
    """The question for one rename candidate of the differ (``key`` as in
    ``renames``): ``is column users.handle renamed from users.nickname?``."""
    if key.startswith("schema:"):
        return f"is schema {new} renamed from {key[7:]}?"
    if key.startswith("enum:"):
        parts = key[5:].split(":", 1)
        if len(parts) == 2:
            return f"is value '{new}' of enum {parts[0]} renamed from '{parts[1]}'?"
        return f"is enum {new} renamed from {parts[0]}?"
    if key in a.tables:
        return f"is table {new} renamed from {key}?"
    table, _, column = key.rpartition(".")
    return f"is column {table}.{new} renamed from {table}.{column}?"


def generate(
    *,
    config: Config | str | os.PathLike[str] | None = None,
    name: str | None = None,
    custom: bool = False,
    renames: Mapping[str, str] | None = None,
    hints: str | os.PathLike[str] | None = None,
    interactive: bool | None = None,
    ask: Callable[[str], str] | None = None,
    echo: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> list[Path]:
    """Diff the declared schema against the newest snapshot and write the
    next migration (``NNNN_name.sql``, ``.down.sql``, ``.json``). Returns the
    files written; none when there is nothing to do. ``custom`` writes an
    empty migration for hand-written SQL (the snapshot is copied).

    ``renames`` answers rename questions up front (``{"users.nickname":
    "handle"}``, ``{"users.nickname": ""}`` for "not a rename"), and so does
    a ``hints`` file (:mod:`pgbuild.migrate.hints`; ``renames`` win); others
    are asked through ``ask`` (default ``input``) when ``interactive``
    (default: stdin is a terminal), and are an error otherwise."""
    cfg = resolve_config(config)
    say = echo or _stdout
    from pgbuild.migrate.hints import load_hints

    # Read (and reject) the hints file before anything else.
    loaded = load_hints(hints) if hints is not None else None
    folder = scan(cfg.migrations)
    broken = [p for p in folder.problems if "numbered" in p or "no migration" in p]
    if broken:
        raise PgbuildError("fix the migrations folder first:\n  " + "\n  ".join(broken))
    last_path = folder.last_snapshot()
    last = read_snapshot(last_path)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    number = folder.next_number()
    if custom:
        label = clean_label(name or "custom")
        stem = migration_file_name(number, label)
        header = _header(stem, stamp, "written by hand (generate --custom)")
        up_text = header + "\n-- Write this migration's SQL here, one statement per ';'.\n"
        down_text = (
            _header(stem + ".down", stamp, "the reverse of " + stem + ".sql, written by hand")
            + "\n-- Write the SQL that undoes " + stem + ".sql here.\n"
        )
        return _write(cfg, stem, up_text, down_text, last.to_json(), say)

    declared = declared_schema(cfg)
    if not declared.tables and last.tables:
        raise PgbuildError(
            f"refusing to generate a migration that drops every table: the schema module "
            f"{cfg.schema!r} declares none (is [tool.pgbuild] schema in {cfg.pyproject} "
            "right, and does the module define or import its Table classes?)"
        )
    ops = diff_asking(last, declared, renames=renames, interactive=interactive, ask=ask,
                      hints=loaded, echo=say)
    if not ops:
        since = last_path.name if last_path else "the empty schema"
        say(f"nothing to generate: the declared schema matches {since}")
        return []
    label = clean_label(name) if name else _auto_label(ops)
    groups = commit_groups(ops)
    if len(groups) > 1:
        say(f"the changes are split into {len(groups)} migrations: new enum values must be "
            "committed before anything can use them")
    written: list[Path] = []
    for i, group in enumerate(groups):
        part = label if len(groups) == 1 else f"{label}_{i + 1}"
        stem = migration_file_name(number + i, part)
        up_text = _header(stem, stamp, "generated by pgbuild") + "\n" + script(group)
        reverse = [op.reverse() for op in reversed(group)]
        how = f"generated by pgbuild: reverses {stem}.sql"
        if len(commit_groups(reverse)) > 1:
            how += "\n" + NO_TRANSACTION
        down_text = _header(stem + ".down", stamp, how) + "\n" + script(reverse)
        for op in group:
            if op.loses_data:
                say(f"warning: {stem}.sql loses data: {op.describe()}")
        # Every part gets the final snapshot: only the newest one is ever read.
        written += _write(cfg, stem, up_text, down_text, declared.to_json(), say)
    return written


def commit_groups(ops: list[Op]) -> list[list[Op]]:
    """``ops`` cut after every run of operations that must be committed
    before later ones can use what they made (``ALTER TYPE ... ADD VALUE``)."""
    groups: list[list[Op]] = [[]]
    for op in ops:
        if groups[-1] and groups[-1][-1].needs_commit and not op.needs_commit:
            groups.append([])
        groups[-1].append(op)
    return groups


def _header(stem: str, stamp: str, how: str) -> str:
    return f"-- {stem}\n-- {how}, {stamp}\n"


def sql_comment(text: str) -> str:
    """A one-line ``--`` comment: names may hold line breaks (or anything
    else), which must not end the comment and run as SQL."""
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "-- " + "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in escaped)


def script(ops: list[Op]) -> str:
    """The operations as SQL text, as a migration file holds them: each
    under a comment saying what it does (and whether it loses data)."""
    blocks = []
    for op in ops:
        lines = [sql_comment(op.describe() + (" (loses data)" if op.loses_data else ""))]
        lines += [s.rstrip().rstrip(";") + ";" for s in op.statements()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _auto_label(ops: list[Op]) -> str:
    words = ops[0].describe() if len(ops) == 1 else "migration"
    try:
        return clean_label(words)[:40].rstrip("_") or "migration"
    except PgbuildError:
        return "migration"


def _write(
    cfg: Config, stem: str, up_text: str, down_text: str, snapshot: str,
    say: Callable[[str], None],
) -> list[Path]:
    cfg.migrations.mkdir(parents=True, exist_ok=True)
    files = [
        (cfg.migrations / f"{stem}.sql", up_text),
        (cfg.migrations / f"{stem}.down.sql", down_text),
        (cfg.migrations / f"{stem}.json", snapshot if snapshot.endswith("\n") else snapshot + "\n"),
    ]
    for path, _ in files:
        if path.exists():
            raise PgbuildError(f"{path} already exists")
    for path, text in files:
        path.write_text(text, encoding="utf-8")
        say(f"wrote {_shown(path)}")
    return [p for p, _ in files]


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def check(*, config: Config | str | os.PathLike[str] | None = None) -> list[str]:
    """What is wrong between the declared schema and the migrations folder,
    one sentence per problem (empty: all is well). Needs no database:

    - the folder is inconsistent (a ``.sql`` without its snapshot, a snapshot
      without its ``.sql``, two migrations with one number, a misnamed file);
    - the declared schema differs from the newest snapshot (run ``generate``).
    """
    cfg = resolve_config(config)
    folder = scan(cfg.migrations)
    problems = list(folder.problems)
    last_path = folder.last_snapshot()
    last = read_snapshot(last_path)
    declared = declared_schema(cfg)
    if declared != last:
        from pgbuild.migrate.diff import AmbiguousRename, diff

        against = last_path.name if last_path else "an empty migrations folder"
        try:
            changes = [op.describe() for op in diff(last, declared)]
        except AmbiguousRename as exc:
            changes = [str(exc)]
        if not changes:
            return problems
        listed = "".join(f"\n    {c}" for c in changes)
        problems.append(
            f"the schema module {cfg.schema!r} has changes that no migration covers "
            f"(compared with {against}); run `python -m pgbuild.migrate generate`:{listed}"
        )
    return problems


def export(*, config: Config | str | os.PathLike[str] | None = None) -> list[str]:
    """The DDL statements that create the declared schema from nothing."""
    from pgbuild.migrate.diff import diff
    from pgbuild.migrate.model import Schema

    cfg = resolve_config(config)
    empty = Schema(frozenset({"public"}))
    return [s.rstrip().rstrip(";") for op in diff(empty, declared_schema(cfg))
            for s in op.statements()]


def _stdout(message: str) -> None:
    print(message, flush=True)
