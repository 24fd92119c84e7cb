"""Hostile values and names: data stays data, names stay names.

Every value a user passes is a bound parameter, so arbitrary text (quotes,
backslashes, ``$$``, ``--``, ``;``, ``%s``, ``{}``...), JSON documents and
byte strings round-trip exactly in every position a value can take —
insert values, update set, where, like patterns, ``in_`` lists,
``jsonb_set`` paths and values, ``sql(...)`` keyword values and prepared
placeholders — and the statement text depends only on the query's shape:
built with a hostile value or a harmless one, it is the same text.

Already covered elsewhere: ``sql(...)`` text values and their percent signs
and braces (tests/test_predicates.py), every column type's round-trip and
the text-does-not-depend-on-values property for plain filters
(tests/test_roundtrip.py), hostile table, column and index names in DDL and
CRUD (tests/test_table.py). Here: the same for migrations — ``generate`` +
``up``, ``push`` and ``down`` of a schema, table, columns, index and enum
whose names hold quotes, spaces, ``;``, ``%`` and non-ASCII letters.

PostgreSQL itself cannot store a NUL byte in text (nor ``\\u0000`` in jsonb),
so the strategies leave it out; tests/test_reliability.py checks that it is
a clear error.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from pgbuild import (
    Database,
    Table,
    bytea,
    eq,
    in_,
    integer,
    jsonb,
    jsonb_set,
    like,
    placeholder,
    sql,
    text,
)
from tests.conftest import fresh_database


class Vault(Table, name="inj_vault"):
    id = integer().primary_key()
    body = text()
    doc = jsonb()
    raw = bytea()


@pytest.fixture(scope="module")
def vault(db: Database) -> None:
    db.create_tables(Vault)


# ------------------------------------------------------------------ strategies

NASTY = [
    "",
    "'",
    "''",
    "it's",
    '"',
    '""',
    "\\",
    "\\'",
    "\\x41",
    "E'\\n'",
    "$$",
    "$tag$ x $tag$",
    "--",
    "-- c\nSELECT 1",
    "/* open",
    "*/",
    ";",
    "'; DROP TABLE inj_vault; --",
    "\"); DROP TABLE inj_vault; --",
    "%s",
    "%(x)s",
    "%%",
    "%",
    "_",
    "{}",
    "{x}",
    "{{}}",
    "{a,b}",
    '{"a": 1}',
    "$1",
    "?",
    ":name",
    "NULL",
    "\n\r\t\x0b\x0c",
    "ünïcødé 日本語 🙂 \u202e",
]

# Valid Unicode without NUL (PostgreSQL's text cannot hold it) or lone surrogates.
any_char = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
texts = st.one_of(
    st.sampled_from(NASTY),
    st.lists(st.sampled_from(NASTY), min_size=2, max_size=4).map("".join),
    st.text(any_char, max_size=40),
)
# JSON as jsonb keeps it: no \u0000, numbers that survive numeric's decimal text.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(-1e6, 1e6, allow_nan=False),
    texts,
)
json_docs = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(texts, json_docs, max_size=4)
blobs = st.binary(max_size=64)

HARMLESS = ("x", {"k": 1}, b"x")


def same(a: Any, b: Any) -> bool:
    """Equal, with JSON's types kept apart (``True`` is not ``1``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def shape(build: Callable[..., Any], *hostile: Any) -> str:
    """The statement text of ``build(*hostile)``, checked to be the text of the
    same query built from harmless values; the values are parameters."""
    query, harmless = build(*hostile), build(*HARMLESS[: len(hostile)])
    compiled = query.compile()
    assert compiled.as_string() == harmless.compile().as_string()
    return compiled.as_string()


def put(db: Database, body: str, doc: Any, raw: bytes) -> None:
    """Row 1 holds the values; row 2 a decoy that differs from each."""
    db.delete(Vault).execute()
    db.insert(Vault).values(
        [
            {"id": 1, "body": body, "doc": doc, "raw": raw},
            {"id": 2, "body": body + "~", "doc": [doc], "raw": raw + b"~"},
        ]
    ).execute()


# ------------------------------------------------------------------ insert, update


