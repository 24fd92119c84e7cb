"""Column behaviours and week-one column types: on_update, default_fn,
generated columns, identity options, custom types, pgvector, expression and
operator-class indexes, NULLS NOT DISTINCT, extensions."""

from __future__ import annotations

import math
import uuid as uuid_module
from collections.abc import Iterator
from itertools import count as counter

import psycopg
import pytest

from pgbuild import (
    Database,
    IntegrityError,
    QueryError,
    Table,
    cosine_distance,
    custom_type,
    desc,
    eq,
    excluded,
    extension,
    index,
    inner_product,
    integer,
    jsonb,
    l2_distance,
    sql,
    text,
    timestamp,
    unique,
    unique_index,
    uuid,
    vector,
)

ticks = counter(1)
citext = custom_type("citext", python=str, extension="citext")
ltree = custom_type("ltree", python=str, extension="ltree")


class Docs(Table, name="feat_docs"):
    id = uuid().primary_key().default_fn(uuid_module.uuid4)
    title = text().not_null()
    first = text()
    last = text()
    full_name = text().generated_always_as(sql("{f} || ' ' || {l}", f=first, l=last))
    revision = integer().not_null().default(1).on_update(lambda c: sql("{c} + 1", c=c))
    touched = integer().on_update_fn(lambda: next(ticks))
    updated_at = timestamp().default_now().not_null().on_update(sql("clock_timestamp()"))
    meta = jsonb()

    __indexes__ = (
        index("feat_docs_title_lower").on(sql("lower({t})", t=title)),
        index("feat_docs_meta_gin").using("gin").on(meta.op("jsonb_path_ops")),
        index("feat_docs_updated").on(desc(updated_at, nulls="last")),
    )


class Counters(Table, name="feat_counters"):
    id = integer().generated_by_default_as_identity(start=100, increment=10).primary_key()
    note = text()


class Handles(Table, name="feat_handles"):
    id = integer().primary_key()
    email = citext().not_null()
    path = ltree()
    team = integer()
    nick = text()

    __constraints__ = (unique(team, nick).nulls_not_distinct(),)
    __indexes__ = (unique_index("feat_handles_email").on(email),)


class Items(Table, name="feat_items"):
    id = integer().primary_key()
    embedding = vector(3).not_null()

    __indexes__ = (index("feat_items_hnsw").using("hnsw").on(embedding.op("vector_cosine_ops")),)


uses = extension("citext")


@pytest.fixture(scope="module", autouse=True)
def tables(db: Database) -> Iterator[None]:
    db.create_tables(Docs, Counters, Handles, Items)
    yield


def test_default_fn_fills_each_inserted_row(db: Database) -> None:
    rows = db.insert(Docs).values([{"title": "a"}, {"title": "b"}]).returning().all()
    assert all(isinstance(r.id, uuid_module.UUID) for r in rows)
    assert rows[0].id != rows[1].id


def test_generated_column_is_computed_and_never_written(db: Database) -> None:
    doc = db.insert(Docs).values({"title": "g", "first": "Ada", "last": "Lovelace"}).returning()
    assert doc.one().full_name == "Ada Lovelace"
    with pytest.raises(QueryError, match="generated column"):
        db.insert(Docs).values({"title": "x", "full_name": "nope"})
    with pytest.raises(QueryError, match="generated column"):
        db.update(Docs).set({"full_name": "nope"})


def test_on_update_applies_when_the_update_leaves_the_column_out(db: Database) -> None:
    doc = db.insert(Docs).values({"title": "u"}).returning().one()
    assert doc.revision == 1 and doc.touched is not None  # no default: filled on insert
    changed = db.update(Docs).set({"title": "u2"}).where(eq(Docs.id, doc.id)).returning().one()
    assert changed.revision == 2
    assert changed.touched != doc.touched
    assert changed.updated_at > doc.updated_at
    kept = db.update(Docs).set({"title": "u3", "revision": 40}).where(eq(Docs.id, doc.id))
    assert kept.returning(Docs.revision).one() == (40,)


