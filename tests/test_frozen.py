"""pgbuild.frozen: builders and nodes made through their slots stay the
frozen dataclasses they are declared as (no SQL here: nothing to run)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pgbuild import eq
from pgbuild.expressions import BinOp
from pgbuild.frozen import fast_init, replacer
from schema import Users


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Node:
    name: str
    size: int = 3
    tags: list[str] = dataclasses.field(default_factory=list)
    seen: list[str] = dataclasses.field(default_factory=list, compare=False)

    def __post_init__(self) -> None:
        self.seen.append(self.name)


def test_fast_init_keeps_the_signature_defaults_and_factories() -> None:
    node = Node("a")
    assert (node.name, node.size, node.tags) == ("a", 3, [])
    assert Node("a", 5, ["x"]) == Node(name="a", size=5, tags=["x"])
    assert Node("b").tags is not Node("b").tags  # a new list per instance


def test_fast_init_runs_post_init() -> None:
    assert Node("a").seen == ["a"]


def test_fast_init_objects_stay_frozen() -> None:
    node = Node("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.name = "b"  # type: ignore[misc]


def test_fast_init_refuses_wrong_arguments_as_dataclasses_do() -> None:
    make: Any = Node
    with pytest.raises(TypeError):
        make()
    with pytest.raises(TypeError):
        make("a", colour="red")


def test_replacer_copies_with_changes_and_leaves_the_original() -> None:
    node = Node("a", 1, ["x"])
    copy = replacer(Node)(node, {"size": 2})
    assert (copy.name, copy.size, copy.tags) == ("a", 2, ["x"])
    assert node.size == 1


def test_expression_nodes_are_made_by_fast_init() -> None:
    node = eq(Users.id, "u1")
    assert isinstance(node, BinOp)
    assert (node.left, node.operator, node.right) == (Users.id, "=", "u1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.right = "u2"  # type: ignore[misc]