@given(body=texts, doc=json_docs, raw=blobs)
@example(body="'; DROP TABLE inj_vault; --", doc={"$$": "%s"}, raw=b"\\x00'")
def test_hostile_values_round_trip_through_insert_values(
    db: Database, vault: None, body: str, doc: Any, raw: bytes
) -> None:
    db.delete(Vault).execute()

    def build(b: str, d: Any, r: bytes) -> Any:
        return db.insert(Vault).values({"id": 1, "body": b, "doc": d, "raw": r}).returning()

    shape(build, body, doc, raw)
    row = build(body, doc, raw).one()
    again = db.select().from_(Vault).where(eq(Vault.id, 1)).one()
    for got in (row, again):
        assert (got.body, got.raw) == (body, raw)
        assert same(got.doc, doc)


@given(body=texts, doc=json_docs, raw=blobs)
def test_hostile_values_round_trip_through_update_set(
    db: Database, vault: None, body: str, doc: Any, raw: bytes
) -> None:
    put(db, "before", None, b"")

    def build(b: str, d: Any, r: bytes) -> Any:
        return db.update(Vault).set({"body": b, "doc": d, "raw": r}).where(
            eq(Vault.id, 1)
        ).returning()

    shape(build, body, doc, raw)
    [row] = build(body, doc, raw).all()
    assert (row.body, row.raw) == (body, raw) and same(row.doc, doc)
    decoy = db.select().from_(Vault).where(eq(Vault.id, 2)).one()
    assert decoy.body == "before~"  # the where still held: one row changed


# ------------------------------------------------------------------ where


@given(body=texts, doc=json_docs, raw=blobs)
def test_hostile_values_in_where_match_exactly_their_row(
    db: Database, vault: None, body: str, doc: Any, raw: bytes
) -> None:
    put(db, body, doc, raw)
    for column, value in ((Vault.body, body), (Vault.doc, doc), (Vault.raw, raw)):
        if value is None:
            continue  # None is SQL NULL, which equals nothing

        def build(v: Any, column: Any = column) -> Any:
            return db.select(Vault.id).from_(Vault).where(eq(column, v))

        harmless = {Vault.body: "x", Vault.doc: {"k": 1}, Vault.raw: b"x"}[column]
        assert build(value).compile().as_string() == build(harmless).compile().as_string()
        assert build(value).all() == [(1,)], column


