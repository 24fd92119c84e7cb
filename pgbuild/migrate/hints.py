"""Hints files: answers to the differ's rename questions, for a whole run.

::

    # hints.toml
    [renames]
    "users.nickname" = "handle"     # column users.nickname is renamed to handle
    "old_table" = "new_table"       # a table (qualified outside public: "app.t")
    "users.legacy" = ""             # not a rename: drop users.legacy, add the new column
    "enum:mood" = "feeling"         # an enum; "enum:mood:sad" = "unhappy" for a value
    "schema:app" = "core"           # a schema

``python -m pgbuild.migrate generate --hints hints.toml`` (and ``push``)
take the answers from the file, so a run in CI never needs a terminal.
The keys and values are those of ``--rename key=value``; a ``--rename``
given as well wins over the file's entry for the same key.

An entry about something the schema before the change does not hold
answers no question (the rename happened in an earlier migration, the
file was kept): it is ignored and reported as such. An entry that does
answer a question but cannot be right (a rename to a column the new schema
does not have) is an error naming the file and the entry.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgbuild.errors import PgbuildError

if TYPE_CHECKING:
    from pgbuild.migrate.model import Schema

__all__ = ["Hints", "load_hints"]

_EXAMPLE = '[renames]\n"users.nickname" = "handle"   # or "" for a drop and an add'


@dataclass(frozen=True)
class Hints:
    """The ``[renames]`` of one hints file, and where they came from."""

    path: Path
    renames: Mapping[str, str]

    def entry(self, key: str) -> str:
        """One entry as written in the file, for messages."""
        return f'{self.path}: [renames] "{key}" = "{self.renames.get(key, "")}"'

    def answers(
        self, before: Schema, given: Mapping[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> dict[str, str]:
        """The file's renames that answer a question about ``before`` (the
        schema being changed), merged under ``given`` (``--rename``);
        entries that answer nothing are reported through ``echo``."""
        out: dict[str, str] = {}
        for key, value in self.renames.items():
            if given is not None and key in given:
                continue
            if _answers_a_question(before, key, self.renames):
                out[key] = value
            elif echo is not None:
                echo(f"note: {self.entry(key)}: the schema before this change has nothing "
                     "by that name, so it answers no question; ignored")
        out.update(given or {})
        return out


def load_hints(path: str | os.PathLike[str]) -> Hints:
    """Read a hints file; every problem is an error naming the file (and the
    entry)."""
    where = Path(path)
    try:
        with where.open("rb") as f:
            data: dict[str, Any] = tomllib.load(f)
    except OSError as exc:
        raise PgbuildError(f"cannot read hints file {where}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PgbuildError(f"cannot read hints file {where}: {exc}") from None
    unknown = sorted(set(data) - {"renames"})
    if unknown:
        raise PgbuildError(
            f"{where}: unknown key(s) {', '.join(unknown)}; a hints file holds one table, "
            f"for example\n{_EXAMPLE}"
        )
    renames = data.get("renames", {})
    if not isinstance(renames, dict):
        raise PgbuildError(f"{where}: renames must be a table, for example\n{_EXAMPLE}")
    out: dict[str, str] = {}
    for key, value in renames.items():
        if isinstance(value, dict):
            # "users.nickname" = ... written without quotes is a nested table.
            raise PgbuildError(
                f"{where}: [renames] {key}: quote the key, as in \"{key}.{next(iter(value), '')}\" "
                "= \"new_name\" (a bare dotted key makes a nested table)"
            )
        if not isinstance(value, str):
            raise PgbuildError(
                f'{where}: [renames] "{key}" = {value!r}: the value must be a string, the new '
                'name, or "" for a drop and an add'
            )
        if not key.strip() or key.startswith((".", ":")) or key.endswith((".", ":")):
            raise PgbuildError(
                f'{where}: [renames] "{key}": write "table.old_column", "old_table", '
                '"enum:name", "enum:name:value" or "schema:name"'
            )
        out[key.strip()] = value.strip()
    return Hints(where, out)


def _answers_a_question(before: Schema, key: str, renames: Mapping[str, str]) -> bool:
    """Whether ``key`` names something ``before`` holds (so its entry
    answers a question about it)."""
    if key.startswith("schema:"):
        return key[len("schema:"):] in before.schemas
    if key.startswith("enum:"):
        enum_key, colon, label = key[len("enum:"):].partition(":")
        enum = before.enums.get(enum_key)
        return enum is not None and (not colon or label in enum.values)
    if key in before.tables:
        return True
    table, _, column = key.rpartition(".")
    if table not in before.tables:
        # "new_table.column" for a table renamed in the same run.
        table = next((old for old, new in renames.items()
                      if new == table and old in before.tables), "")
    found = before.tables.get(table)
    return found is not None and found.column(column) is not None
