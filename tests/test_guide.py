"""The guide's walk-through (API.md §3), written the way a user writes it.

Every example runs against a real PostgreSQL on the guide's own tables
(``schema``: Users, Sessions, Prompts, AuditLogs). Each test checks what the
call returned *and* what is in the database afterwards; the latter is read
over a plain psycopg connection (``peek``), independently of pgbuild.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

# The guide's tables live in the repository's top-level ``schema`` package,
# which is not installed; make it importable however pytest is started.
from pgbuild import (
    Database,
    and_,
    coalesce,
    count,
    desc,
    eq,
    gte,
    is_null,
    jsonb_set,
    like,
    lt,
    sql,
)
from schema import AuditLogs, Prompts, Sessions, Users
from tests import guide_fixtures

# The guide's tables, emptied before each test, and a plain psycopg view of them.
guide_tables = guide_fixtures.guide_tables
empty_tables = guide_fixtures.empty_tables
raw = guide_fixtures.raw
peek = guide_fixtures.peek

NOW = datetime.now(UTC)


# -- fixtures




def add_users(db: Database, *rows: dict[str, Any]) -> None:
    db.insert(Users).values(list(rows)).execute()


def add_sessions(db: Database, *rows: dict[str, Any]) -> None:
    db.insert(Sessions).values(list(rows)).execute()


# -- insert: one, many, upsert


def test_insert_one_returns_the_new_row(db: Database, peek: Any) -> None:
    rows = (
        db.insert(Users)
        .values({"id": "user_123", "email": "user@example.com", "name": "John Doe"})
        .returning()
        .all()
    )

    assert len(rows) == 1
    user = rows[0]
    assert isinstance(user, Users)
    assert (user.id, user.email, user.name) == ("user_123", "user@example.com", "John Doe")
    assert peek("SELECT id, email, name FROM claude_code_users") == [
        {"id": "user_123", "email": "user@example.com", "name": "John Doe"}
    ]


def test_insert_many_returns_every_row_with_its_defaults(db: Database, peek: Any) -> None:
    before = datetime.now(UTC)
    rows = (
        db.insert(Users)
        .values(
            [
                {"id": "user_1", "email": "u1@example.com"},
                {"id": "user_2", "email": "u2@example.com"},
            ]
        )
        .returning()
        .all()
    )

    assert [(u.id, u.email, u.name) for u in rows] == [
        ("user_1", "u1@example.com", None),
        ("user_2", "u2@example.com", None),
    ]
    for user in rows:
        assert isinstance(user.created_at, datetime)
        assert user.created_at.tzinfo is not None
        assert user.created_at >= before - timedelta(seconds=5)
        assert user.last_login_at == user.created_at  # both now() of one statement
        assert user.metadata is None and user.deleted_at is None
    stored = peek("SELECT id, created_at FROM claude_code_users ORDER BY id")
    assert stored == [{"id": u.id, "created_at": u.created_at} for u in rows]


def test_upsert_updates_the_existing_row_on_email_conflict(db: Database, peek: Any) -> None:
    def upsert(name: str) -> Users:
        return (
            db.insert(Users)
            .values({"id": "user_1", "email": "ann@example.com", "name": name})
            .on_conflict_do_update(
                target=Users.email, set={"name": name, "last_login_at": datetime.now(UTC)}
            )
            .returning()
            .one()
        )

    first = upsert("Ann")
    second = upsert("Annie")

    assert (first.id, first.name) == ("user_1", "Ann")
    assert (second.id, second.name) == ("user_1", "Annie")
    assert second.last_login_at > first.last_login_at
    assert second.created_at == first.created_at
    assert peek("SELECT id, name FROM claude_code_users") == [{"id": "user_1", "name": "Annie"}]


def test_upsert_keeps_the_existing_id_when_a_new_id_conflicts_on_email(
    db: Database, peek: Any
) -> None:
    add_users(db, {"id": "user_1", "email": "ann@example.com", "name": "Ann"})

    user = (
        db.insert(Users)
        .values({"id": "user_2", "email": "ann@example.com", "name": "Annie"})
        .on_conflict_do_update(target=Users.email, set={"name": "Annie"})
        .returning()
        .one()
    )

    assert (user.id, user.name) == ("user_1", "Annie")
    assert peek("SELECT id, name FROM claude_code_users") == [{"id": "user_1", "name": "Annie"}]


def test_on_conflict_do_nothing_returns_zero_and_keeps_the_row(db: Database, peek: Any) -> None:
    add_users(db, {"id": "user_1", "email": "ann@example.com", "name": "Ann"})
    row = {"id": "user_1", "email": "ann@example.com", "name": "Someone else"}

    inserted = db.insert(Users).values(row).on_conflict_do_nothing().execute()

    assert inserted == 0
    assert peek("SELECT id, name FROM claude_code_users") == [{"id": "user_1", "name": "Ann"}]


def test_on_conflict_do_nothing_inserts_when_there_is_no_conflict(
    db: Database, peek: Any
) -> None:
    row = {"id": "user_1", "email": "ann@example.com", "name": "Ann"}

    inserted = db.insert(Users).values(row).on_conflict_do_nothing().execute()

    assert inserted == 1
    assert peek("SELECT id, name FROM claude_code_users") == [{"id": "user_1", "name": "Ann"}]


# -- select


def test_find_by_id_returns_a_typed_users_row(db: Database) -> None:
    add_users(
        db,
        {"id": "user_1", "email": "ann@example.com", "name": "Ann"},
        {"id": "user_2", "email": "bob@example.com", "name": "Bob"},
    )

    user = db.select().from_(Users).where(eq(Users.id, "user_2")).first()

    assert isinstance(user, Users)
    assert (user.id, user.email, user.name) == ("user_2", "bob@example.com", "Bob")
    assert isinstance(user.created_at, datetime) and user.created_at.tzinfo is not None
    assert user.deleted_at is None


def test_find_by_missing_id_returns_none(db: Database) -> None:
    add_users(db, {"id": "user_1", "email": "ann@example.com"})

    assert db.select().from_(Users).where(eq(Users.id, "nobody")).first() is None


def test_find_with_conditions_filters_and_orders_newest_first(db: Database) -> None:
    jan_2024 = datetime(2024, 1, 1, tzinfo=UTC)
    old_login = datetime(2023, 6, 1, tzinfo=UTC)
    add_users(
        db,
        {"id": "a", "email": "a@company.com", "created_at": NOW - timedelta(days=3),
         "last_login_at": jan_2024},  # boundary: gte includes it
        {"id": "b", "email": "b@company.com", "created_at": NOW - timedelta(days=1),
         "last_login_at": NOW},
        {"id": "c", "email": "c@company.com", "created_at": NOW - timedelta(days=2),
         "last_login_at": NOW},
        {"id": "d", "email": "d@company.com", "created_at": NOW, "last_login_at": old_login},
        {"id": "e", "email": "e@example.com", "created_at": NOW, "last_login_at": NOW},
        {"id": "f", "email": "f@company.com.evil", "created_at": NOW, "last_login_at": NOW},
    )

    users = (
        db.select()
        .from_(Users)
        .where(and_(gte(Users.last_login_at, jan_2024), like(Users.email, "%@company.com")))
        .order_by(desc(Users.created_at))
        .all()
    )

    assert [u.id for u in users] == ["b", "c", "a"]


def test_pagination_page_two_is_rows_twenty_to_thirty_nine(db: Database) -> None:
    add_users(db, *({"id": f"user_{i:02d}", "email": f"u{i}@example.com"} for i in range(45)))

    page = db.select().from_(Users).order_by(Users.id).limit(20).offset(20).all()

    assert [u.id for u in page] == [f"user_{i:02d}" for i in range(20, 40)]


def test_pagination_last_page_holds_the_remaining_rows(db: Database) -> None:
    add_users(db, *({"id": f"user_{i:02d}", "email": f"u{i}@example.com"} for i in range(45)))

    page = db.select().from_(Users).order_by(Users.id).limit(20).offset(40).all()

    assert [u.id for u in page] == [f"user_{i:02d}" for i in range(40, 45)]


def test_count_as_a_named_field(db: Database) -> None:
    add_users(db, *({"id": f"user_{i}", "email": f"u{i}@example.com"} for i in range(7)))

    total = db.select(total=count()).from_(Users).one().total

    assert total == 7
    assert isinstance(total, int)


def test_selecting_columns_returns_tuples(db: Database) -> None:
    add_users(
        db,
        {"id": "user_2", "email": "bob@example.com", "name": "Bob"},
        {"id": "user_1", "email": "ann@example.com", "name": "Ann"},
    )

    rows = db.select(Users.id, Users.email).from_(Users).order_by(Users.id).all()

    assert rows == [("user_1", "ann@example.com"), ("user_2", "bob@example.com")]
    assert all(type(r) is tuple for r in rows)


def test_left_join_gives_none_for_a_user_without_sessions(db: Database) -> None:
    add_users(
        db,
        {"id": "user_1", "email": "ann@example.com"},
        {"id": "user_2", "email": "bob@example.com"},
    )
    add_sessions(
        db,
        {"id": "s1", "user_id": "user_1", "title": "first"},
        {"id": "s2", "user_id": "user_1", "title": "second"},
    )

    rows = (
        db.select()
        .from_(Users)
        .left_join(Sessions, eq(Users.id, Sessions.user_id))
        .order_by(Users.id, Sessions.id)
        .all()
    )

    assert [(r.claude_code_users.id, r[Sessions] and r[Sessions].id) for r in rows] == [
        ("user_1", "s1"),
        ("user_1", "s2"),
        ("user_2", None),
    ]
    assert isinstance(rows[0].claude_code_sessions, Sessions)
    assert rows[0].claude_code_sessions.title == "first"
    assert rows[2].claude_code_sessions is None
    assert rows[2][Sessions] is None
    assert rows[2][Users].email == "bob@example.com"


def test_soft_deleted_users_are_filtered_out(db: Database, peek: Any) -> None:
    add_users(
        db,
        {"id": "user_1", "email": "ann@example.com"},
        {"id": "user_2", "email": "bob@example.com"},
        {"id": "user_3", "email": "cid@example.com"},
    )

    deleted = db.update(Users).set({"deleted_at": NOW}).where(eq(Users.id, "user_2")).execute()
    active = db.select().from_(Users).where(is_null(Users.deleted_at)).order_by(Users.id).all()

    assert deleted == 1
    assert [u.id for u in active] == ["user_1", "user_3"]
    assert peek("SELECT id FROM claude_code_users WHERE deleted_at IS NOT NULL") == [
        {"id": "user_2"}
    ]


def test_count_helper_counts_matching_rows(db: Database) -> None:
    add_users(
        db,
        {"id": "user_1", "email": "ann@example.com"},
        {"id": "user_2", "email": "bob@example.com", "deleted_at": NOW},
        {"id": "user_3", "email": "cid@example.com"},
    )

    assert db.count(Users, is_null(Users.deleted_at)) == 2
    assert db.count(Users) == 3


# -- update


def test_update_returns_the_updated_rows(db: Database, peek: Any) -> None:
    add_users(
        db,
        {"id": "user_1", "email": "ann@example.com", "name": "Ann"},
        {"id": "user_2", "email": "bob@example.com", "name": "Bob"},
    )
    now = datetime.now(UTC)

    rows = (
        db.update(Users)
        .set({"name": "New Name", "last_login_at": now})
        .where(eq(Users.id, "user_1"))
        .returning()
        .all()
    )

    assert [(u.id, u.name, u.last_login_at) for u in rows] == [("user_1", "New Name", now)]
    assert peek("SELECT id, name, last_login_at = %s AS touched FROM claude_code_users"
                " ORDER BY id", now) == [
        {"id": "user_1", "name": "New Name", "touched": True},
        {"id": "user_2", "name": "Bob", "touched": False},
    ]


def test_jsonb_set_sets_a_nested_key(db: Database, peek: Any) -> None:
    add_users(
        db, {"id": "user_1", "email": "ann@example.com", "metadata": {"preferences": {}}}
    )

    user = (
        db.update(Users)
        .set({"metadata": jsonb_set(coalesce(Users.metadata, sql("'{{}}'::jsonb")),
                                    ["preferences", "theme"], "dark")})
        .where(eq(Users.id, "user_1"))
        .returning()
        .one()
    )

    assert user.metadata == {"preferences": {"theme": "dark"}}
    assert peek("SELECT metadata FROM claude_code_users") == [
        {"metadata": {"preferences": {"theme": "dark"}}}
    ]


def test_jsonb_set_keeps_the_other_keys(db: Database, peek: Any) -> None:
    metadata = {"preferences": {"font": "mono"}, "lastDevice": "laptop"}
    add_users(db, {"id": "user_1", "email": "ann@example.com", "metadata": metadata})

    db.update(Users).set(
        {"metadata": jsonb_set(Users.metadata, ["preferences", "theme"], "dark")}
    ).where(eq(Users.id, "user_1")).execute()

    assert peek("SELECT metadata FROM claude_code_users") == [
        {"metadata": {"preferences": {"font": "mono", "theme": "dark"}, "lastDevice": "laptop"}}
    ]


def test_jsonb_set_on_null_metadata_starts_from_the_coalesced_empty_object(
    db: Database, peek: Any
) -> None:
    add_users(db, {"id": "user_1", "email": "ann@example.com"})

    user = (
        db.update(Users)
        .set({"metadata": jsonb_set(coalesce(Users.metadata, sql("'{{}}'::jsonb")),
                                    ["theme"], "dark")})
        .where(eq(Users.id, "user_1"))
        .returning()
        .one()
    )

    assert user.metadata == {"theme": "dark"}
    assert peek("SELECT metadata FROM claude_code_users") == [{"metadata": {"theme": "dark"}}]


def _rotate(db: Database, uid: str, old: str, new: str) -> list[Users]:
    return (
        db.update(Users)
        .set({"refresh_token": new})
        .where(and_(eq(Users.id, uid), eq(Users.refresh_token, old)))
        .returning()
        .all()
    )


def test_token_rotation_with_the_current_token_updates_the_row(db: Database, peek: Any) -> None:
    add_users(db, {"id": "user_1", "email": "ann@example.com", "refresh_token": "tok-1"})

    rows = _rotate(db, "user_1", old="tok-1", new="tok-2")

    assert [(u.id, u.refresh_token) for u in rows] == [("user_1", "tok-2")]
    assert peek("SELECT refresh_token FROM claude_code_users") == [{"refresh_token": "tok-2"}]


def test_token_rotation_with_a_stale_token_updates_nothing(db: Database, peek: Any) -> None:
    add_users(db, {"id": "user_1", "email": "ann@example.com", "refresh_token": "tok-2"})

    rows = _rotate(db, "user_1", old="tok-1", new="tok-3")

    assert rows == []
    assert peek("SELECT refresh_token FROM claude_code_users") == [{"refresh_token": "tok-2"}]


def test_update_without_where_updates_every_row(db: Database, peek: Any) -> None:
    add_users(
        db,
        {"id": "user_1", "email": "ann@example.com", "name": "Ann"},
        {"id": "user_2", "email": "bob@example.com", "name": "Bob"},
        {"id": "user_3", "email": "cid@example.com"},
    )

    updated = db.update(Users).set({"refresh_token": None, "name": "anon"}).execute()

    assert updated == 3
    assert peek("SELECT DISTINCT name, refresh_token FROM claude_code_users") == [
        {"name": "anon", "refresh_token": None}
    ]


# -- delete


def test_delete_removes_only_the_matching_old_sessions(db: Database, peek: Any) -> None:
    cutoff = NOW - timedelta(days=30)
    add_users(
        db,
        {"id": "user_1", "email": "ann@example.com"},
        {"id": "user_2", "email": "bob@example.com"},
    )
    add_sessions(
        db,
        {"id": "old_1", "user_id": "user_1", "last_active_at": cutoff - timedelta(days=1)},
        {"id": "old_2", "user_id": "user_1", "last_active_at": cutoff - timedelta(days=90)},
        {"id": "at_cutoff", "user_id": "user_1", "last_active_at": cutoff},
        {"id": "fresh", "user_id": "user_1", "last_active_at": NOW},
        {"id": "other", "user_id": "user_2", "last_active_at": cutoff - timedelta(days=1)},
    )

    deleted = (
        db.delete(Sessions)
        .where(and_(eq(Sessions.user_id, "user_1"), lt(Sessions.last_active_at, cutoff)))
        .execute()
    )

    assert deleted == 2
    assert peek("SELECT id FROM claude_code_sessions ORDER BY id") == [
        {"id": "at_cutoff"},
        {"id": "fresh"},
        {"id": "other"},
    ]


def test_delete_returning_gives_the_deleted_rows(db: Database, peek: Any) -> None:
    add_users(
        db,
        {"id": "user_1", "email": "ann@example.com", "name": "Ann"},
        {"id": "user_2", "email": "bob@example.com", "name": "Bob"},
    )

    rows = db.delete(Users).where(eq(Users.id, "user_1")).returning().all()

    assert [(u.id, u.email, u.name) for u in rows] == [("user_1", "ann@example.com", "Ann")]
    assert isinstance(rows[0], Users)
    assert peek("SELECT id FROM claude_code_users") == [{"id": "user_2"}]


def test_deleting_a_user_cascades_to_its_sessions_and_prompts(db: Database, peek: Any) -> None:
    add_users(
        db,
        {"id": "user_1", "email": "ann@example.com"},
        {"id": "user_2", "email": "bob@example.com"},
    )
    add_sessions(db, {"id": "s1", "user_id": "user_1"}, {"id": "s2", "user_id": "user_2"})
    db.insert(Prompts).values(
        [
            {"id": "p1", "session_id": "s1", "user_id": "user_1", "content": "hi"},
            {"id": "p2", "session_id": "s2", "user_id": "user_2", "content": "yo"},
        ]
    ).execute()

    deleted = db.delete(Users).where(eq(Users.id, "user_1")).execute()

    assert deleted == 1
    assert peek("SELECT id FROM claude_code_sessions") == [{"id": "s2"}]
    assert peek("SELECT id FROM claude_code_prompts") == [{"id": "p2"}]


# -- raw SQL


STATS = """SELECT u.id, u.email, COUNT(s.id)::int AS session_count
    FROM claude_code_users u LEFT JOIN claude_code_sessions s ON u.id = s.user_id
    WHERE u.created_at >= {start} GROUP BY u.id ORDER BY session_count DESC LIMIT {limit}"""


def _seed_stats(db: Database) -> datetime:
    start_date = NOW - timedelta(days=7)
    add_users(
        db,
        {"id": "one", "email": "one@example.com", "created_at": NOW - timedelta(days=1)},
        {"id": "three", "email": "three@example.com", "created_at": NOW - timedelta(days=2)},
        {"id": "none", "email": "none@example.com", "created_at": NOW},
        {"id": "old", "email": "old@example.com", "created_at": start_date - timedelta(days=1)},
    )
    add_sessions(
        db,
        *({"id": f"three_{i}", "user_id": "three"} for i in range(3)),
        {"id": "one_0", "user_id": "one"},
        *({"id": f"old_{i}", "user_id": "old"} for i in range(5)),
    )
    return start_date


def test_raw_sql_stats_query_binds_parameters_and_gives_named_rows(db: Database) -> None:
    start_date = _seed_stats(db)

    stats = db.execute(sql(STATS, start=start_date, limit=10)).all()

    assert [(r.id, r.email, r.session_count) for r in stats] == [
        ("three", "three@example.com", 3),
        ("one", "one@example.com", 1),
        ("none", "none@example.com", 0),
    ]


def test_raw_sql_limit_parameter_limits_the_rows(db: Database) -> None:
    start_date = _seed_stats(db)

    stats = db.execute(sql(STATS, start=start_date, limit=2)).all()

    assert [r.id for r in stats] == ["three", "one"]


def test_raw_sql_value_is_never_spliced_into_the_statement(db: Database, peek: Any) -> None:
    add_users(db, {"id": "user_1", "email": "ann@example.com"})
    hostile = "x'; DROP TABLE claude_code_users; --"

    rows = db.execute(sql("SELECT id FROM claude_code_users WHERE email = {e}", e=hostile)).all()

    assert rows == []
    assert peek("SELECT id FROM claude_code_users") == [{"id": "user_1"}]


# -- helpers


def test_check_health_is_true_for_a_live_server(db: Database) -> None:
    assert db.check_health()


# -- audit trail


def test_audit_trail_records_old_and_new_values_in_one_transaction(
    db: Database, peek: Any
) -> None:
    add_users(db, {"id": "user_1", "email": "ann@example.com", "name": "Ann"})

    with db.transaction() as tx:
        old = tx.select().from_(Users).where(eq(Users.id, "user_1")).one()
        new = (
            tx.update(Users)
            .set({"name": "Annie"})
            .where(eq(Users.id, "user_1"))
            .returning()
            .one()
        )
        tx.insert(AuditLogs).values(
            {
                "id": "log_1",
                "user_id": "user_1",
                "action": "update",
                "table_name": "claude_code_users",
                "record_id": "user_1",
                "changes": {"old": {"name": old.name}, "new": {"name": new.name},
                            "tags": ["rename", 1, None, True]},
            }
        ).execute()

    log = db.select().from_(AuditLogs).where(eq(AuditLogs.record_id, "user_1")).one()
    expected = {"old": {"name": "Ann"}, "new": {"name": "Annie"},
                "tags": ["rename", 1, None, True]}
    assert (log.action, log.table_name, log.user_id) == ("update", "claude_code_users", "user_1")
    assert log.changes == expected
    assert peek("SELECT changes FROM audit_logs") == [{"changes": expected}]
    assert peek("SELECT name FROM claude_code_users") == [{"name": "Annie"}]
