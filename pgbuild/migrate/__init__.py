"""Migrations: a schema model, built from declared tables or from a live
database, a differ that turns one model into another as DDL operations, and
the ``python -m pgbuild.migrate`` commands on top of them.
"""

# ``pull`` stays in its module (``from pgbuild.migrate.pull import pull``):
# exporting it here would hide the submodule of the same name.
from pgbuild.migrate.config import Config, load_config
from pgbuild.migrate.declared import drop_extension
from pgbuild.migrate.runner import Status, baseline, down, push, status, up
from pgbuild.migrate.snapshot import check, export, generate

__all__ = [
    "Config",
    "Status",
    "baseline",
    "check",
    "down",
    "drop_extension",
    "export",
    "generate",
    "load_config",
    "push",
    "status",
    "up",
]
