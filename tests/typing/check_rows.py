"""Typed row construction (pgbuild.mypy_plugin), checked by mypy --strict in
tests/test_typing.py: ``Users(...)`` takes the table's columns as keywords.

Each ``# type: ignore[code]`` asserts an error (an unused ignore fails --strict);
tests/test_typing.py also checks the messages of the three kinds of error.
"""

import enum
from datetime import datetime
from typing import assert_type
from uuid import UUID, uuid4

from pgbuild import (
    Database,
    Table,
    bigserial,
    integer,
    pg_enum,
    sql,
    text,
    timestamp,
    uuid,
)
from schema import Sessions, Users


class Mood(enum.Enum):
    SAD = "sad"
    OK = "ok"


mood = pg_enum("mood", Mood)


class Notes(Table, name="notes"):
    id = bigserial().primary_key()
    key = uuid().default_fn(uuid4).not_null()
    body = text().not_null()
    words = integer().generated_always_as(sql("1"))
    feeling = mood().not_null()
    edited_at = timestamp().not_null().on_update(sql("now()"))
    version = integer().not_null().generated_by_default_as_identity()


# Required columns only; nullable columns and columns with defaults may be left out.
user = Users(id="u1", email="a@b.c")
assert_type(user, Users)
assert_type(user.email, str)
Users(id="u1", email="a@b.c", name=None, metadata={"lastDevice": "ios"})
Users(id="u1", email="a@b.c", created_at=datetime(2024, 1, 1))
Sessions(id="s1", user_id="u1")

Notes(body="hello", feeling=Mood.OK)
Notes(body="hello", feeling=Mood.OK, key=UUID(int=1), id=3, version=4)

# An unknown column.
Users(id="u1", email="a@b.c", nmae="Ann")  # type: ignore[call-arg]
# A value of the wrong type.
Users(id="u1", email=42)  # type: ignore[arg-type]
Notes(body="hello", feeling="ok")  # type: ignore[arg-type]
# A missing NOT NULL column without a default.
Users(id="u1")  # type: ignore[call-arg]
Notes(feeling=Mood.OK)  # type: ignore[call-arg]
# A stored generated column is never written.
Notes(body="x", feeling=Mood.OK, words=1)  # type: ignore[call-arg]
# Positional values: columns are keyword-only.
Users("u1", "a@b.c")  # type: ignore[call-arg]


def insert_rows(db: Database) -> None:
    # values() takes typed rows beside dicts.
    db.insert(Users).values(Users(id="u2", email="b@c.d")).execute()
    db.insert(Users).values([Users(id="u3", email="c@d.e"), {"id": "u4", "email": "d@e.f"}])
