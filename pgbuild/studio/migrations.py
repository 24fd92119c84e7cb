"""The migrations pane: what ``python -m pgbuild.migrate status`` and
``check`` say, plus the drift between the declared schema and the live
database, through :mod:`pgbuild.migrate`'s Python API.

The project is the nearest ``pyproject.toml`` with a ``[tool.pgbuild]``
section, from the studio's project directory (default: the current one)
upwards; without one the pane says so (``configured: false``). Nothing here
writes: the tracking table is read, never created.

>>> pane(db, None)["pending"]
['0003_add_orders']
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgbuild.database import Database
from pgbuild.errors import PgbuildError

if TYPE_CHECKING:
    from pgbuild.migrate.config import Config

__all__ = ["pane"]

# Importing the schema module swaps sys.modules and sys.path entries for
# the duration: one request at a time.
_lock = threading.Lock()


def pane(db: Database, project: Path | None) -> dict[str, Any]:
    """``GET /api/migrations``."""
    from pgbuild.migrate import check, load_config, status

    out: dict[str, Any] = {
        "configured": False, "applied": [], "pending": [], "mismatched": [], "missing": [],
        "drift": None, "problems": [], "error": None, "hint": None, "project": None,
    }
    try:
        config = load_config(project)
    except PgbuildError as exc:
        out["hint"] = str(exc)
        return out
    out["configured"] = True
    out["project"] = str(config.pyproject)
    with _lock:
        try:
            state = status(db, config=config)
        except PgbuildError as exc:
            out["error"] = str(exc)
            return out
        out["applied"] = sorted(
            [{"name": m.name, "applied_at": a.applied_at.isoformat()} for m, a in state.applied]
            + [{"name": a.name, "applied_at": a.applied_at.isoformat()} for a in state.missing],
            key=lambda item: item["name"],
        )
        out["pending"] = [m.name for m in state.pending]
        out["mismatched"] = [m.name for m in state.changed]
        out["missing"] = [a.name for a in state.missing]
        problems = state.problems(config)
        try:
            problems += check(config=config)
            out["drift"] = _drift(db, config)
        except PgbuildError as exc:
            out["error"] = str(exc)
        out["problems"] = problems
    return out


def _drift(db: Database, config: Config) -> list[str]:
    """What it would take to turn the live database into the declared
    schema, one line per operation; empty when they match."""
    from pgbuild.migrate.runner import connect, live_schema, schema_differences
    from pgbuild.migrate.snapshot import declared_schema

    declared = declared_schema(config)
    managed = config.schemas if config.schemas is not None else sorted(declared.schemas)
    with connect(db, config) as conn:
        live = live_schema(conn, config, managed,
                           needed=declared.extensions | declared.drop_extensions)
    return schema_differences(live, declared)
