"""The guide's example schema: users, their sessions, prompts and an audit log."""

from datetime import datetime
from typing import Any, TypedDict

from pgbuild import Table, index, jsonb, text, timestamp


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


class Prompts(Table, name="claude_code_prompts"):
    id = text().primary_key()
    session_id = text().not_null().references(lambda: Sessions.id, on_delete="cascade")
    user_id = text().not_null().references(lambda: Users.id, on_delete="cascade")
    content = text()
    created_at = timestamp().default_now().not_null()


class AuditLogs(Table, name="audit_logs"):
    id = text().primary_key()
    user_id = text()
    action = text().not_null()
    table_name = text().not_null()
    record_id = text()
    changes = jsonb()
    created_at = timestamp().default_now().not_null()


TABLES = (Users, Sessions, Prompts, AuditLogs)

__all__ = ["TABLES", "AuditLogs", "Prompts", "Sessions", "UserMetadata", "Users", "datetime"]
