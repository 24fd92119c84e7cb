"""The README's quickstart runs as written on a fresh embedded server."""

import re
from pathlib import Path

import pytest

from pgbuild.embedded import stop_embedded

README = Path(__file__).resolve().parent.parent / "README.md"


def _quickstart() -> str:
    section = README.read_text().split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README has no quickstart code block"
    return match.group(1)


def test_quickstart_runs_twice_on_the_embedded_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'newcomer'\n")
    monkeypatch.chdir(tmp_path)
    code = compile(_quickstart(), str(README), "exec")
    try:
        for _ in range(2):  # the dev server persists: a second run must work too
            namespace: dict[str, object] = {}
            exec(code, namespace)
            db = namespace["db"]
            assert namespace["recent"] == [namespace["user"]]
            db.close()  # type: ignore[attr-defined]
        assert (tmp_path / ".pgbuild" / "data" / "PG_VERSION").exists()
    finally:
        stop_embedded(tmp_path / ".pgbuild" / "data")
