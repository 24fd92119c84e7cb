"""The seeded dataset: the guide's users and sessions, deterministic.

``users`` users, half of them ``@company.com`` (the filtered page's
``LIKE``), logins spread over 2023-2025 (its ``>=``), distinct creation
times (its ``ORDER BY``); each user has 5 to 15 sessions, 10 on average, so
"the 10 latest sessions" cuts some users' lists and not others. Audit logs
start empty: the bulk insert fills them and each batch empties them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from pgbuild import Database
from schema import AuditLogs, Sessions, Users

TABLES = (Users, Sessions, AuditLogs)
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Dataset:
    """What the cases draw their ids and emails from."""

    user_ids: tuple[str, ...]
    emails: tuple[str, ...]
    sessions: int

    @property
    def users(self) -> int:
        return len(self.user_ids)

    def pick(self, i: int) -> int:
        """The ``i``-th user to touch: a fixed stride through all users, so
        consecutive operations hit different rows (and pages)."""
        return (i * 7919) % len(self.user_ids)


def sessions_of(i: int) -> int:
    return 5 + (i * 7) % 11


def seed(url: str, users: int) -> Dataset:
    """(Re)create the tables (pgbuild's DDL for the guide's schema) and load
    the rows over COPY, then ``VACUUM ANALYZE`` so every contender meets the
    same planner statistics and visibility map.

    Autovacuum is off for these tables: it would start at random moments of
    the write cases; the cases vacuum explicitly, outside the timed code."""
    with Database(url, min_size=1, max_size=1) as db:
        db.drop_tables(*TABLES)
        db.create_tables(*TABLES)
    ids, emails, sessions = [], [], 0
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("claude_code_users", "claude_code_sessions", "audit_logs"):
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(
                "COPY claude_code_users (id, email, name, metadata, created_at, last_login_at)"
                " FROM STDIN"
            ) as copy:
                for i in range(users):
                    uid = f"user_{i:05d}"
                    domain = "company.com" if i % 2 == 0 else "example.org"
                    email = f"user{i}@{domain}"
                    metadata = Jsonb({"preferences": {"theme": "light"}}) if i % 3 == 0 else None
                    created = EPOCH + timedelta(minutes=7 * i)
                    login = EPOCH + timedelta(hours=(i * 37) % 21000)
                    copy.write_row((uid, email, f"User {i}", metadata, created, login))
                    ids.append(uid)
                    emails.append(email)
            with cur.copy(
                "COPY claude_code_sessions (id, user_id, title, created_at, last_active_at)"
                " FROM STDIN"
            ) as copy:
                for i, uid in enumerate(ids):
                    start = EPOCH + timedelta(minutes=7 * i)
                    for k in range(sessions_of(i)):
                        created = start + timedelta(hours=5 * k, minutes=i % 5)
                        copy.write_row(
                            (f"sess_{i:05d}_{k:02d}", uid, f"Session {k}", created,
                             created + timedelta(hours=1))
                        )
                        sessions += 1
        conn.execute("VACUUM ANALYZE claude_code_users, claude_code_sessions, audit_logs")
        try:  # write the load out now, not during the first cases
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass
    return Dataset(tuple(ids), tuple(emails), sessions)


def audit_rows(tag: str, count: int) -> list[dict[str, str]]:
    """The bulk insert's input: ``count`` audit log rows as dicts, the shape a
    program typically has in hand (each contender converts what it must, in
    its timed code)."""
    return [
        {
            "id": f"{tag}-{k:06d}",
            "user_id": f"user_{k % 1000:05d}",
            "action": "update" if k % 3 else "create",
            "table_name": "claude_code_users",
            "record_id": f"rec_{k:06d}",
        }
        for k in range(count)
    ]
