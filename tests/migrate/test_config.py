"""Configuration: ``[tool.pgbuild]`` discovery, the database URL, the schema
module, and the SQL splitter the runner relies on."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest

from pgbuild.errors import PgbuildError
from pgbuild.migrate.config import Config, database_url, describe_url, import_schema, load_config
from pgbuild.migrate.runner import connect
from pgbuild.migrate.snapshot import clean_label, no_transaction, scan, split_sql, split_sql_lines

PYPROJECT = """\
[project]
name = "app"

[tool.pgbuild]
schema = "app_schema"
migrations = "db/migrations"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ------------------------------------------------------------------ discovery


def test_config_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    sub = tmp_path / "src" / "deep"
    sub.mkdir(parents=True)
    cfg = load_config(sub)
    assert cfg.root == tmp_path.resolve()
    assert cfg.schema == "app_schema"
    assert cfg.migrations == tmp_path.resolve() / "db" / "migrations"
    assert cfg.schemas is None and cfg.tables is None
    assert cfg.migrations_table == (None, "pgbuild_migrations")


def test_nearest_pyproject_without_the_section_is_skipped(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    write(tmp_path / "sub" / "pyproject.toml", "[project]\nname = 'sub'\n")
    assert load_config(tmp_path / "sub").root == tmp_path.resolve()


def test_optional_keys(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.pgbuild]\nschemas = ["public", "app"]\ntables = ["app_*"]\n'
        'migrations_table = "meta.migrations"\n',
    )
    cfg = load_config(tmp_path)
    assert cfg.schema == "schema" and cfg.migrations == tmp_path.resolve() / "migrations"
    assert cfg.schemas == ("public", "app")
    assert cfg.tables == ("app_*",)
    assert cfg.migrations_table == ("meta", "migrations")
    assert cfg.migrations_table_name == "meta.migrations"


def test_no_pyproject_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PgbuildError, match=r"(?s)no pyproject\.toml found.*\[tool\.pgbuild\]"):
        load_config(tmp_path)


def test_pyproject_without_section_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    with pytest.raises(PgbuildError) as info:
        load_config(tmp_path)
    assert str(path) in str(info.value) and "[tool.pgbuild]" in str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('schema = "schema"\nmigratons = "m"\n', "unknown key.*migratons"),
        ("schema = 3\n", "schema must be a non-empty string"),
        ('schema = "my-schema"\n', "not a module name"),
        ('schemas = "public"\ntables = [1]\n', "tables must be a list"),
        ('migrations_table = "a.b.c"\n', "schema.name"),
    ],
)
def test_invalid_settings_name_the_file(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool.pgbuild]\n" + body)
    with pytest.raises(PgbuildError, match=message) as info:
        load_config(tmp_path)
    assert str(path) in str(info.value)


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool.pgbuild\n")
    with pytest.raises(PgbuildError, match="cannot read") as info:
        load_config(tmp_path)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------ URL


def test_url_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = Config.for_directory(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@pooled/app")
    monkeypatch.setenv("DATABASE_DIRECT_URL", "postgresql://u@direct/app")
    assert database_url(cfg, "postgresql://u@given/app") == "postgresql://u@given/app"
    assert database_url(cfg) == "postgresql://u@direct/app"
    monkeypatch.delenv("DATABASE_DIRECT_URL")
    assert database_url(cfg) == "postgresql://u@pooled/app"


def test_without_any_url_the_embedded_server_is_used_and_announced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pgbuild.embedded import stop_embedded

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_DIRECT_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    said: list[str] = []
    data = tmp_path.resolve() / ".pgbuild" / "data"
    try:
        url = database_url(Config.for_directory(tmp_path), echo=said.append)
        with psycopg.connect(url) as conn:  # a real server, in the project's .pgbuild/data
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert (data / "PG_VERSION").exists()
        assert said == ["using the embedded development server in .pgbuild/data"]
    finally:
        stop_embedded(data)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres.abc:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres",
        "postgresql://u:pw@ep-cool-darkness-123456-pooler.eu-central-1.aws.neon.tech/db",
    ],
)
def test_transaction_poolers_are_refused(tmp_path: Path, url: str) -> None:
    cfg = Config.for_directory(tmp_path)
    with pytest.raises(PgbuildError, match="DATABASE_DIRECT_URL") as info:
        database_url(cfg, url)
    assert "pw" not in str(info.value)
    assert database_url(cfg, url, allow_pooler=True) == url


def test_malformed_url(tmp_path: Path) -> None:
    with pytest.raises(PgbuildError, match="malformed database URL in --url"):
        database_url(Config.for_directory(tmp_path), "postgresql://a b c=")


def test_unreachable_database_names_the_host_not_the_password(tmp_path: Path) -> None:
    url = "postgresql://alice:s3cret-pw@127.0.0.1:9/app?connect_timeout=2"
    with pytest.raises(PgbuildError) as info, connect(url, Config.for_directory(tmp_path)):
        pass
    message = str(info.value)
    assert "cannot connect to alice@127.0.0.1:9/app" in message
    assert "s3cret-pw" not in message


