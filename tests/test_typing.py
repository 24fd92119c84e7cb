"""The static typing contract: tests/typing/*.py must pass mypy --strict.

That file asserts types with ``assert_type`` and asserts type errors with
``# type: ignore[code]`` (an ignore that is no longer needed is itself an
error under --strict), so this one run proves both directions.
"""

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent


def test_public_api_types_check_under_mypy_strict() -> None:
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir=/dev/null",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            str(ROOT / "tests" / "typing"),
        ]
    )
    assert status == 0, stdout + stderr
