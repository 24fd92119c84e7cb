"""migra's schema-diff fixtures (``../shared/conformance/migra/``).

For each case: ``a.sql`` goes into one fresh database and ``b.sql`` into
another; the migration ``diff(introspect(a), introspect(b))`` runs on the
first, after which both must introspect the same, and the reversed
operations must bring the first back to ``a``. Cases built on objects
pgbuild does not model are skipped, each with its reason (``SKIPPED``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pgbuild.migrate.diff import diff
from pgbuild.migrate.introspect import introspect
from tests.migrate.test_model import apply, scratch_connection

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "migra"

if not FIXTURES.is_dir():
    pytest.skip(f"migra fixtures not found at {FIXTURES}", allow_module_level=True)

SKIPPED = {
    "collations": "collations (CREATE COLLATION, COLLATE on columns) are not modelled",
    "dependencies": "views and functions are not modelled",
    "dependencies2": "views are not modelled",
    "dependencies3": "views and materialized views are not modelled",
    "dependencies4": "views and materialized views are not modelled",
    "enumdeps": "views are not modelled",
    "everything": "extensions, views, materialized views, functions, privileges and "
    "unlogged tables are not modelled",
    "extversions": "extensions are not modelled",
    "inherit": "table inheritance is not modelled",
    "inherit2": "table inheritance is not modelled",
    "partitioning": "partitioned tables are not modelled",
    "privileges": "privileges, functions, views and extensions are not modelled",
    "rls": "row level security and policies are not modelled",
    "rls2": "row level security and policies are not modelled",
    "singleschema": "extensions and views are not modelled",
    "singleschema_ext": "extensions and views are not modelled",
    "triggers": "triggers and functions are not modelled",
    "triggers2": "triggers and functions are not modelled",
    "triggers3": "triggers, functions and views are not modelled",
}

# The answer to the rename question a case raises (as `--rename` would give it).
RENAMES = {
    "identitycols": {"t": "t2"},  # t and t2 are the same table
}

CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "a.sql").is_file())


def case_param(name: str) -> object:
    if name in SKIPPED:
        return pytest.param(name, marks=pytest.mark.skip(reason=f"{name}: {SKIPPED[name]}"))
    return name


@pytest.mark.parametrize("case", [case_param(c) for c in CASES])
def test_migra_case(server_url: str, case: str) -> None:
    folder = FIXTURES / case
    with (
        scratch_connection(server_url, "migra_a") as a_conn,
        scratch_connection(server_url, "migra_b") as b_conn,
    ):
        a_conn.execute((folder / "a.sql").read_text())
        b_conn.execute((folder / "b.sql").read_text())
        a, b = introspect(a_conn), introspect(b_conn)
        ops = diff(a, b, renames=RENAMES.get(case))
        apply(a_conn, ops)
        migrated = introspect(a_conn)
        assert migrated == b
        assert diff(migrated, b) == []
        apply(a_conn, [op.reverse() for op in reversed(ops)])
        assert introspect(a_conn) == a


def test_every_case_is_run_or_skipped_with_a_reason() -> None:
    assert set(SKIPPED) <= set(CASES)
    assert set(CASES) - set(SKIPPED) == {
        "constraints", "enumdefaults", "excludeschema", "generated", "generated_added",
        "identitycols", "seq",
    }


def test_skipped_cases_really_use_what_is_not_modelled() -> None:
    """Each skipped case's SQL mentions an object kind its reason names."""
    words = {
        "collations": "collation", "views": "view", "functions": "function",
        "extensions": "extension", "inheritance": "inherits", "partitioned": "partition",
        "privileges": "grant", "row level security": "policy", "triggers": "trigger",
    }
    for case, reason in SKIPPED.items():
        sql = " ".join((FIXTURES / case / f).read_text().lower() for f in ("a.sql", "b.sql"))
        hits = [w for key, w in words.items() if key in reason and w in sql]
        assert hits, f"{case}: {reason}"


