"""The guide's example schema: users, their sessions, prompts and an audit log."""

from datetime import datetime
from typing import Any, TypedDict

from pgbuild import Table, index, jsonb, many, one, relations, text, timestamp


class UserMetadata(TypedDict, total=False):
    preferences: dict[str, Any]
    lastDevice: str


class Users(Table, name="claude_code_users"):
    id = text().primary_key()
    email = text().not_null().unique()
    name = text()
    metadata = jsonb(UserMetadata)
    refresh_token = text()
    created_at = timestamp().default_now().not_null()
    last_login_at = timestamp().default_now().not_null()
    deleted_at = timestamp()

    __indexes__ = (index("idx_users_email").on(email),)


class Sessions(Table, name="claude_code_sessions"):
    id = text().primary_key()
    user_id = text().not_null().references(lambda: Users.id, on_delete="cascade")
    title = text()
    created_at = timestamp().default_now().not_null()
    last_active_at = timestamp().default_now().not_null()

    # Relational queries look sessions up by user: index the foreign key.
    __indexes__ = (index("idx_sessions_user_id").on(user_id),)


class Prompts(Table, name="claude_code_prompts"):
    id = text().primary_key()
    session_id = text().not_null().references(lambda: Sessions.id, on_delete="cascade")
    user_id = text().not_null().references(lambda: Users.id, on_delete="cascade")
    content = text()
    created_at = timestamp().default_now().not_null()

    __indexes__ = (index("idx_prompts_session_id").on(session_id),)


class AuditLogs(Table, name="audit_logs"):
    id = text().primary_key()
    user_id = text()
    action = text().not_null()
    table_name = text().not_null()
    record_id = text()
    changes = jsonb()
    created_at = timestamp().default_now().not_null()


TABLES = (Users, Sessions, Prompts, AuditLogs)

users_relations = relations(Users, sessions=many(Sessions))
sessions_relations = relations(
    Sessions,
    user=one(Users, fields=[Sessions.user_id], references=[Users.id]),
    prompts=many(Prompts),
)
prompts_relations = relations(
    Prompts,
    session=one(Sessions, fields=[Prompts.session_id], references=[Sessions.id]),
    user=one(Users, fields=[Prompts.user_id], references=[Users.id]),
)

__all__ = ["TABLES", "AuditLogs", "Prompts", "Sessions", "UserMetadata", "Users", "datetime"]
