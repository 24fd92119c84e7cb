"""``python -m pgbuild.migrate <command>``: a thin argparse layer over the
functions of :mod:`pgbuild.migrate`.

Exit status 0 on success, 1 on failure with the message on stderr (no
traceback for a :class:`~pgbuild.errors.PgbuildError`), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pgbuild.errors import PgbuildError

__all__ = ["main"]

_DESCRIPTION = """\
Migrations for pgbuild schemas. Configured by [tool.pgbuild] in the nearest
pyproject.toml (schema = "module", migrations = "folder"). The database is
--url, else DATABASE_DIRECT_URL, else DATABASE_URL, else the embedded
development server in .pgbuild/data.
"""


def _connection_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before or after the command; SUPPRESS keeps a command's
    # missing option from hiding the value given before the command.
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--url", default=default,
        help="database URL (default: DATABASE_DIRECT_URL, DATABASE_URL, or the embedded server)",
    )
    parser.add_argument(
        "--allow-pooler", action="store_true", default=False if top else argparse.SUPPRESS,
        help="allow a transaction-mode pooler URL (the advisory lock may not hold)",
    )
    parser.add_argument(
        "--project", default=None if top else argparse.SUPPRESS, metavar="DIR",
        help="look for pyproject.toml from DIR upwards (default: the current directory)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pgbuild.migrate",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _connection_options(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, top=False)
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)

    def command(name: str, help: str, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help, description=help, parents=[common], aliases=list(aliases)
        )

    renames_help = (
        "answer a rename question: table.old_column=new_column or old_table=new_table; "
        "table.old=  (nothing after =) means 'not a rename' (repeatable)"
    )
    hints_help = (
        "a TOML file answering rename questions for the whole run: under [renames], "
        '"users.nickname" = "handle", "old_table" = "new_table", "users.legacy" = "" '
        "(drop and add); --rename wins over it"
    )
    p = command(
        "generate",
        "diff the declared schema against the last snapshot and write the next migration "
        "(NNNN_name.sql, .down.sql and .json snapshot); needs no database",
    )
    p.add_argument("--name", help="the migration's name (default: a summary of the changes)")
    p.add_argument("--custom", action="store_true",
                   help="write an empty migration for hand-written SQL")
    p.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help=renames_help)
    p.add_argument("--hints", metavar="FILE", help=hints_help)

    p = command(
        "up",
        "apply pending migrations in order, each in its own transaction, under an advisory lock",
        aliases=["migrate"],
    )
    p.add_argument("--dry-run", action="store_true", help="print the SQL, change nothing")

    p = command(
        "push",
        "make the database match the declared schema directly, without migration files "
        "(development)",
    )
    p.add_argument("--force", action="store_true", help="apply changes that lose data")
    p.add_argument("--dry-run", action="store_true", help="print the SQL, change nothing")
    p.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help=renames_help)
    p.add_argument("--hints", metavar="FILE", help=hints_help)

    command("status", "list applied, pending and changed migrations")
    command(
        "check",
        "exit 1 if the declared schema has changes no migration covers, or the migrations "
        "folder is inconsistent; needs no database (for CI)",
    )
    command("pull", "introspect the database and print pgbuild Table definitions")
    command("export", "print the DDL that creates the declared schema; needs no database")

    p = command("down", "revert the newest applied migration with its .down.sql")
    p.add_argument("--to", metavar="N",
                   help="revert every applied migration numbered above N (--to 0: all)")
    p.add_argument("--dry-run", action="store_true", help="print the SQL, change nothing")

    p = command(
        "baseline",
        "record migrations as applied without running them (to adopt an existing database); "
        "refuses unless the database matches the schema they lead to",
    )
    p.add_argument("--to", metavar="N", help="only migrations numbered up to N (default: all)")
    p.add_argument("--force", action="store_true",
                   help="record them even though the database does not match their snapshot")
    return parser


def _renames(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        old, sep, new = value.partition("=")
        if not sep or not old.strip():
            raise PgbuildError(
                f"--rename {value!r}: write table.old_column=new_column or old_table=new_table"
            )
        out[old.strip()] = new.strip()
    return out


def run(args: argparse.Namespace) -> int:
    """Run one parsed command; returns the exit status."""
    from pgbuild.migrate import runner, snapshot
    from pgbuild.migrate.config import load_config
    from pgbuild.migrate.pull import pull

    config = load_config(args.project)
    url = args.url
    pooler = args.allow_pooler
    command = "up" if args.command == "migrate" else args.command
    if command == "generate":
        snapshot.generate(
            config=config, name=args.name, custom=args.custom, renames=_renames(args.rename),
            hints=args.hints,
        )
    elif command == "up":
        runner.up(url, config=config, dry_run=args.dry_run, allow_pooler=pooler)
    elif command == "push":
        runner.push(
            url, config=config, force=args.force, dry_run=args.dry_run,
            renames=_renames(args.rename), hints=args.hints, allow_pooler=pooler,
        )
    elif command == "status":
        state = runner.status(url, config=config, allow_pooler=pooler)
        for line in state.lines():
            print(line)
        problems = state.problems(config)
        if problems:
            print("\n".join(["", *problems]), file=sys.stderr)
            return 1
    elif command == "check":
        problems = snapshot.check(config=config)
        if problems:
            print("check failed:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        print("ok: the migrations cover the declared schema")
    elif command == "pull":
        sys.stdout.write(pull(url, config=config, allow_pooler=pooler))
    elif command == "export":
        for statement in snapshot.export(config=config):
            print(statement + ";\n")
    elif command == "down":
        runner.down(url, config=config, to=args.to, dry_run=args.dry_run, allow_pooler=pooler)
    elif command == "baseline":
        runner.baseline(url, config=config, to=args.to, force=args.force, allow_pooler=pooler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except PgbuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
