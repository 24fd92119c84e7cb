"""Where migrations find the project: ``[tool.pgbuild]``, the database URL and
the schema module.

::

    # pyproject.toml
    [tool.pgbuild]
    schema = "schema"                 # module or package holding the Table classes
    migrations = "migrations"         # folder of generated migrations
    schemas = ["public"]              # optional: only these PostgreSQL schemas ...
    tables = ["app_*"]                # ... and tables (fnmatch patterns) are managed
    migrations_table = "pgbuild_migrations"   # optional, may be "schema.name"

>>> cfg = load_config()               # nearest pyproject.toml from the cwd upwards
>>> url = database_url(cfg)           # --url, DATABASE_DIRECT_URL, DATABASE_URL, embedded
>>> module = import_schema(cfg)
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import tomllib
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pgbuild.errors import PgbuildError

__all__ = [
    "Config",
    "database_url",
    "describe_url",
    "import_schema",
    "is_transaction_pooler",
    "load_config",
    "resolve_config",
]

DEFAULT_MIGRATIONS_TABLE = "pgbuild_migrations"
_KEYS = {"schema", "migrations", "schemas", "tables", "migrations_table"}
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# The smallest [tool.pgbuild] section, shown when there is none.
_EXAMPLE = (
    '[tool.pgbuild]\nschema = "schema"          # module holding your Table classes\n'
    'migrations = "migrations"  # folder for generated migrations'
)


@dataclass(frozen=True)
class Config:
    """The ``[tool.pgbuild]`` settings of one project, with absolute paths.

    ``root`` is the directory of ``pyproject``; ``migrations`` is resolved
    against it. ``schemas``/``tables`` are None when not configured (manage
    everything). ``migrations_table`` is ``(schema or None, name)``.
    """

    root: Path
    pyproject: Path
    schema: str
    migrations: Path
    schemas: tuple[str, ...] | None = None
    tables: tuple[str, ...] | None = None
    migrations_table: tuple[str | None, str] = (None, DEFAULT_MIGRATIONS_TABLE)

    @classmethod
    def for_directory(
        cls, root: str | os.PathLike[str], *, schema: str = "schema",
        migrations: str = "migrations", **options: Any,
    ) -> Config:
        """A Config for ``root`` without reading any file (tests, scripts)."""
        path = Path(root).resolve()
        return cls(path, path / "pyproject.toml", schema, path / migrations, **options)

    @property
    def migrations_table_name(self) -> str:
        """The tracking table as written in the config: ``name`` or ``schema.name``."""
        schema, name = self.migrations_table
        return f"{schema}.{name}" if schema else name


def resolve_config(config: Config | str | os.PathLike[str] | None) -> Config:
    """``config`` itself, or the Config read from the ``pyproject.toml`` at or
    above that path (default: the current directory)."""
    return config if isinstance(config, Config) else load_config(config)


def load_config(start: str | os.PathLike[str] | None = None) -> Config:
    """Read ``[tool.pgbuild]`` from the nearest ``pyproject.toml`` that has it,
    from ``start`` (default: the current directory) upwards."""
    origin = (Path.cwd() if start is None else Path(start)).expanduser().resolve()
    if origin.is_file():
        origin = origin.parent
    nearest: Path | None = None
    for directory in (origin, *origin.parents):
        candidate = directory / "pyproject.toml"
        if not candidate.is_file():
            continue
        nearest = nearest or candidate
        data = _read_toml(candidate)
        section = data.get("tool", {}).get("pgbuild")
        if section is not None:
            return _parse(candidate, section)
    if nearest is None:
        raise PgbuildError(
            f"no pyproject.toml found in {origin} or its parents; create one with\n" + _EXAMPLE
        )
    raise PgbuildError(
        f"{nearest} has no [tool.pgbuild] section (nor has any pyproject.toml above it); add\n"
        + _EXAMPLE
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PgbuildError(f"cannot read {path}: {exc}") from exc


def _parse(path: Path, section: Any) -> Config:
    where = f"{path} [tool.pgbuild]"
    if not isinstance(section, dict):
        raise PgbuildError(f"{where} must be a table")
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise PgbuildError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                           f"known keys: {', '.join(sorted(_KEYS))}")

    def string(key: str, default: str) -> str:
        value = section.get(key, default)
        if not isinstance(value, str) or not value:
            raise PgbuildError(f"{where}: {key} must be a non-empty string, not {value!r}")
        return value

    def strings(key: str) -> tuple[str, ...] | None:
        value = section.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v for v in value
        ):
            raise PgbuildError(f"{where}: {key} must be a list of non-empty strings, not {value!r}")
        return tuple(value)

    schema = string("schema", "schema")
    if not _MODULE_NAME.match(schema):
        raise PgbuildError(f"{where}: schema = {schema!r} is not a module name "
                           "(write it as for import, e.g. \"app.schema\")")
    table = string("migrations_table", DEFAULT_MIGRATIONS_TABLE)
    parts = table.split(".")
    if len(parts) > 2 or not all(parts):
        raise PgbuildError(f"{where}: migrations_table = {table!r}; write name or schema.name")
    tracking = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
    root = path.parent
    return Config(
        root=root,
        pyproject=path,
        schema=schema,
        migrations=(root / string("migrations", "migrations")).resolve(),
        schemas=strings("schemas"),
        tables=strings("tables"),
        migrations_table=tracking,
    )


# ------------------------------------------------------------------ database URL

# Supavisor and Supabase's PgBouncer take transaction mode on port 6543 (5432
# is session mode, which keeps the lock); Neon's pooled hosts end in -pooler;
# 6432 is PgBouncer's own default port. A pooler cannot be told from a server
# over the protocol (it replays the server's parameters), hence the ports.
_POOLER_PORTS = frozenset({"6432", "6543"})
_NEON_POOLER = re.compile(r"-pooler\.")


def given_url(url: str | None) -> tuple[str | None, str]:
    """The URL tools that manage the schema use, and where it came from:
    ``url`` (``--url``), else ``DATABASE_DIRECT_URL`` (a pooler's direct
    port), else ``DATABASE_URL``; ``None`` when none is set."""
    if url:
        return url, "--url"
    for var in ("DATABASE_DIRECT_URL", "DATABASE_URL"):
        if os.environ.get(var):
            return os.environ[var], var
    return None, "--url"


def database_url(
    config: Config,
    url: str | None = None,
    *,
    allow_pooler: bool = False,
    echo: Callable[[str], None] | None = None,
) -> str:
    """The URL migrations use: ``url``, else ``DATABASE_DIRECT_URL``, else
    ``DATABASE_URL``, else the embedded development server of the project
    (``<root>/.pgbuild/data``), announced through ``echo`` (default: stderr).

    A known transaction-mode pooler is refused unless ``allow_pooler``: the
    advisory lock that serialises migrations needs a session of its own.
    """
    url, source = given_url(url)
    if not url:
        from pgbuild.embedded import embedded_url

        data = config.root / ".pgbuild" / "data"
        shown = os.path.relpath(data, Path.cwd()) if data.is_relative_to(Path.cwd()) else data
        (echo or _stderr)(f"using the embedded development server in {shown}")
        return embedded_url(data)
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise PgbuildError(f"malformed database URL in {source}: {exc}") from None
    if not allow_pooler:
        refuse_pooler(url, source)
    return url


def is_transaction_pooler(url: str) -> bool:
    """Whether ``url`` looks like a transaction-mode pooler: port 6543
    (Supabase, Supavisor), port 6432 (PgBouncer's default), or a Neon
    ``-pooler.`` host."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return False
    hosts = str(params.get("host") or "").split(",")
    ports = str(params.get("port") or "").split(",")
    for i, host in enumerate(hosts):
        port = ports[i] if i < len(ports) else ports[-1]
        if _NEON_POOLER.search(host) or port in _POOLER_PORTS:
            return True
    return False


def refuse_pooler(url: str, source: str = "the URL") -> None:
    """Raise :class:`PgbuildError`, saying why, when ``url`` is a known
    transaction-mode pooler."""
    if is_transaction_pooler(url):
        raise PgbuildError(
            f"{describe_url(url)} (from {source}) is a transaction-mode connection pooler: "
            "migrations hold a session-level advisory lock, which such a pooler cannot keep "
            "(it hands each transaction to any server connection, so two runs could apply "
            "the same migration). Set DATABASE_DIRECT_URL to the direct (session) "
            "connection, or pass --allow-pooler (allow_pooler=True) to run anyway"
        )


def describe_url(url: str) -> str:
    """``host:port/dbname`` (user included, password never) for messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the database (malformed URL)"
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    dbname = params.get("dbname") or params.get("user") or os.environ.get("PGDATABASE") or ""
    user = params.get("user")
    return f"{f'{user}@' if user else ''}{host}:{port}/{dbname}"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


# ------------------------------------------------------------------ schema module


def import_schema(config: Config) -> ModuleType:
    """Import ``config.schema`` afresh, with the project root (and its
    ``src/``) first on ``sys.path``; a module of that name from outside the
    project is an error.

    The module is imported anew on every call (it may have changed since the
    last one) and whatever ``sys.modules`` held under its name before is put
    back afterwards, so an application that already imported it keeps its
    own classes.
    """
    name = config.schema
    with _fresh_modules(name.split(".")[0]), _on_path(config.root):
        importlib.invalidate_caches()
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
                raise PgbuildError(
                    f"schema module {name!r} (set in {config.pyproject}) was not found "
                    f"in {config.root}"
                ) from exc
            raise _import_failed(config, exc) from exc
        except Exception as exc:
            raise _import_failed(config, exc) from exc
    where = _location(module)
    if where is not None and not where.is_relative_to(config.root):
        # Another module of that name (an installed package, another checkout):
        # migrating against it would be wrong in the worst way.
        raise PgbuildError(
            f"schema module {name!r} (set in {config.pyproject}) was not found in "
            f"{config.root}; the module of that name at {where} is not part of this project"
        )
    return module


def _location(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    if file:
        return Path(file).resolve()
    paths = list(getattr(module, "__path__", []))
    return Path(paths[0]).resolve() if paths else None


def _import_failed(config: Config, exc: BaseException) -> PgbuildError:
    where = ""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if Path(f.filename).resolve().is_relative_to(config.root)
    ]
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" ({exc.filename}:{exc.lineno})"
    elif frames:
        where = f" ({frames[-1].filename}:{frames[-1].lineno})"
    return PgbuildError(
        f"cannot import schema module {config.schema!r} (set in {config.pyproject}){where}: "
        f"{type(exc).__name__}: {exc}"
    )


@contextmanager
def _on_path(root: Path) -> Iterator[None]:
    # The root, and its src/ for the "src layout".
    entries = [str(root)] + ([str(root / "src")] if (root / "src").is_dir() else [])
    sys.path[:0] = entries
    # Bytecode written now could be mistaken for a later edit of the same size
    # within the same second; schema modules are small, so skip caching.
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = dont_write
        for entry in entries:
            try:
                sys.path.remove(entry)
            except ValueError:
                pass


@contextmanager
def _fresh_modules(top: str) -> Iterator[None]:
    def ours(key: str) -> bool:
        return key == top or key.startswith(top + ".")

    saved = {k: m for k, m in sys.modules.items() if ours(k)}
    for key in saved:
        del sys.modules[key]
    try:
        yield
    finally:
        for key in [k for k in sys.modules if ours(k)]:
            del sys.modules[key]
        sys.modules.update(saved)