def test_describe_url_hides_the_password() -> None:
    assert describe_url("postgresql://bob:hunter2@db.example.com:5433/shop") == (
        "bob@db.example.com:5433/shop"
    )


# ------------------------------------------------------------------ schema module


def test_schema_module_is_imported_from_the_project_root(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.pgbuild]\nschema = 'models.tables'\n")
    write(tmp_path / "models" / "__init__.py", "")
    write(tmp_path / "models" / "tables.py", "MARK = 'first'\n")
    cfg = load_config(tmp_path)
    assert import_schema(cfg).MARK == "first"
    assert "models" not in sys.modules and str(tmp_path) not in sys.path
    # Imported afresh each time: an edit is seen without restarting.
    write(tmp_path / "models" / "tables.py", "MARK = 'second!'\n")
    assert import_schema(cfg).MARK == "second!"


def test_an_already_imported_module_of_that_name_is_left_alone(tmp_path: Path) -> None:
    import json

    write(tmp_path / "pyproject.toml", "[tool.pgbuild]\nschema = 'json'\n")
    write(tmp_path / "json.py", "MARK = 1\n")
    assert import_schema(load_config(tmp_path)).MARK == 1
    assert sys.modules["json"] is json


def test_missing_schema_module(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.pgbuild]\nschema = 'nowhere'\n")
    with pytest.raises(PgbuildError, match=r"schema module 'nowhere' .* was not found") as info:
        import_schema(load_config(tmp_path))
    assert str(tmp_path / "pyproject.toml") in str(info.value)


def test_schema_module_that_fails_to_import_shows_the_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.pgbuild]\n")
    write(tmp_path / "schema.py", "import math\n\nfrom not_installed_pkg import thing\n")
    with pytest.raises(PgbuildError) as info:
        import_schema(load_config(tmp_path))
    message = str(info.value)
    assert "cannot import schema module 'schema'" in message
    assert "ModuleNotFoundError: No module named 'not_installed_pkg'" in message
    assert f"{tmp_path / 'schema.py'}:3" in message


def test_schema_module_with_a_syntax_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.pgbuild]\n")
    write(tmp_path / "schema.py", "x = (\n")
    with pytest.raises(PgbuildError, match=r"SyntaxError") as info:
        import_schema(load_config(tmp_path))
    assert "schema.py:1" in str(info.value)


# ------------------------------------------------------------------ files and SQL text


def test_split_respects_quotes_dollar_quotes_and_comments() -> None:
    text = """-- header; with a semicolon
CREATE TABLE "a;b" (x text DEFAULT 'it''s; fine');
SELECT E'\\'; still a string';
/* block; /* nested; */ still comment; */
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$;
CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;
SELECT $$;$$, $1;
-- trailing comment only;
"""
    statements = split_sql(text)
    assert statements == [
        "CREATE TABLE \"a;b\" (x text DEFAULT 'it''s; fine')",
        "SELECT E'\\'; still a string'",
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$",
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
        "SELECT $$;$$, $1",
    ]
    assert [line for line, _ in split_sql_lines(text)] == [2, 3, 5, 6, 7]
    assert split_sql("-- nothing\n\n/* here */;\n") == []


def test_no_transaction_header() -> None:
    assert no_transaction("-- 0002_x\n-- pgbuild: no-transaction\n\nCREATE INDEX CONCURRENTLY;")
    assert not no_transaction("-- 0002_x\nSELECT 1;\n-- pgbuild: no-transaction\n")


def test_scan_reports_inconsistent_folders(tmp_path: Path) -> None:
    for name in ["0001_a.sql", "0001_a.json", "0002_b.sql", "0003_c.json", "0004_d.sql",
                 "0004_d.json", "0004_e.sql", "0004_e.json", "5_bad.sql", "notes.txt"]:
        write(tmp_path / name, "")
    folder = scan(tmp_path)
    assert [m.name for m in folder.migrations] == ["0001_a", "0002_b", "0004_d", "0004_e"]
    problems = "\n".join(folder.problems)
    assert "0002_b.sql has no snapshot 0002_b.json" in problems
    assert "0003_c.json has no migration 0003_c.sql" in problems
    assert "2 migrations are numbered 0004" in problems
    assert "5_bad.sql: not a migration file name" in problems
    assert "notes.txt" not in problems
    assert folder.next_number() == 5


def test_clean_label() -> None:
    assert clean_label("Add handle to Users!") == "add_handle_to_users"
    with pytest.raises(PgbuildError):
        clean_label("!!!")


def test_a_module_of_that_name_outside_the_project_is_refused(tmp_path: Path) -> None:
    # "json" exists in the standard library, not in this project.
    write(tmp_path / "pyproject.toml", "[tool.pgbuild]\nschema = 'json'\n")
    with pytest.raises(PgbuildError, match=r"'json' .* was not found in .*is not part of this"):
        import_schema(load_config(tmp_path))


def test_src_layout(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.pgbuild]\nschema = 'app.schema'\n")
    write(tmp_path / "src" / "app" / "__init__.py", "")
    write(tmp_path / "src" / "app" / "schema.py", "MARK = 'src'\n")
    assert import_schema(load_config(tmp_path)).MARK == "src"
