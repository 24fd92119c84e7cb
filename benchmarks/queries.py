"""Every case's statement, once per contender: pgbuild's builders, the SQL a
person would write by hand for raw psycopg, SQLAlchemy Core statements and
PyPika builders. The sync, async and compile-only cases all use these, so
the contenders of a case provably run the same statement.

Each builder function builds the statement from scratch, as application
code does per request ("ad hoc"); the ``*_prepared`` ones are built once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pgbuild import and_, coalesce, desc, eq, gte, jsonb_set, like, placeholder, sql
from schema import AuditLogs, Sessions, Users

SINCE = datetime(2024, 1, 1, tzinfo=UTC)
DOMAIN = "%@company.com"
PAGE = 20  # users per page
LATEST = 10  # sessions per user in the relational cases

# -- pgbuild: ``s`` is a Database, an AsyncDatabase or a transaction


def pg_point(s: Any, uid: str) -> Any:
    return s.select().from_(Users).where(eq(Users.id, uid))


def pg_point_prepared(s: Any) -> Any:
    return s.select().from_(Users).where(eq(Users.id, placeholder("id"))).prepare()


def pg_page(s: Any) -> Any:
    return (
        s.select()
        .from_(Users)
        .where(and_(gte(Users.last_login_at, SINCE), like(Users.email, DOMAIN)))
        .order_by(desc(Users.created_at))
        .limit(PAGE)
    )


def pg_insert(s: Any, row: dict[str, Any]) -> Any:
    return s.insert(Users).values(row).returning()


def pg_upsert(s: Any, row: dict[str, Any], now: datetime) -> Any:
    return (
        s.insert(Users)
        .values(row)
        .on_conflict_do_update(target=Users.email, set={"name": row["name"], "last_login_at": now})
        .returning()
    )


def pg_update(s: Any, uid: str, name: str, now: datetime) -> Any:
    return (
        s.update(Users).set({"name": name, "last_login_at": now}).where(eq(Users.id, uid))
        .returning()
    )


def pg_jsonb_update(s: Any, uid: str) -> Any:
    return (
        s.update(Users)
        .set({"metadata": jsonb_set(coalesce(Users.metadata, sql("'{{}}'::jsonb")),
                                    ["preferences", "theme"], "dark")})
        .where(eq(Users.id, uid))
    )


def pg_bulk(s: Any, rows: list[dict[str, Any]]) -> Any:
    return s.insert(AuditLogs).values(rows)


def pg_user_with_sessions(s: Any, uid: str) -> Any:
    return s.query(Users).find_first(
        where=eq(Users.id, uid),
        with_={"sessions": {"order_by": desc(Sessions.created_at), "limit": LATEST}},
    )


def pg_users_with_sessions(s: Any) -> Any:
    return s.query(Users).find_many(
        order_by=desc(Users.created_at),
        limit=PAGE,
        with_={"sessions": {"order_by": desc(Sessions.created_at), "limit": LATEST}},
    )


# -- raw psycopg: the same statements, by hand

USER_COLUMNS = (
    "id, email, name, metadata, refresh_token, created_at, last_login_at, deleted_at"
)
SESSION_COLUMNS = "id, user_id, title, created_at, last_active_at"
AUDIT_COLUMNS = ("id", "user_id", "action", "table_name", "record_id")

RAW_POINT = f"SELECT {USER_COLUMNS} FROM claude_code_users WHERE id = %s"
RAW_PAGE = (
    f"SELECT {USER_COLUMNS} FROM claude_code_users"
    " WHERE last_login_at >= %s AND email LIKE %s ORDER BY created_at DESC LIMIT %s"
)
RAW_INSERT = (
    f"INSERT INTO claude_code_users (id, email, name) VALUES (%s, %s, %s) RETURNING {USER_COLUMNS}"
)
RAW_UPSERT = (
    "INSERT INTO claude_code_users (id, email, name) VALUES (%s, %s, %s)"
    " ON CONFLICT (email) DO UPDATE SET name = %s, last_login_at = %s"
    f" RETURNING {USER_COLUMNS}"
)
RAW_UPDATE = (
    "UPDATE claude_code_users SET name = %s, last_login_at = %s WHERE id = %s"
    f" RETURNING {USER_COLUMNS}"
)
RAW_BULK = (
    f"INSERT INTO audit_logs ({', '.join(AUDIT_COLUMNS)}) VALUES (%s, %s, %s, %s, %s)"
)
RAW_COPY = f"COPY audit_logs ({', '.join(AUDIT_COLUMNS)}) FROM STDIN"
RAW_USERS_PAGE = f"SELECT {USER_COLUMNS} FROM claude_code_users ORDER BY created_at DESC LIMIT %s"
RAW_SESSIONS_OF = (
    f"SELECT {SESSION_COLUMNS} FROM claude_code_sessions"
    " WHERE user_id = %s ORDER BY created_at DESC LIMIT %s"
)
_RAW_TREE = (
    "SELECT u.id, u.email, u.name, u.metadata, u.refresh_token, u.created_at,"
    " u.last_login_at, u.deleted_at,"
    " (SELECT coalesce(json_agg(s ORDER BY s.created_at DESC), '[]') FROM"
    f" (SELECT {SESSION_COLUMNS} FROM claude_code_sessions"
    "   WHERE user_id = u.id ORDER BY created_at DESC LIMIT %s) AS s) AS sessions"
    " FROM claude_code_users AS u"
)
RAW_TREE_ONE = _RAW_TREE + " WHERE u.id = %s"
RAW_TREE_PAGE = _RAW_TREE + " ORDER BY u.created_at DESC LIMIT %s"


def audit_tuples(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["id"], r["user_id"], r["action"], r["table_name"], r["record_id"]) for r in rows]


# -- result fingerprints: what must agree between contenders


def _get(row: Any, name: str, index: int) -> Any:
    """A column of a row: pgbuild and SQLAlchemy rows by attribute, tuples by index."""
    return getattr(row, name) if hasattr(row, name) else row[index]


def canon_user(row: Any) -> Any:
    return None if row is None else (_get(row, "id", 0), _get(row, "email", 1))


def canon_users(rows: Any) -> Any:
    return [canon_user(r) for r in rows]


def canon_name(rows: Any) -> Any:
    """Writes: the name the statement wrote (ids carry each contender's tag)."""
    rows = list(rows) if isinstance(rows, list) else [rows]
    return [_get(r, "name", 2) for r in rows]


def canon_tree(user: Any) -> Any:
    """pgbuild's nested rows: (user id, [session ids])."""
    return None if user is None else (user.id, [s.id for s in user.sessions])


def canon_trees(users: Any) -> Any:
    return [canon_tree(u) for u in users]


def canon_pair(pair: Any) -> Any:
    """N+1 results: (user row, [session rows])."""
    user, sessions = pair
    return None if user is None else (_get(user, "id", 0), [_get(s, "id", 0) for s in sessions])


def canon_pairs(pairs: Any) -> Any:
    return [canon_pair(p) for p in pairs]


def canon_json_tree(row: Any) -> Any:
    """Hand-written json_agg rows: the sessions are a list of dicts."""
    return None if row is None else (row[0], [s["id"] for s in row[-1]])


def canon_json_trees(rows: Any) -> Any:
    return [canon_json_tree(r) for r in rows]