def _literal_like(value: str) -> str:
    """A LIKE pattern matching exactly ``value`` (``\\`` is LIKE's escape)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@given(body=texts)
@example(body="100%_sure\\")
def test_hostile_like_patterns_are_patterns_never_sql(
    db: Database, vault: None, body: str
) -> None:
    put(db, body, None, b"")
    exact = _literal_like(body)

    def build(pattern: str) -> Any:
        return db.select(Vault.id).from_(Vault).where(like(Vault.body, pattern)).order_by(Vault.id)

    shape(build, exact)
    assert build(exact).all() == [(1,)]
    assert build(exact + "%").all() == [(1,), (2,)]  # the decoy is body + "~"


@given(values=st.lists(texts, min_size=1, max_size=6))
def test_hostile_in_lists_select_exactly_the_listed_values(
    db: Database, vault: None, values: list[str]
) -> None:
    db.delete(Vault).execute()
    stored = list(dict.fromkeys(values))  # distinct, in order
    db.insert(Vault).values([{"id": i, "body": v} for i, v in enumerate(stored)]).execute()

    def build(*listed: str) -> Any:
        return db.select(Vault.body).from_(Vault).where(in_(Vault.body, list(listed)))

    wanted = stored[::2]
    assert (
        build(*wanted).compile().as_string() == build(*(["x"] * len(wanted))).compile().as_string()
    )
    assert sorted(b for (b,) in build(*wanted).all()) == sorted(wanted)


# ------------------------------------------------------------------ jsonb_set


@given(path=st.lists(texts, min_size=1, max_size=3), value=json_docs, start=json_objects)
@example(path=["{a,b}", '"', "\\"], value="$$", start={})
def test_hostile_jsonb_set_paths_and_values_set_exactly_that_key(
    db: Database, vault: None, path: list[str], value: Any, start: dict[str, Any]
) -> None:
    # The path's parents exist (jsonb_set creates only the last key).
    doc: dict[str, Any] = dict(start)
    node = doc
    for key in path[:-1]:
        node[key] = {}
        node = node[key]
    put(db, "row", doc, b"")

    def build(p: list[str], v: Any) -> Any:
        return db.update(Vault).set({"doc": jsonb_set(Vault.doc, p, v)}).where(
            eq(Vault.id, 1)
        ).returning(Vault.doc)

    assert build(path, value).compile().as_string() == build(["x"], 1).compile().as_string()
    [(got,)] = build(path, value).all()
    node[path[-1]] = value
    assert same(got, doc)


# ------------------------------------------------------------------ sql(...) and placeholders


@given(body=texts, doc=json_docs, raw=blobs)
def test_hostile_sql_template_values_of_every_kind_round_trip(
    db: Database, vault: None, body: str, doc: Any, raw: bytes
) -> None:
    def build(b: str, d: Any, r: bytes) -> Any:
        return sql("SELECT {b}::text AS b, {d}::jsonb AS d, {r}::bytea AS r", b=b, d=Jsonb(d), r=r)

    shape(build, body, doc, raw)
    row = db.execute(build(body, doc, raw)).one()
    assert (row.b, row.r) == (body, raw) and same(row.d, doc)


@given(body=texts, doc=json_docs, raw=blobs)
def test_hostile_placeholder_values_round_trip_in_prepared_queries(
    db: Database, vault: None, body: str, doc: Any, raw: bytes
) -> None:
    db.delete(Vault).execute()
    insert = db.insert(Vault).values(
        {"id": placeholder("id"), "body": placeholder("b"), "doc": placeholder("d"),
         "raw": placeholder("r")}
    ).prepare()
    find = db.select().from_(Vault).where(eq(Vault.body, placeholder("b"))).prepare()
    text_before = insert.compiled.as_string()

    assert insert.execute(id=1, b=body, d=doc, r=raw) == 1
    insert.execute(id=2, b=body + "~", d=None, r=b"")
    [row] = find.all(b=body)
    assert (row.id, row.body, row.raw) == (1, body, raw) and same(row.doc, doc)
    assert insert.compiled.as_string() == text_before


# ------------------------------------------------------------------ names in migrations

HOSTILE_SCHEMA = 'sch"ema; %s ü'
HOSTILE_TABLE = 'ta"ble; DROP TABLE x; -- %'
HOSTILE_ENUM = 'mo"od %s;'
HOSTILE_LABELS = ["it's", 'a"b', "c;d", "%s", "{x}", "ü ☃"]

SCHEMA_SOURCE = textwrap.dedent(
    f'''
    from pgbuild import Table, index, integer, pg_enum, text, unique_index

    mood = pg_enum({HOSTILE_ENUM!r}, {HOSTILE_LABELS!r}, schema={HOSTILE_SCHEMA!r})


    class Hostile(Table, name={HOSTILE_TABLE!r}, schema={HOSTILE_SCHEMA!r}):
        id = integer('i"d; %s').primary_key()
        note = text("no te -- ü").default("it's 50%; {{}}")
        feeling = mood("fee;ling")

        __indexes__ = (
            index('in"dex; %s').on(note),
            unique_index("uni que ü").on(feeling, id),
        )
    '''
)


@pytest.fixture
def fresh_url(server_url: str) -> Iterator[str]:
    with fresh_database(server_url, "inj") as url:
        yield url


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pgbuild]\nschema = "hostile_schema"\nmigrations = "migrations"\n'
    )
    (tmp_path / "hostile_schema.py").write_text(SCHEMA_SOURCE)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_DIRECT_URL", raising=False)
    monkeypatch.setattr(sys, "stdin", None)
    return tmp_path


def hostile_table() -> type[Table]:
    namespace: dict[str, Any] = {}
    exec(compile(SCHEMA_SOURCE, "hostile_schema.py", "exec"), namespace)
    table: type[Table] = namespace["Hostile"]
    return table


def live_names(url: str) -> dict[str, list[str]]:
    """What the server holds under the hostile schema, read from the catalog."""
    with psycopg.connect(url) as conn:

        def names(query: str) -> list[str]:
            return sorted(r[0] for r in conn.execute(query, (HOSTILE_SCHEMA,)).fetchall())

        return {
            "tables": names(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = relnamespace "
                "WHERE nspname = %s AND relkind = 'r'"
            ),
            "indexes": names(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = relnamespace "
                "WHERE nspname = %s AND relkind = 'i'"
            ),
            "columns": names(
                "SELECT attname FROM pg_attribute a JOIN pg_class c ON c.oid = attrelid "
                "JOIN pg_namespace n ON n.oid = relnamespace "
                "WHERE nspname = %s AND relkind = 'r' AND attnum > 0 AND NOT attisdropped"
            ),
            "labels": names(
                "SELECT enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = enumtypid "
                "JOIN pg_namespace n ON n.oid = typnamespace WHERE nspname = %s"
            ),
            "types": names(
                "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = typnamespace "
                "WHERE nspname = %s AND typtype = 'e'"
            ),
        }


EXPECTED = {
    "tables": [HOSTILE_TABLE],
    "indexes": sorted([f"{HOSTILE_TABLE}_pkey", 'in"dex; %s', "uni que ü"]),
    "columns": sorted(['i"d; %s', "no te -- ü", "fee;ling"]),
    "labels": sorted(HOSTILE_LABELS),
    "types": [HOSTILE_ENUM],
}


def crud_works(url: str) -> None:
    """The declared table reads and writes the migrated one."""
    table = hostile_table()
    cols = table.__table__.by_attr
    with Database(url, min_size=1, max_size=1) as db:
        row = db.insert(table).values({"id": 1, "feeling": "it's"}).returning().one()
        assert (row.id, row.note, row.feeling) == (1, "it's 50%; {}", "it's")
        db.update(table).set({"feeling": "%s"}).where(eq(cols["id"], 1)).execute()
        assert db.select(cols["feeling"]).from_(table).all() == [("%s",)]
        db.delete(table).execute()


def test_generate_up_and_down_of_hostile_names(project: Path, fresh_url: str) -> None:
    from pgbuild.migrate import check, down, generate, up

    quiet: Callable[[str], None] = lambda _: None  # noqa: E731
    written = generate(config=project, name="hostile", echo=quiet)
    assert [p.name for p in written if p.suffix == ".sql" and ".down" not in p.name] == [
        "0001_hostile.sql"
    ]
    assert check(config=project) == []

    assert up(fresh_url, config=project, echo=quiet) == ["0001_hostile"]
    assert live_names(fresh_url) == EXPECTED
    crud_works(fresh_url)
    assert up(fresh_url, config=project, echo=quiet) == []

    assert down(fresh_url, config=project, to=0, echo=quiet) == ["0001_hostile"]
    gone = live_names(fresh_url)
    assert gone == {key: [] for key in EXPECTED}


def test_push_of_hostile_names_then_nothing_left_to_push(project: Path, fresh_url: str) -> None:
    from pgbuild.migrate import push

    quiet: Callable[[str], None] = lambda _: None  # noqa: E731
    assert push(fresh_url, config=project, echo=quiet)
    assert live_names(fresh_url) == EXPECTED
    crud_works(fresh_url)
    # Introspected back, the names compare equal to the declared ones: no phantom diff.
    assert push(fresh_url, config=project, echo=quiet) == []


def test_a_name_with_a_newline_cannot_escape_a_migration_comment(
    tmp_path: Path, fresh_url: str
) -> None:
    from pgbuild.migrate import generate, up

    quiet: Callable[[str], None] = lambda _: None  # noqa: E731
    (tmp_path / "pyproject.toml").write_text('[tool.pgbuild]\nschema = "newline_schema"\n')
    source = tmp_path / "newline_schema.py"
    source.write_text(
        "from pgbuild import Table, integer\n\n"
        "class Victim(Table, name='victim'):\n    id = integer().primary_key()\n"
    )
    generate(config=tmp_path, name="victim", echo=quiet)
    up(fresh_url, config=tmp_path, echo=quiet)
    source.write_text(
        source.read_text()
        + "\nclass Evil(Table, name='evil\\nDROP TABLE victim; --'):\n"
        "    id = integer().primary_key()\n"
    )
    generate(config=tmp_path, name="evil", echo=quiet)
    up(fresh_url, config=tmp_path, echo=quiet)

    with psycopg.connect(fresh_url) as conn:
        assert conn.execute("SELECT to_regclass('victim') IS NOT NULL").fetchone() == (True,)
