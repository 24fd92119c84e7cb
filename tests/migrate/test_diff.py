"""The differ (``pgbuild.migrate.diff``) against a real server.

Every operation is checked both ways by :func:`both_ways`: build schema A,
run ``diff(A, B)``'s statements, and the database introspects as B (with
nothing left to diff); run the operations' ``reverse()`` in reverse order,
and it introspects as A again; and so does running ``diff(B, A)``. Renames
and type changes also check that rows survive. A hypothesis property does
the same for random pairs of schemas, and compares the migrated database
with one where B was created from nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schema as guide
from pgbuild import (
    Table,
    bigint,
    check,
    custom_type,
    extension,
    gt,
    index,
    integer,
    is_null,
    jsonb,
    pg_enum,
    primary_key,
    serial,
    sql,
    text,
    timestamp,
    unique,
    unique_index,
    varchar,
)
from pgbuild.ddl import create_all
from pgbuild.migrate.column_ops import (
    AddColumn,
    AlterColumnType,
    DropColumn,
    RenameColumn,
)
from pgbuild.migrate.declared import from_tables
from pgbuild.migrate.diff import AmbiguousRename, RenameError, diff
from pgbuild.migrate.introspect import introspect
from pgbuild.migrate.model import (
    Check,
    Column,
    Enum,
    ForeignKey,
    Index,
    PrimaryKey,
    Schema,
    rewrite_expr,
)
from pgbuild.migrate.model import Table as TableModel
from pgbuild.migrate.ops import (
    AddEnumValue,
    DropTable,
    Op,
    RecreateEnum,
    RenameConstraint,
    RenameIndex,
    RenameTable,
)
from pgbuild.render import sql_text
from tests.migrate.test_model import apply, reset, scratch_connection

Conn = psycopg.Connection[Any]
Tables = Sequence[type[Table]]


@pytest.fixture(scope="module")
def conn(server_url: str) -> Iterator[Conn]:
    with scratch_connection(server_url, "diff") as c:
        yield c


def model(spec: Tables | Schema) -> Schema:
    return spec if isinstance(spec, Schema) else from_tables(spec)


def build(conn: Conn, spec: Tables | Schema) -> Schema:
    """An empty database holding ``spec``: declared tables through pgbuild's
    own DDL, a model through ``diff(Schema(), model)``."""
    reset(conn)
    if isinstance(spec, Schema):
        apply(conn, diff(Schema(), spec))
    else:
        for statement in create_all(spec):
            conn.execute(sql_text(statement))
    target = model(spec)
    assert introspect(conn) == target
    return target


def both_ways(
    conn: Conn,
    a_spec: Tables | Schema,
    b_spec: Tables | Schema,
    *,
    renames: dict[str, str] | None = None,
    back: dict[str, str] | None = None,
    seed: Callable[[Conn], object] | None = None,
    check_b: Callable[[Conn], object] | None = None,
    check_a: Callable[[Conn], object] | None = None,
) -> list[Op]:
    """A → B, then back by reversing the operations, then forward and back
    by ``diff(B, A)``; the database must introspect as the target each time
    (and ``check_*``, which may return False to fail, see the rows ``seed``
    put in A)."""
    a = build(conn, a_spec)
    b = model(b_spec)
    if seed:
        seed(conn)
    ops = diff(a, b, renames=renames)
    assert ops, "A and B should differ"
    apply(conn, ops)
    live = introspect(conn)
    assert live == b
    assert diff(live, b) == []
    if check_b:
        assert check_b(conn) is not False
    apply(conn, [op.reverse() for op in reversed(ops)])
    assert introspect(conn) == a
    if check_a:
        assert check_a(conn) is not False
    apply(conn, ops)
    apply(conn, diff(b, a, renames=back))
    assert introspect(conn) == a
    if check_a:
        assert check_a(conn) is not False
    return ops


def rows(conn: Conn, query: str) -> list[tuple[Any, ...]]:
    return conn.execute(query).fetchall()


def kinds(ops: Sequence[Op]) -> list[str]:
    return [type(op).__name__ for op in ops]


# ------------------------------------------------------------------ schemas and tables


class Ledger(Table, name="ledger", schema="app"):
    id = serial().primary_key()
    state = pg_enum("state", ["open", "closed"], schema="app")().default("open")


class LedgerMoved(Table, name="ledger", schema="core"):
    id = serial().primary_key()
    state = pg_enum("state", ["open", "closed"], schema="core")().default("open")


def test_create_and_drop_a_schema_with_its_tables_and_enums(conn: Conn) -> None:
    ops = both_ways(conn, [], [Ledger])
    assert kinds(ops) == ["CreateSchema", "CreateEnum", "CreateTable"]
    assert ops[0].statements() == ["CREATE SCHEMA IF NOT EXISTS app"]
    back = diff(from_tables([Ledger]), from_tables([]))
    assert kinds(back) == ["DropTable", "DropEnum", "DropSchema"]
    assert [op.loses_data for op in back] == [True, False, False]


def test_rename_a_schema_keeps_rows(conn: Conn) -> None:
    def seed(c: Conn) -> None:
        c.execute("INSERT INTO app.ledger (state) VALUES ('closed')")

    ops = both_ways(
        conn, [Ledger], [LedgerMoved],
        renames={"schema:app": "core"}, back={"schema:core": "app"},
        seed=seed,
        check_b=lambda c: rows(c, "SELECT id, state FROM core.ledger") == [(1, "closed")],
        check_a=lambda c: rows(c, "SELECT id, state FROM app.ledger") == [(1, "closed")],
    )
    assert kinds(ops) == ["RenameSchema"]


def test_create_and_drop_tables(conn: Conn) -> None:
    ops = both_ways(conn, [], guide.TABLES)
    assert kinds(ops) == ["CreateTable"] * 4 + ["AddConstraint"] * 3 + ["CreateIndex"] * 3
    back = diff(from_tables(guide.TABLES), from_tables([]))
    assert kinds(back[:3]) == ["DropConstraint"] * 3  # foreign keys before their tables
    assert all(op.loses_data for op in back if isinstance(op, DropTable))


class Items(Table, name="items"):
    id = serial().primary_key()
    name = text().unique()
    price = integer().check(lambda c: gt(c, 0))

    __indexes__ = (index("items_by_name").on(name),)


class Goods(Table, name="goods"):
    id = serial().primary_key()
    name = text().unique()
    price = integer().check(lambda c: gt(c, 0))

    __indexes__ = (index("items_by_name").on(name),)


def test_rename_a_table_keeps_rows_and_renames_its_constraints_and_sequence(conn: Conn) -> None:
    def seed(c: Conn) -> None:
        c.execute("INSERT INTO items (name, price) VALUES ('pen', 3)")

    def check_b(c: Conn) -> None:
        c.execute("INSERT INTO goods (name, price) VALUES ('ink', 5)")
        assert rows(c, "SELECT id, name FROM goods ORDER BY id") == [(1, "pen"), (2, "ink")]
        c.execute("DELETE FROM goods WHERE id = 2")

    ops = both_ways(
        conn, [Items], [Goods], renames={"items": "goods"}, back={"goods": "items"},
        seed=seed, check_b=check_b,
        check_a=lambda c: rows(c, "SELECT id, name FROM items") == [(1, "pen")],
    )
    assert kinds(ops) == ["RenameTable"] + ["RenameConstraint"] * 3
    assert ops[0] == RenameTable("items", "goods", (("items_id_seq", "goods_id_seq"),))
    assert not any(op.loses_data for op in ops)


def test_an_unanswered_table_rename_is_an_error(conn: Conn) -> None:
    with pytest.raises(AmbiguousRename) as info:
        diff(from_tables([Items]), from_tables([Goods]))
    assert info.value.candidates == [("items", "goods")]
    assert "--rename items=goods" in str(info.value)
    ops = diff(from_tables([Items]), from_tables([Goods]), renames={"items": ""})
    assert kinds(ops) == ["DropIndex", "DropTable", "CreateTable", "CreateIndex"]


# ------------------------------------------------------------------ columns


class UsersV1(Table, name="users"):
    id = integer().primary_key()
    nickname = text().unique()
    age = integer()
    score = text()
    joined = timestamp()

    __constraints__ = (check("nickname_not_empty", sql("{n} <> ''", n=nickname)),)
    __indexes__ = (index("users_lower_nickname").on(sql("lower({n})", n=nickname)),)


class UsersV2(Table, name="users"):
    id = integer().primary_key()
    handle = text().unique()
    age = bigint()
    score = integer()
    joined = timestamp().default_now().not_null()

    __constraints__ = (check("nickname_not_empty", sql("{n} <> ''", n=handle)),)
    __indexes__ = (index("users_lower_nickname").on(sql("lower({n})", n=handle)),)


def seed_users(c: Conn) -> None:
    c.execute("INSERT INTO users VALUES (1, 'ann', 30, '12', now())")


def test_rename_column_and_change_types_keeps_rows(conn: Conn) -> None:
    ops = both_ways(
        conn, [UsersV1], [UsersV2],
        renames={"users.nickname": "handle"}, back={"users.handle": "nickname"},
        seed=seed_users,
        check_b=lambda c: rows(c, "SELECT handle, age, score FROM users") == [("ann", 30, 12)],
        check_a=lambda c: rows(c, "SELECT nickname, age, score FROM users") == [("ann", 30, "12")],
    )
    assert RenameColumn("users", "nickname", "handle") in ops
    assert RenameConstraint("users", "users_nickname_key", "users_handle_key") in ops
    changes = {op.column: op for op in ops if isinstance(op, AlterColumnType)}
    assert changes["age"].statements() == [
        "ALTER TABLE users ALTER COLUMN age TYPE bigint USING age::bigint"
    ]
    assert not changes["age"].loses_data and changes["age"].reverse().loses_data
    assert changes["score"].loses_data  # text -> integer
    assert [op.describe() for op in ops if "joined" in op.describe()] == [
        "set not null users.joined", "set default users.joined = now()"
    ]


def test_an_unanswered_column_rename_is_an_error_listing_the_flags() -> None:
    with pytest.raises(AmbiguousRename) as info:
        diff(from_tables([UsersV1]), from_tables([UsersV2]))
    assert info.value.candidates == [("users.nickname", "handle")]
    assert "--rename users.nickname=handle" in str(info.value)
    assert "--rename OLD=" in str(info.value)


def test_not_a_rename_drops_and_adds(conn: Conn) -> None:
    ops = both_ways(
        conn, [UsersV1], [UsersV2],
        renames={"users.nickname": ""}, back={"users.handle": ""},
        seed=seed_users,
        check_b=lambda c: rows(c, "SELECT handle FROM users") == [(None,)],
    )
    drop = next(op for op in ops if isinstance(op, DropColumn))
    add = next(op for op in ops if isinstance(op, AddColumn))
    assert (drop.column.name, add.column.name) == ("nickname", "handle")
    assert drop.loses_data and not add.loses_data
    assert drop.describe() == "drop column users.nickname"


def test_renames_that_match_nothing_are_errors() -> None:
    a, b = from_tables([UsersV1]), from_tables([UsersV2])
    for bad in ({"users.nope": "handle"}, {"users.nickname": "nope"}, {"nope": "users"},
                {"enum:nope": "x"}, {"schema:nope": "x"},
                {"users.nickname": "handle", "users.age": "handle"},
                {"users.nickname": "age"}):
        with pytest.raises(RenameError):
            diff(a, b, renames=bad)
    # "not a rename" answers about things that are gone are harmless.
    assert diff(a, a, renames={"users.gone": "", "gone": ""}) == []


class Counter(Table, name="counter"):
    id = integer().primary_key()
    n = integer()


class CounterSerial(Table, name="counter"):
    id = serial().primary_key()
    n = integer().not_null().default(0)


class CounterIdentity(Table, name="counter"):
    id = integer().generated_always_as_identity().primary_key()
    n = integer().default(1)


class CounterIdentityByDefault(Table, name="counter"):
    id = integer().generated_by_default_as_identity().primary_key()
    n = integer()


def seed_counter(c: Conn) -> None:
    c.execute("INSERT INTO counter (id, n) VALUES (1, 5), (7, 6)")


def next_id_is_8(c: Conn) -> None:
    c.execute("INSERT INTO counter (n) VALUES (9)")
    assert rows(c, "SELECT max(id) FROM counter") == [(8,)]
    c.execute("DELETE FROM counter WHERE id = 8")


@pytest.mark.parametrize(
    "target", [CounterSerial, CounterIdentity, CounterIdentityByDefault],
    ids=["serial", "identity always", "identity by default"],
)
def test_defaults_not_null_serial_and_identity(conn: Conn, target: type[Table]) -> None:
    both_ways(conn, [Counter], [target], seed=seed_counter, check_b=next_id_is_8)


def test_identity_kinds(conn: Conn) -> None:
    ops = both_ways(conn, [CounterIdentity], [CounterIdentityByDefault])
    assert [op.describe() for op in ops] == [
        "set identity counter.id (generated by default)", "drop default counter.n"
    ]


class CounterFromHundred(Table, name="counter"):
    id = integer().generated_by_default_as_identity(start=100, increment=10).primary_key()
    n = integer()


def test_identity_options(conn: Conn) -> None:
    ops = both_ways(conn, [CounterIdentityByDefault], [CounterFromHundred])
    assert [s for op in ops for s in op.statements()] == [
        "ALTER TABLE counter ALTER COLUMN id SET INCREMENT BY 10 SET START WITH 100"
    ]
    ops = both_ways(conn, [Counter], [CounterFromHundred],
                    check_b=lambda c: c.execute("INSERT INTO counter (n) VALUES (1) RETURNING id")
                    .fetchone() == (100,))
    assert ops[-1].statements()[0] == (
        "ALTER TABLE counter ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY "
        "(START WITH 100 INCREMENT BY 10)"
    )


def test_extensions_are_created_first_and_never_dropped(conn: Conn) -> None:
    citext = custom_type("citext", python=str, extension="citext")

    class Handle(Table, name="handles"):
        email = citext().primary_key()

    declared = from_tables([Handle], [extension("ltree")])
    assert declared.extensions == {"citext", "ltree"}
    ops = diff(Schema(frozenset({"public"})), declared)
    assert [op.describe() for op in ops[:3]] == [
        "create extension citext", "create extension ltree", "create table handles"
    ]
    built = build(conn, declared)
    assert [op.describe() for op in diff(built, from_tables([]))] == ["drop table handles"]
    apply(conn, [op.reverse() for op in reversed(ops)])
    assert introspect(conn) == Schema(frozenset({"public"}))


def test_generated_columns(conn: Conn) -> None:
    def shop(**columns: Column) -> Schema:
        cols = (Column("id", "integer", not_null=True), Column("price", "integer"),
                *columns.values())
        return Schema(frozenset({"public"}),
                      tables={"shop": TableModel("public", "shop", cols)})

    plain = shop(total=Column("total", "integer"))
    doubled = shop(total=Column("total", "integer", generated="price * 2"))
    tripled = shop(total=Column("total", "integer", generated="(price * 3)"))
    virtual = shop(total=Column("total", "integer", generated="price * 2", virtual=True))

    def seed(c: Conn) -> None:
        c.execute("INSERT INTO shop (id, price) VALUES (1, 10)")

    ops = both_ways(conn, plain, doubled, seed=seed,
                    check_b=lambda c: rows(c, "SELECT total FROM shop") == [(20,)])
    assert kinds(ops) == ["RecreateColumn"] and ops[0].loses_data
    ops = both_ways(conn, doubled, tripled, seed=seed,
                    check_b=lambda c: rows(c, "SELECT total FROM shop") == [(30,)])
    assert kinds(ops) == ["SetExpression"]
    assert kinds(both_ways(conn, doubled, plain, seed=seed)) == ["DropExpression"]
    assert kinds(both_ways(conn, doubled, virtual, seed=seed)) == ["RecreateColumn"]


# ------------------------------------------------------------------ enums

mood3 = pg_enum("mood", ["sad", "ok", "happy"])
mood5 = pg_enum("mood", ["awful", "sad", "ok", "fine", "happy", "ecstatic"])
mood2 = pg_enum("mood", ["sad", "happy"])
mood_renamed = pg_enum("mood", ["unhappy", "ok", "happy"])
feeling = pg_enum("feeling", ["sad", "ok", "happy"])


def diary(enum: Any, default: str = "ok") -> type[Table]:
    class Diary(Table, name="diary"):
        id = integer().primary_key()
        mood = enum().default(default)
        history = enum().array()

        __indexes__ = (index("diary_happy").on(id).where(sql("{m} = 'happy'", m=mood)),)

    return Diary


def seed_diary(c: Conn) -> None:
    c.execute("INSERT INTO diary VALUES (1, 'happy', '{sad,happy}'), (2, DEFAULT, NULL)")


def test_add_enum_values(conn: Conn) -> None:
    ops = both_ways(
        conn, [diary(mood3)], [diary(mood5)], seed=seed_diary,
        check_b=lambda c: rows(c, "SELECT mood::text FROM diary ORDER BY id") == [("happy",),
                                                                              ("ok",)],
    )
    assert all(isinstance(op, AddEnumValue) and op.needs_commit for op in ops)
    assert [s for op in ops for s in op.statements()] == [
        "ALTER TYPE mood ADD VALUE 'awful' BEFORE 'sad'",
        "ALTER TYPE mood ADD VALUE 'fine' AFTER 'ok'",
        "ALTER TYPE mood ADD VALUE 'ecstatic' AFTER 'happy'",
    ]
    assert not any(op.loses_data for op in ops)
    assert all(op.reverse().loses_data for op in ops)


def test_drop_an_enum_value_recreates_the_type(conn: Conn) -> None:
    ops = both_ways(
        conn, [diary(mood3, "sad")], [diary(mood2, "sad")],
        seed=lambda c: c.execute("INSERT INTO diary VALUES (1, 'happy', '{sad,happy}')"),
        check_b=lambda c: rows(c, "SELECT mood::text, history::text FROM diary")
        == [("happy", "{sad,happy}")],
    )
    recreate = next(op for op in ops if isinstance(op, RecreateEnum))
    assert recreate.loses_data and recreate.describe() == "recreate enum mood (drop values 'ok')"
    # The partial index compares with a label: it goes first and comes back last.
    assert recreate.statements() == [
        "DROP INDEX diary_happy",
        "ALTER TYPE mood RENAME TO mood_pgbuild_old",
        "CREATE TYPE mood AS ENUM ('sad', 'happy')",
        "ALTER TABLE diary ALTER COLUMN mood DROP DEFAULT",
        "ALTER TABLE diary ALTER COLUMN mood TYPE mood USING mood::text::mood",
        "ALTER TABLE diary ALTER COLUMN mood SET DEFAULT 'sad'::mood",
        "ALTER TABLE diary ALTER COLUMN history TYPE mood[] USING history::text[]::mood[]",
        "CREATE INDEX diary_happy ON diary USING btree (id) WHERE \"mood\" = 'happy'",
        "DROP TYPE mood_pgbuild_old",
    ]
    assert kinds(ops) == ["RecreateEnum"]


def test_reordering_enum_values_recreates_the_type(conn: Conn) -> None:
    reordered = pg_enum("mood", ["happy", "ok", "sad"])
    ops = both_ways(conn, [diary(mood3)], [diary(reordered)], seed=seed_diary)
    assert "RecreateEnum" in kinds(ops)


def test_rename_an_enum_value(conn: Conn) -> None:
    ops = both_ways(
        conn, [diary(mood3)], [diary(mood_renamed)],
        renames={"enum:mood:sad": "unhappy"}, back={"enum:mood:unhappy": "sad"},
        seed=seed_diary,
        check_b=lambda c: rows(c, "SELECT history::text FROM diary WHERE id = 1")
        == [("{unhappy,happy}",)],
    )
    assert [op.describe() for op in ops] == ["rename value 'sad' of enum mood to 'unhappy'"]


def test_rename_an_enum(conn: Conn) -> None:
    ops = both_ways(conn, [diary(mood3)], [diary(feeling)],
                    renames={"enum:mood": "feeling"}, back={"enum:feeling": "mood"},
                    seed=seed_diary)
    assert kinds(ops) == ["RenameEnum"]


def test_change_a_column_between_enums_and_text(conn: Conn) -> None:
    class Plain(Table, name="diary"):
        id = integer().primary_key()
        mood = text().default("ok")
        history = text().array()

        __indexes__ = (index("diary_happy").on(id).where(sql("{m} = 'happy'", m=mood)),)

    ops = both_ways(conn, [diary(mood3)], [Plain], seed=seed_diary,
                    check_b=lambda c: rows(c, "SELECT history FROM diary WHERE id = 1")
                    == [(["sad", "happy"],)])
    assert "history::text[]::text[]" in " ".join(s for op in ops for s in op.statements())


# ------------------------------------------------------------------ constraints and indexes


class Org(Table, name="orgs"):
    id = integer().primary_key()
    code = text().not_null()


class OrgWide(Table, name="orgs"):
    id = integer().not_null()
    code = text().not_null()

    __constraints__ = (primary_key(id, code), unique(id, name="orgs_id_key"))


class Member(Table, name="members"):
    org_id = integer().references(lambda: Org.id)
    user_id = integer()
    role = varchar(10)


class MemberWide(Table, name="members"):
    org_id = integer().references(lambda: OrgWide.id, on_delete="cascade")
    user_id = integer()
    role = varchar(20)

    __constraints__ = (
        primary_key(org_id, user_id),
        unique(user_id, role),
        check("role_known", sql("{r} IN ('admin', 'member')", r=role)),
    )
    __indexes__ = (
        unique_index("members_admin").on(org_id).where(sql("{r} = 'admin'", r=role)),
        index("members_role_hash").using("hash").on(role),
    )


def test_constraints_and_indexes_both_ways(conn: Conn) -> None:
    ops = both_ways(
        conn, [Org, Member], [OrgWide, MemberWide],
        seed=lambda c: c.execute("INSERT INTO orgs VALUES (1, 'x'); "
                                 "INSERT INTO members VALUES (1, 2, 'admin')"),
        check_b=lambda c: rows(c, "SELECT * FROM members") == [(1, 2, "admin")],
    )
    described = [op.describe() for op in ops]
    # The foreign key depends on the primary key it references: it goes first
    # and comes back last, with its new action.
    assert described[0] == "drop foreign key members_org_id_fkey on members"
    assert described.index("drop primary key orgs_pkey on orgs") > 0
    assert described[-3] == "add foreign key members_org_id_fkey on members"
    assert described[-2:] == ["create index members_admin on members",
                              "create index members_role_hash on members"]


class Doc(Table, name="docs"):
    id = integer().primary_key()
    body = jsonb()
    deleted_at = timestamp()
    title = text()

    __indexes__ = (
        index("docs_body").using("gin").on(body),
        index("docs_live").on(title).where(is_null(deleted_at)),
    )


class DocReindexed(Table, name="docs"):
    id = integer().primary_key()
    body = jsonb()
    deleted_at = timestamp()
    title = text()

    __indexes__ = (
        index("docs_body_gin").using("gin").on(body),
        unique_index("docs_live").on(title).where(is_null(deleted_at)),
        index("docs_title_lower").on(sql("lower({t})", t=title), id),
    )


def test_index_changes_renames_and_expressions(conn: Conn) -> None:
    ops = both_ways(conn, [Doc], [DocReindexed])
    assert RenameIndex("docs", "docs_body", "docs_body_gin") in ops
    assert kinds(ops) == ["DropIndex", "RenameIndex", "CreateIndex", "CreateIndex"]
    assert ops[-1].statements() == [
        'CREATE INDEX docs_title_lower ON docs USING btree ((lower("title")), id)'
    ]


# ------------------------------------------------------------------ random schemas

MOOD_LABELS = ["a", "b", "c", "d"]
FAMILIES = {
    "c_num": ["integer", "bigint", "numeric(10,2)", "text"],
    "c_txt": ["text", "character varying(20)", "mood"],
    "c_flag": ["boolean", "text"],
    "c_doc": ["jsonb", "text"],
    "c_list": ["integer[]", "bigint[]", "text[]", "mood[]"],
    "c_when": ["timestamp with time zone", "date"],
}
DEFAULTS = {
    "integer": ["42", "-1"], "bigint": ["7"], "numeric(10,2)": ["1.50"],
    "text": ["'x'::text", "'it''s'"], "character varying(20)": ["'v'::character varying"],
    "boolean": ["true", "false"], "jsonb": ["'{\"a\": 1}'::jsonb"],
    "integer[]": ["'{1,2}'::integer[]"], "bigint[]": ["ARRAY[3]"], "text[]": ["'{}'::text[]"],
    "timestamp with time zone": ["now()"], "date": ["CURRENT_DATE"],
}


@st.composite
def columns(draw: st.DrawFn, labels: list[str] | None) -> list[Column]:
    out = [Column("id", "integer", not_null=True)]
    for name, family in FAMILIES.items():
        if not draw(st.booleans()):
            continue
        options = [t for t in family if labels or "mood" not in t]
        type_ = draw(st.sampled_from(options))
        defaults = DEFAULTS.get(type_, [])
        if type_ == "mood" and labels:
            defaults = [f"'{v}'::mood" for v in labels]
        default = draw(st.sampled_from([None, *defaults]))
        out.append(Column(name, type_, not_null=draw(st.booleans()), default=default))
    identity = draw(st.sampled_from([None, "plain", "always", "by default"]))
    if identity is not None:
        kind = None if identity == "plain" else identity
        start, step = draw(st.sampled_from([(None, None), (100, 10), (5, None)]))
        out.append(Column("c_ident", "bigint", not_null=kind is not None, identity=kind,
                          identity_start=start, identity_increment=step))
    generated = draw(st.sampled_from([None, "plain", "(id * 2)", "(id + 1)", "virtual"]))
    if generated is not None:
        expr = {"plain": None, "virtual": "(id * 2)"}.get(generated, generated)
        out.append(Column("c_gen", "integer", generated=expr, virtual=generated == "virtual"))
    if draw(st.booleans()):
        out.append(Column("c_vec", draw(st.sampled_from(["vector(3)", "vector(2)"])),
                          not_null=draw(st.booleans())))
    return out


# Index items beyond a bare column: an expression, operator classes (HNSW and
# IVFFlat on a vector column, a pattern btree on text), ordering.
ITEMS = {
    "c_vec": [("hnsw", "c_vec vector_cosine_ops"), ("hnsw", "c_vec vector_l2_ops"),
              ("ivfflat", "c_vec vector_l2_ops"), ("ivfflat", "c_vec vector_ip_ops")],
    "c_when": [("btree", "c_when DESC NULLS LAST"), ("btree", "c_when NULLS FIRST")],
    "id": [("btree", "(id * 2)"), ("btree", "(id + 1) DESC")],
}


@st.composite
def schemas(draw: st.DrawFn) -> Schema:
    labels = draw(st.none() | st.permutations(MOOD_LABELS).flatmap(
        lambda p: st.integers(1, 4).map(lambda n: list(p[:n]))))
    tables: dict[str, TableModel] = {}
    for key in ("t1", "t2"):
        if not draw(st.booleans()):
            continue
        cols = draw(columns(labels))
        schema = "public"
        fks: tuple[ForeignKey, ...] = ()
        if key == "t2":
            schema = draw(st.sampled_from(["public", "app"]))
            if "t1" in tables and draw(st.booleans()):
                cols.append(Column("ref", "integer"))
                action = draw(st.sampled_from(["no action", "cascade", "set null"]))
                fks = (ForeignKey(f"{key}_ref_fkey", ("ref",), "t1", ("id",), action),)
        names = [c.name for c in cols if c.generated is None]
        indexes: tuple[Index, ...] = ()
        target = draw(st.sampled_from([None, *(n for n in names[1:] if n != "c_vec")]))
        if target is not None:
            partial = draw(st.booleans())
            indexes = (Index(f"{key}_{target}_idx", (target,), draw(st.booleans()),
                             predicate=f"{target} IS NOT NULL" if partial else None),)
        item = draw(st.sampled_from([None, *(n for n in ITEMS if n in names)]))
        if item is not None:
            method, text_ = draw(st.sampled_from(ITEMS[item]))
            indexes += (Index(f"{key}_{item}_x", (text_,), method=method),)
        if any(c.type == "character varying(20)" for c in cols if c.name == "c_txt") \
                and draw(st.booleans()):
            indexes += (Index(f"{key}_c_txt_pattern", ("c_txt varchar_pattern_ops",)),)
        checks = ()
        num = next((c for c in cols if c.name == "c_num"), None)
        if num is not None and num.type != "text" and draw(st.booleans()):
            checks = (Check(f"{key}_c_num_check", "c_num > 0"),)
        table = TableModel(schema, key, tuple(cols), PrimaryKey(f"{key}_pkey", ("id",)), fks,
                           checks=checks, indexes=indexes)
        tables[table.key] = table
    enums = {"mood": Enum("public", "mood", tuple(labels))} if labels else {}
    spaces = {"public"} | {t.schema for t in tables.values()}
    vectors = any(c.type.startswith("vector") for t in tables.values() for c in t.columns)
    extensions = {"vector"} if vectors else set()
    extensions |= set(draw(st.sets(st.sampled_from(["ltree", "pg_trgm"]), max_size=1)))
    return Schema(frozenset(spaces), enums, tables, frozenset(extensions))


@st.composite
def renamed(draw: st.DrawFn, a: Schema) -> Schema:
    """``a`` with some tables and columns renamed and some nullability flipped."""
    tables: dict[str, TableModel] = {}
    names = {key: t.name + "_x" if draw(st.booleans()) else t.name for key, t in a.tables.items()}
    moved = {key: TableModel(t.schema, names[key], ()).key for key, t in a.tables.items()}
    for key, t in a.tables.items():
        name = names[key]
        cols = {c.name: c.name + "_x" for c in t.columns if c.name != "id" and draw(st.booleans())}
        columns = tuple(
            replace(c, name=cols.get(c.name, c.name), generated=rewrite_expr(c.generated, cols),
                    not_null=c.not_null if c.identity or c.name == "id" or not draw(st.booleans())
                    else not c.not_null)
            for c in t.columns
        )
        fks = tuple(replace(fk, columns=tuple(cols.get(x, x) for x in fk.columns),
                            ref_table=moved.get(fk.ref_table, fk.ref_table))
                    for fk in t.foreign_keys)
        indexes = tuple(replace(i, columns=tuple(rewrite_expr(x, cols) or x for x in i.columns),
                                predicate=rewrite_expr(i.predicate, cols)) for i in t.indexes)
        checks = tuple(replace(c, expression=rewrite_expr(c.expression, cols) or "")
                       for c in t.checks)
        table = TableModel(t.schema, name, columns, PrimaryKey(f"{name}_pkey", ("id",)), fks,
                           checks=checks, indexes=indexes)
        tables[table.key] = table
    enums = dict(a.enums)
    if "mood" in enums and draw(st.booleans()):
        values = list(enums["mood"].values)
        values.insert(draw(st.integers(0, len(values))), "new")
        enums["mood"] = replace(enums["mood"], values=tuple(values))
    return replace(a, tables=tables, enums=enums)


def answer(data: st.DataObject, a: Schema, b: Schema) -> tuple[list[Op], dict[str, str]]:
    """``diff(a, b)``, answering each rename question at random."""
    renames: dict[str, str] = {}
    while True:
        try:
            return diff(a, b, renames=renames), renames
        except AmbiguousRename as exc:
            taken = set(renames.values())
            for key in dict.fromkeys(k for k, _ in exc.candidates):
                if key in renames:
                    continue
                options = [new for k, new in exc.candidates if k == key and new not in taken]
                choice = data.draw(st.sampled_from(["", *options]))
                renames[key] = choice
                taken.add(choice)


@settings(max_examples=30)
@given(data=st.data())
def test_random_migrations(conn: Conn, data: st.DataObject) -> None:
    a = data.draw(schemas(), "a")
    b = data.draw(st.one_of(schemas(), renamed(a)), "b")
    # B declares dropped the extensions only A has (else they stay, by design).
    b = replace(b, drop_extensions=a.extensions - b.extensions)
    ops, _ = answer(data, a, b)
    build(conn, a)
    apply(conn, ops)
    migrated = introspect(conn)
    assert migrated == b
    assert diff(migrated, b) == []
    apply(conn, [op.reverse() for op in reversed(ops)])
    assert introspect(conn) == a
    build(conn, b)  # B from nothing
    assert introspect(conn) == migrated
