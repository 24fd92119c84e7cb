"""Studio cases: the grid's page of a big table, through real HTTP.

A studio (:func:`pgbuild.studio.start_studio`, read-only, as ``python -m
pgbuild.studio`` starts it) serves a table of ``rows`` rows (1,000,000 in
the full run, 10,000 in ``--quick``); each operation is one ``POST
/api/rows`` on a kept-alive connection, its JSON answer parsed, as the page
does when a table is opened. The baseline is psycopg running the SELECT the
studio runs, on a connection of its own: the ratio is what the catalog
lookup, HTTP and JSON cost on top of the query.

Two cases: the first page (what "open a table" shows; the issue asks for
under 300 ms on 1,000,000 rows) and a page near the end reached with a
keyset cursor (no OFFSET: it costs what the first page costs).

The table is created on first use, so ``--only`` runs that leave these
cases out do not pay for it, and dropped when the group ends.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from benchmarks.catalog import PGBUILD, PSYCOPG
from benchmarks.harness import Case, sync_contender

TABLE = "studio_big"
LIMIT = 50

_SEED = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE TABLE {TABLE} (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    amount numeric(14, 2),
    created_at timestamptz NOT NULL,
    tags text[],
    payload jsonb,
    blob bytea
);
INSERT INTO {TABLE}
SELECT i, 'customer ' || i, mod(i, 100000) / 100.0,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second',
       ARRAY['t' || mod(i, 7)], jsonb_build_object('i', i, 'even', mod(i, 2) = 0),
       CASE WHEN mod(i, 10) = 0 THEN decode(md5(i::text), 'hex') END
FROM generate_series(1, {{rows}}) AS i;
VACUUM ANALYZE {TABLE};
"""

# The statement the studio runs for a page (pgbuild.studio.grid.read_page).
_PAGE = (
    f'SELECT "t"."id"::text, "t"."name"::text, "t"."amount"::text, "t"."created_at"::text, '
    f'"t"."tags"::text, "t"."payload"::text, octet_length("t"."blob"), "t"."id"::text '
    f'FROM "{{schema}}"."{TABLE}" AS "t" {{where}}ORDER BY "t"."id" LIMIT {LIMIT + 1}'
)

NOTES = {
    PGBUILD: "studio: POST /api/rows over HTTP keep-alive (catalog lookup, keyset query, "
             "JSON), answer parsed",
    PSYCOPG: "the studio's SELECT by hand on a psycopg connection, rows fetched",
}


class _Bench:
    """The table, the studio and the two connections, made on first use."""

    def __init__(self, url: str, run_sql: Callable[[str], Any], rows: int) -> None:
        self.url = url
        self.run_sql = run_sql
        self.rows = rows
        self.ready = False
        self.studio: Any = None
        self.http: http.client.HTTPConnection | None = None
        self.conn: psycopg.Connection[Any] | None = None
        self.schema = ""
        self.cursor: Any = None

    def setup(self) -> None:
        if self.ready:
            return
        from pgbuild.studio import start_studio

        self.schema = str(self.run_sql("SELECT current_schema()"))
        for statement in _SEED.format(rows=self.rows).split(";"):
            if statement.strip():
                self.run_sql(statement)
        self.studio = start_studio(self.url)
        self.http = http.client.HTTPConnection("127.0.0.1", self.studio.port, timeout=60)
        self.conn = psycopg.connect(self.url, autocommit=True)
        near_end = self.page({"filters": [{"column": "id", "op": ">",
                                           "value": str(self.rows - LIMIT * 3)}], "limit": 1})
        self.cursor = near_end["next"]
        self.ready = True

    def page(self, extra: dict[str, Any]) -> Any:
        assert self.http is not None and self.studio is not None
        body = json.dumps({"schema": self.schema, "table": TABLE, "limit": LIMIT, **extra})
        self.http.request("POST", "/api/rows", body=body, headers={
            "Host": f"127.0.0.1:{self.studio.port}", "X-Studio-Token": self.studio.token,
            "Content-Type": "application/json"})
        response = self.http.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"studio answered {response.status}: {data[:200]!r}")
        return json.loads(data)

    def select(self, after: str | None) -> list[tuple[Any, ...]]:
        assert self.conn is not None
        where = 'WHERE ("t"."id") > (CAST(%s AS bigint)) ' if after is not None else ""
        text = _PAGE.format(schema=self.schema, where=where)
        cur = self.conn.execute(text.encode(), (after,) if after is not None else None,
                                prepare=False)
        return cur.fetchall()

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.conn is not None:
            self.conn.close()
        if self.studio is not None:
            self.studio.close()
        if self.ready:
            self.run_sql(f"DROP TABLE IF EXISTS {TABLE}")


def _ids(page: Any) -> list[str]:
    return [row[0] for row in page["rows"]]


def _first(rows: list[tuple[Any, ...]]) -> list[str]:
    return [row[0] for row in rows[:LIMIT]]


@contextmanager
def studio_cases(url: str, run_sql: Callable[[str], Any], rows: int) -> Iterator[list[Case]]:
    """The studio group for ``rows`` rows; the studio and table go when the
    block ends."""
    bench = _Bench(url, run_sql, rows)
    size = f"{rows:,}-row table"

    def first_page(i: int) -> Any:
        bench.setup()
        return bench.page({})

    def first_select(i: int) -> Any:
        bench.setup()
        return bench.select(None)

    def deep_page(i: int) -> Any:
        bench.setup()
        return bench.page({"after": bench.cursor})

    def deep_select(i: int) -> Any:
        bench.setup()
        return bench.select(str(bench.rows - LIMIT * 3 + 1))

    cases = [
        Case("studio.first_page", "studio", f"studio: first grid page of a {size} (HTTP)",
             baseline=PSYCOPG, notes=NOTES, contenders=[
                 sync_contender(PSYCOPG, first_select, _first),
                 sync_contender(PGBUILD, first_page, _ids)]),
        Case("studio.keyset_page", "studio",
             f"studio: a page near the end of a {size} (keyset cursor)",
             baseline=PSYCOPG, notes=NOTES, contenders=[
                 sync_contender(PSYCOPG, deep_select, _first),
                 sync_contender(PGBUILD, deep_page, _ids)]),
    ]
    try:
        yield cases
    finally:
        bench.close()
