"""``python -m pgbuild.studio [--url URL] [--port N] [--write] [--open] [--timeout S]``

The database is ``--url``, else ``DATABASE_DIRECT_URL``, else
``DATABASE_URL``, else the project's embedded development server
(``.pgbuild/data``, started if needed). The studio listens on 127.0.0.1
only and prints its URL, token included; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from collections.abc import Sequence

from pgbuild.errors import PgbuildError

__all__ = ["main", "resolve_url"]


def resolve_url(url: str | None) -> tuple[str, str]:
    """The database URL and where it came from: ``--url``,
    ``DATABASE_DIRECT_URL``, ``DATABASE_URL``, else the embedded server."""
    from pgbuild.migrate.config import given_url

    found, source = given_url(url)
    if found:
        return found, source
    from pgbuild.embedded import embedded_url

    return embedded_url(), "the embedded development server"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pgbuild.studio",
        description="Browse and edit a PostgreSQL database in a local web page "
        "(127.0.0.1 only, token required, read-only unless --write).",
    )
    parser.add_argument("--url", help="database URL (default: DATABASE_DIRECT_URL, "
                        "DATABASE_URL, or the embedded development server)")
    parser.add_argument("--port", type=int, default=0,
                        help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--write", action="store_true",
                        help="allow editing rows and writing SQL (default: read-only)")
    parser.add_argument("--open", action="store_true", help="open the page in a browser")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="statement_timeout of every query (default: 30)")
    parser.add_argument("--project", metavar="DIR",
                        help="where the migrations pane looks for pyproject.toml "
                        "(default: the current directory)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.timeout <= 0:
        print("error: --timeout must be above 0", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print("error: --port must be from 0 to 65535", file=sys.stderr)
        return 2
    from pgbuild.studio.server import start_studio

    try:
        url, source = resolve_url(args.url)
        studio = start_studio(url, port=args.port, write=args.write, timeout=args.timeout,
                              project=args.project, quiet=not args.verbose)
    except (PgbuildError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    mode = "read-write" if args.write else "read-only"
    print(f"pgbuild studio: {studio.url}", flush=True)
    print(f"  database from {source}; {mode}; statement_timeout {args.timeout:g} s; "
          "Ctrl-C stops it", file=sys.stderr, flush=True)
    if args.open:
        webbrowser.open(studio.url)
    try:
        studio.wait()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        studio.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
