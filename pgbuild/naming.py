"""PostgreSQL's own default names for constraints, so a table created by
pgbuild introspects exactly like one created by hand.

This follows ``makeObjectName`` and ``ChooseConstraintName`` in PostgreSQL's
``src/backend/commands/indexcmds.c``: ``<table>_<columns>_<label>``, each part
trimmed (the longer first) to fit 63 bytes, and a number appended to the
label (``_check1``) when the name is taken.
"""

from __future__ import annotations

from collections.abc import Sequence

NAMEDATALEN = 64


def _clip(name: str, nbytes: int) -> str:
    """The longest prefix of ``name`` of at most ``nbytes`` UTF-8 bytes."""
    data = name.encode()
    if len(data) <= nbytes:
        return name
    return data[:nbytes].decode(errors="ignore")


def make_object_name(name1: str, name2: str | None, label: str | None) -> str:
    """``name1_name2_label`` trimmed to 63 bytes as PostgreSQL trims it."""
    chars1 = len(name1.encode())
    chars2 = len(name2.encode()) if name2 else 0
    overhead = (len(label.encode()) + 1 if label else 0) + (1 if name2 else 0)
    available = NAMEDATALEN - 1 - overhead
    while chars1 + chars2 > available:
        if chars1 > chars2:
            chars1 -= 1
        else:
            chars2 -= 1
    parts = [_clip(name1, chars1)]
    if name2:
        parts.append(_clip(name2, chars2))
    if label:
        parts.append(label)
    return "_".join(parts)


def column_names(columns: Sequence[str]) -> str:
    """The columns part of a name: joined with ``_``, at most 63 bytes."""
    return _clip("_".join(columns), NAMEDATALEN - 1)


class NameChooser:
    """Chooses constraint names for one table, avoiding names already taken."""

    def __init__(self, table: str, taken: Sequence[str] = ()) -> None:
        self.table = table
        self.taken = set(taken)

    def choose(self, columns: Sequence[str], label: str) -> str:
        """``<table>_<columns>_<label>``, or with ``label1``, ``label2``... if taken."""
        name2 = column_names(columns) if columns else None
        attempt = 0
        while True:
            suffix = label if attempt == 0 else f"{label}{attempt}"
            name = make_object_name(self.table, name2, suffix)
            if name not in self.taken:
                self.taken.add(name)
                return name
            attempt += 1

    def take(self, name: str) -> str:
        """Record an explicitly given name."""
        self.taken.add(name)
        return name
