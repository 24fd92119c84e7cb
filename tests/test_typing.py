"""The static typing contract: tests/typing/*.py must pass mypy --strict.

That file asserts types with ``assert_type`` and asserts type errors with
``# type: ignore[code]`` (an ignore that is no longer needed is itself an
error under --strict), so this one run proves both directions.
"""

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent


def mypy_strict(path: Path) -> tuple[str, str, int]:
    """mypy --strict on ``path`` with the project's configuration (and so its
    plugin), from scratch: (stdout, stderr, exit status)."""
    return api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir=/dev/null",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            str(path),
        ]
    )


def test_public_api_types_check_under_mypy_strict() -> None:
    stdout, stderr, status = mypy_strict(ROOT / "tests" / "typing")
    assert status == 0, stdout + stderr


def test_row_construction_errors_name_the_column(tmp_path: Path) -> None:
    # The three errors of typed row construction, by message (check_rows.py
    # asserts them by error code): unknown column, wrong type, missing column.
    program = tmp_path / "rows.py"
    program.write_text(
        "from schema import Users\n"
        'Users(id="u1", email="a@b.c", nmae="Ann")\n'
        'Users(id="u1", email=42)\n'
        'Users(id="u1")\n'
    )
    stdout, stderr, status = mypy_strict(program)
    assert status == 1, stdout + stderr
    assert 'rows.py:2: error: Unexpected keyword argument "nmae" for "Users"' in stdout
    assert (
        'rows.py:3: error: Argument "email" to "Users" has incompatible type "int"; '
        'expected "str"' in stdout
    )
    assert 'rows.py:4: error: Missing named argument "email" for "Users"' in stdout
    assert "Found 3 errors" in stdout