def test_on_update_applies_to_an_upsert(db: Database) -> None:
    doc = db.insert(Docs).values({"title": "up"}).returning().one()
    again = (
        db.insert(Docs)
        .values({"id": doc.id, "title": "up2"})
        .on_conflict_do_update(target=Docs.id, set={"title": excluded(Docs.title)})
        .returning()
        .one()
    )
    assert (again.title, again.revision) == ("up2", 2)


def test_identity_start_and_increment(db: Database) -> None:
    rows = db.insert(Counters).values([{"note": "a"}, {"note": "b"}]).returning(Counters.id)
    assert rows.all() == [(100,), (110,)]


def test_expression_opclass_and_ordered_indexes_exist(database_url: str, db: Database) -> None:
    with psycopg.connect(database_url) as conn:
        defs = dict(
            conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'feat_docs'"
            ).fetchall()
        )
    assert "lower(title)" in defs["feat_docs_title_lower"]
    assert "gin (meta jsonb_path_ops)" in defs["feat_docs_meta_gin"]
    assert "(updated_at DESC NULLS LAST)" in defs["feat_docs_updated"]
    found = db.select(Docs.title).from_(Docs).where(eq(sql("lower({t})", t=Docs.title), "up2"))
    assert found.all() == [("up2",)]


def test_custom_types_round_trip_with_their_semantics(db: Database) -> None:
    db.insert(Handles).values(
        {"id": 1, "email": "Ann@Example.com", "path": "top.science"}
    ).execute()
    # citext compares case-insensitively; its unique index refuses a case variant.
    assert db.select(Handles.id).from_(Handles).where(
        eq(Handles.email, "ann@example.COM")
    ).all() == [(1,)]
    with pytest.raises(IntegrityError):
        db.insert(Handles).values({"id": 2, "email": "ANN@example.com"}).execute()
    under = (
        db.select(Handles.path)
        .from_(Handles)
        .where(sql("{p} <@ {root}::ltree", p=Handles.path, root="top"))
    )
    assert under.all() == [("top.science",)]


def test_nulls_not_distinct_treats_nulls_as_equal(db: Database) -> None:
    db.insert(Handles).values({"id": 10, "email": "a@x", "team": None, "nick": "n"}).execute()
    with pytest.raises(IntegrityError):
        db.insert(Handles).values({"id": 11, "email": "b@x", "team": None, "nick": "n"}).execute()


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return 1 - dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_vector_nearest_neighbours_match_python_distances(db: Database) -> None:
    points = {
        1: [1.0, 0.0, 0.0],
        2: [0.0, 1.0, 0.0],
        3: [0.9, 0.1, 0.0],
        4: [0.5, 0.5, 0.7],
        5: [-1.0, 0.2, 0.1],
    }
    db.insert(Items).values([{"id": k, "embedding": v} for k, v in points.items()]).execute()
    probe = [1.0, 0.2, 0.0]
    by_cosine = db.select(Items.id).from_(Items).order_by(cosine_distance(Items.embedding, probe))
    assert [r[0] for r in by_cosine.all()] == sorted(
        points, key=lambda k: _cosine(points[k], probe)
    )
    l2 = db.select(Items.id, l2_distance(Items.embedding, probe)).from_(Items).order_by(Items.id)
    for item_id, distance in l2.all():
        expected = math.dist(points[item_id], probe)
        assert distance == pytest.approx(expected, rel=1e-6)
    ip = db.select(inner_product(Items.embedding, probe)).from_(Items).where(eq(Items.id, 4))
    assert ip.scalar() == pytest.approx(0.5 + 0.1, rel=1e-6)
    back = db.select().from_(Items).where(eq(Items.id, 3)).one()
    assert back.embedding == pytest.approx(points[3])


def test_extensions_are_created_before_the_tables(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        names = {r[0] for r in conn.execute("SELECT extname FROM pg_extension").fetchall()}
    assert {"citext", "ltree", "vector"} <= names
    assert uses.name == "citext"
