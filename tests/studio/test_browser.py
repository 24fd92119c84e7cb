"""The studio page in a real browser: Debian's ``chromium``, driven by
playwright, against real studios (``studio``: read-only, ``studio_write``:
``write=True``) on the seeded database of ``conftest.py``.

Each test is one thing a user does. Every page also checks, when the test
ends, that nothing was loaded from anywhere but the studio and that the
console shows no errors (a CSP violation would be one).

Screenshots of the main screens are written by every run to
``.pgbuild/screenshots/`` (ignored by git: the database name and the
console's timings change from run to run), or to ``$PGBUILD_SCREENSHOTS``:
``PGBUILD_SCREENSHOTS=docs/studio pytest tests/studio/test_browser.py``
refreshes the two the README shows (``grid.png``, ``edit-preview.png``).

Skipped when playwright or chromium is missing; under ``.ci/run``
(``PGBUILD_REQUIRE_TOOLS=1``), which installs both, that is a failure.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgbuild.studio import Studio, start_studio
from tests.conftest import require_tool

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("PGBUILD_REQUIRE_TOOLS"):
        raise
    pytest.skip("playwright is not installed: pip install -e '.[dev]'", allow_module_level=True)

CHROMIUM = os.environ.get("PGBUILD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("PGBUILD_SCREENSHOTS") or REPO / ".pgbuild" / "screenshots")
WAIT_MS = 15_000  # two shared cores: generous, and only ever reached on failure

MAX = "9223372036854775807"
MIN = "-9223372036854775808"

expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_tool(CHROMIUM, "install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


class Tab:
    """A page on a studio, recording what a test must not see: requests to
    anywhere else, console errors, uncaught exceptions."""

    def __init__(self, browser: Browser, studio: Studio) -> None:
        self.studio = studio
        self.context = browser.new_context(
            viewport={"width": 1440, "height": 810}, accept_downloads=True
        )
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", self._request)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _request(self, request: Any) -> None:
        url = request.url
        if not (url.startswith(self.studio.base + "/") or url.startswith("data:")):
            self.foreign.append(url)

    def _console(self, message: Any) -> None:
        # An API error answer (4xx) is also logged as "Failed to load resource";
        # tests that provoke one check the message the page shows instead.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)

    def open(self, route: str = "") -> Page:
        self.page.goto(self.studio.url + route)
        expect(self.page.locator("body")).to_have_attribute("data-ready", "true")
        return self.page

    def close(self) -> None:
        self.context.close()
        assert self.foreign == [], "the page fetched something from elsewhere"
        assert self.errors == [], "the page logged errors"


@pytest.fixture
def tab(browser: Browser, studio: Studio) -> Iterator[Tab]:
    """A fresh browser tab (own cookies and cache) on the read-only studio."""
    opened = Tab(browser, studio)
    yield opened
    opened.close()


@pytest.fixture
def write_tab(browser: Browser, studio_write: Studio) -> Iterator[Tab]:
    """A fresh browser tab on the studio started with write=True."""
    opened = Tab(browser, studio_write)
    yield opened
    opened.close()


def query(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Ask the database directly (not through the studio)."""
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchall()


def table_route(table: str, **options: str) -> str:
    route = f"#/table/public/{table}"
    if options:
        route += "?" + "&".join(f"{k}={v}" for k, v in options.items())
    return route


def grid_ready(page: Page) -> None:
    expect(page.get_by_test_id("grid")).to_be_visible()
    expect(page.get_by_test_id("grid-box")).to_have_attribute("aria-busy", "false")


_COLUMN_JS = """tds => tds.map(td => {
    const shown = td.firstElementChild;
    if (!shown) return td.textContent;
    return shown.classList.contains('null') ? null : shown.textContent;
})"""


def column(page: Page, name: str) -> list[str | None]:
    """The values of a column of the grid, top to bottom (None for NULL)."""
    cells = page.locator(
        f'[data-testid="grid"] tr[data-testid="row"] td[data-testid="cell"][data-column="{name}"]'
    )
    return list(cells.evaluate_all(_COLUMN_JS))


def wait_column(page: Page, name: str, expected: Sequence[str | None]) -> None:
    """Wait until the grid's column ``name`` shows ``expected``."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        shown = column(page, name)
        if shown == list(expected) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(50)
    assert shown == list(expected)
    grid_ready(page)


def row(page: Page, key: str) -> Any:
    """The grid row whose primary key is ``key`` (single-column ``id`` keys)."""
    return page.locator(f'tr[data-testid="row"][data-key=\'{{"id":"{key}"}}\']')


def cell(page: Page, key: str, name: str) -> Any:
    return row(page, key).locator(f'td[data-column="{name}"]')


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


def add_filter(page: Page, column_name: str, op: str, value: str | None = None) -> None:
    page.get_by_test_id("filter-column").select_option(column_name)
    page.get_by_test_id("filter-op").select_option(op)
    if value is not None:
        page.get_by_test_id("filter-value").fill(value)
    page.get_by_test_id("filter-add").click()


# ---------------------------------------------------------------- browsing


def test_sidebar_lists_tables_with_estimates_views_and_enums(tab: Tab) -> None:
    page = tab.open()
    link = page.get_by_test_id("table-public.customers")
    expect(link).to_contain_text("customers")
    expect(link.locator(".rows")).to_have_text("5")
    expect(page.get_by_test_id("table-public.big_spenders").locator(".kind")).to_have_text("view")
    page.get_by_test_id("enums-public").locator("summary").click()
    expect(page.get_by_test_id("enum").locator(".name")).to_have_text(["mood"])
    expect(page.get_by_test_id("enum").locator(".muted")).to_have_text(["sad, ok, happy"])
    expect(page.get_by_test_id("mode")).to_have_text("read-only")


def test_sidebar_finds_tables_and_reloads_the_schema(tab: Tab, studio_database: str) -> None:
    page = tab.open()
    page.get_by_test_id("table-search").fill("ord")
    expect(page.get_by_test_id("table-public.orders")).to_be_visible()
    expect(page.get_by_test_id("table-public.customers")).to_be_hidden()
    page.get_by_test_id("table-search").fill("")
    with psycopg.connect(studio_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS added_later (id int PRIMARY KEY)")
    try:
        expect(page.get_by_test_id("table-public.added_later")).to_have_count(0)
        page.get_by_test_id("schema-reload").click()
        expect(page.get_by_test_id("table-public.added_later")).to_be_visible()
    finally:
        with psycopg.connect(studio_database, autocommit=True) as conn:
            conn.execute("DROP TABLE added_later")


def test_opening_a_table_shows_its_rows(tab: Tab) -> None:
    page = tab.open()
    page.get_by_test_id("table-public.customers").click()
    expect(page.get_by_test_id("table-title")).to_have_text("public.customers")
    wait_column(page, "id", [MIN, "1", "2", "3", MAX])
    assert column(page, "name") == ["Min", "Ann", "Bob", "", "Max"]
    expect(page.get_by_test_id("row-count")).to_contain_text("5 rows")
    expect(page.get_by_test_id("page-info")).to_have_text("Page 1 · rows 1\u20135")
    screenshot(page, "grid.png")


def test_values_are_shown_exactly_as_stored(tab: Tab) -> None:
    page = tab.open(table_route("customers"))
    grid_ready(page)
    # bigint at both ends and a 30-digit numeric, no rounding through JS numbers
    expect(cell(page, MAX, "id")).to_have_text(MAX)
    expect(cell(page, MIN, "id")).to_have_text(MIN)
    expect(cell(page, "1", "balance")).to_have_text("123456789012345678901234567890.0000000001")
    # timestamptz in the database's time zone, with its offset
    expect(cell(page, "1", "joined_at")).to_have_text("2024-03-01 18:04:56.789012+05:30")
    expect(cell(page, MIN, "joined_at")).to_have_text("infinity")
    # NULL and the empty string look different
    expect(cell(page, "2", "email").locator(".null")).to_have_text("NULL")
    expect(cell(page, "3", "email").locator(".empty")).to_have_count(1)
    expect(cell(page, "3", "email").locator(".null")).to_have_count(0)
    # arrays in their text form
    expect(cell(page, "1", "tags")).to_have_text('{vip,"with space",NULL}')
    expect(cell(page, "1", "scores")).to_have_text("{1,2,NULL}")
    # bytea as its size, with a download link
    expect(cell(page, "1", "avatar").get_by_test_id("bytea-size")).to_have_text("3 bytes")
    expect(cell(page, "3", "avatar").get_by_test_id("bytea-size")).to_have_text("0 bytes")
    expect(cell(page, "2", "avatar").locator(".null")).to_have_count(1)


def test_sizes_are_readable(tab: Tab) -> None:
    page = tab.open()
    sizes = page.evaluate(
        "[0, 1, 12, 1023, 1536, 50 * 1024 * 1024].map(n => pgstudio.formatSize(n))"
    )
    assert sizes == ["0 bytes", "1 byte", "12 bytes", "1023 bytes", "1.5 KB", "50.0 MB"]


def test_bytea_downloads_on_demand(tab: Tab) -> None:
    page = tab.open(table_route("customers"))
    grid_ready(page)
    with page.expect_download() as info:
        cell(page, "1", "avatar").get_by_test_id("bytea-download").click()
    assert Path(info.value.path()).read_bytes() == b"\x00\xff\x10"


def test_json_opens_as_a_tree_that_keeps_big_numbers(tab: Tab) -> None:
    page = tab.open(table_route("customers"))
    grid_ready(page)
    prefs = cell(page, "1", "prefs")
    prefs.locator("summary").first.click()
    tree = prefs.get_by_test_id("json-tree")
    expect(tree).to_contain_text("n: 12345678901234567890")
    expect(tree).to_contain_text('theme: "dark"')
    expect(tree).to_contain_text("langs: [ 2 items ]")
    prefs.get_by_test_id("json-raw-toggle").click()
    expect(prefs.get_by_test_id("json-raw")).to_have_text(
        '{"n": 12345678901234567890, "langs": ["en", "fr"], "theme": "dark"}'
    )


def test_json_parser_keeps_number_text(tab: Tab) -> None:
    page = tab.open()
    parsed = page.evaluate(
        """pgstudio.parseJson('{"a": [1.50, -2e+30, 123456789012345678901234567890],'
                              + ' "b\\\\"c": "x\\\\u00e9", "d": {}, "e": null}')"""
    )
    numbers = [item["text"] for item in parsed["entries"][0][1]["items"]]
    assert numbers == ["1.50", "-2e+30", "123456789012345678901234567890"]
    assert parsed["entries"][1][0] == 'b"c'
    assert parsed["entries"][1][1] == {"kind": "string", "text": '"x\\u00e9"'}
    with pytest.raises(Exception, match="offset"):
        page.evaluate("pgstudio.parseJson('[1, 2')")


def test_filters_narrow_the_rows(tab: Tab) -> None:
    page = tab.open(table_route("customers"))
    grid_ready(page)
    add_filter(page, "mood", "=", "ok")
    wait_column(page, "id", [MIN, MAX])
    add_filter(page, "id", ">", "0")
    wait_column(page, "id", [MAX])
    expect(page.get_by_test_id("filter-label")).to_have_text(["mood = ok", "id > 0"])
    page.get_by_test_id("filter-remove").first.click()
    wait_column(page, "id", ["1", "2", "3", MAX])


def test_is_null_in_like_and_jsonb_filters(tab: Tab) -> None:
    page = tab.open(table_route("customers"))
    grid_ready(page)
    add_filter(page, "email", "is null")
    wait_column(page, "id", ["2"])
    page.get_by_test_id("filter-clear").click()
    add_filter(page, "name", "in", "Ann, Max")
    wait_column(page, "id", ["1", MAX])
    page.get_by_test_id("filter-clear").click()
    add_filter(page, "name", "ilike", "m%")
    wait_column(page, "id", [MIN, MAX])
    page.get_by_test_id("filter-clear").click()
    add_filter(page, "prefs", "@>", '{"theme": "dark"}')
    wait_column(page, "id", ["1"])


def test_a_bad_filter_value_shows_the_error(tab: Tab) -> None:
    page = tab.open(table_route("customers"))
    grid_ready(page)
    add_filter(page, "id", "=", "not a number")
    expect(page.get_by_test_id("grid-error")).to_contain_text("id")


def test_exact_count_counts_the_filtered_rows(tab: Tab) -> None:
    page = tab.open(table_route("ranks"))
    grid_ready(page)
    add_filter(page, "score", "is null")
    expect(page.get_by_test_id("row-count")).to_have_text("filtered")
    page.get_by_test_id("count-exact").click()
    expect(page.get_by_test_id("row-count")).to_have_text("6 rows")


def test_sorting_cycles_ascending_descending_none(tab: Tab) -> None:
    page = tab.open(table_route("customers"))
    grid_ready(page)
    header = page.locator('[data-testid="column-header"][data-column="name"]')
    header.get_by_test_id("sort").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    wait_column(page, "name", ["", "Ann", "Bob", "Max", "Min"])
    header.get_by_test_id("sort").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    wait_column(page, "name", ["Min", "Max", "Bob", "Ann", ""])
    header.get_by_test_id("sort").click()
    expect(header).to_have_attribute("aria-sort", "none")
    wait_column(page, "id", [MIN, "1", "2", "3", MAX])


def test_paging_forward_and_back(tab: Tab, studio_database: str) -> None:
    """Keyset pages over a sort column full of NULLs and duplicates: every
    row once, in PostgreSQL's order, and Previous returns the same pages."""
    expected = [
        str(r[0]) for r in query(studio_database, "SELECT id FROM ranks ORDER BY score DESC, id")
    ]
    page = tab.open(table_route("ranks", s='[{"column":"score","dir":"desc"}]'))
    grid_ready(page)
    page.get_by_test_id("page-size").select_option("10")
    wait_column(page, "id", expected[:10])
    expect(page.get_by_test_id("page-prev")).to_be_disabled()
    page.get_by_test_id("page-next").click()
    wait_column(page, "id", expected[10:20])
    expect(page.get_by_test_id("page-info")).to_have_text("Page 2 · rows 11\u201320")
    page.get_by_test_id("page-next").click()
    wait_column(page, "id", expected[20:])
    expect(page.get_by_test_id("page-next")).to_be_disabled()
    page.get_by_test_id("page-prev").click()
    wait_column(page, "id", expected[10:20])
    page.get_by_test_id("page-prev").click()
    wait_column(page, "id", expected[:10])
    expect(page.get_by_test_id("page-prev")).to_be_disabled()


def test_foreign_keys_lead_both_ways(tab: Tab) -> None:
    page = tab.open(table_route("orders"))
    grid_ready(page)
    # orders -> the customer of order 4 ...
    cell(page, "4", "customer_id").get_by_test_id("fk-link").click()
    expect(page.get_by_test_id("table-title")).to_have_text("public.customers")
    expect(page.get_by_test_id("filter-label")).to_have_text([f"id = {MAX}"])
    wait_column(page, "name", ["Max"])
    screenshot(page, "foreign-key.png")
    # ... and back: the orders that reference this customer
    row(page, MAX).get_by_test_id("refby-button").click()
    menu = row(page, MAX).get_by_test_id("refby-menu")
    expect(menu.get_by_test_id("refby-item")).to_have_count(2)
    assert sorted(menu.get_by_test_id("refby-item").all_inner_texts()) == [
        "public.customers (referrer_id)",
        "public.orders (customer_id)",
    ]
    menu.locator('[data-table="public.orders"]').click()
    expect(page.get_by_test_id("table-title")).to_have_text("public.orders")
    expect(page.get_by_test_id("filter-label")).to_have_text([f"customer_id = {MAX}"])
    wait_column(page, "id", ["4"])
    # the browser's Back button returns to the customer
    page.go_back()
    expect(page.get_by_test_id("table-title")).to_have_text("public.customers")
    wait_column(page, "name", ["Max"])


def test_structure_shows_columns_keys_and_ddl(tab: Tab) -> None:
    page = tab.open(table_route("customers"))
    page.get_by_test_id("tab-structure").click()
    columns = page.get_by_test_id("structure-columns")
    expect(columns.locator('tr[data-column="mood"]')).to_contain_text("sad, ok, happy")
    expect(columns.locator('tr[data-column="name"]')).to_contain_text("not null")
    expect(columns.locator('tr[data-column="id"]')).to_contain_text("bigint")
    expect(page.get_by_test_id("structure-indexes")).to_contain_text("customers_email_key")
    expect(page.get_by_test_id("structure-constraints")).to_contain_text("primary key")
    expect(page.get_by_test_id("structure-referenced-by")).to_contain_text("public.orders")
    expect(page.get_by_test_id("ddl")).to_contain_text("CREATE TABLE")
    screenshot(page, "structure.png")


def test_export_links_carry_the_filters(tab: Tab) -> None:
    page = tab.open(table_route("customers"))
    grid_ready(page)
    add_filter(page, "mood", "=", "ok")
    wait_column(page, "id", [MIN, MAX])
    href = page.get_by_test_id("export-csv").get_attribute("href")
    assert href is not None
    answer = page.request.get(tab.studio.base + href)
    assert answer.ok
    lines = answer.text().splitlines()
    assert lines[0].startswith("id,name,")
    assert [line.split(",")[1] for line in lines[1:]] == ["Min", "Max"]


# ---------------------------------------------------------------- read-only


def test_read_only_studio_shows_no_edit_controls(tab: Tab) -> None:
    page = tab.open(table_route("customers"))
    grid_ready(page)
    expect(page.get_by_test_id("mode")).to_have_text("read-only")
    expect(page.get_by_test_id("add-row")).to_have_count(0)
    expect(page.get_by_test_id("delete-row")).to_have_count(0)
    cell(page, "2", "name").dblclick()
    expect(page.get_by_test_id("cell-editor")).to_have_count(0)
    expect(page.get_by_test_id("changes")).to_be_hidden()
    expect(page.get_by_test_id("readonly-notice")).to_be_hidden()


# ---------------------------------------------------------------- migrations


def test_migrations_pane_shows_applied_pending_and_drift(
    browser: Browser, studio_database: str
) -> None:
    """This repository's own project: its migration is pending on the seeded
    database, whose tables are all drift from the declared schema."""
    with start_studio(studio_database, project=REPO) as studio:
        opened = Tab(browser, studio)
        try:
            page = opened.open("#/migrations")
            pane = page.get_by_test_id("migrations-pane")
            expect(pane.get_by_test_id("migrations-pending")).to_contain_text("0001_init")
            expect(pane.get_by_test_id("migrations-applied")).to_have_text("None applied yet.")
            expect(pane.get_by_test_id("migrations-mismatched")).to_have_text(
                "No checksum mismatches."
            )
            expect(pane.get_by_test_id("migrations-drift")).to_contain_text("drop table customers")
            screenshot(page, "migrations.png")
        finally:
            opened.close()


def test_migrations_pane_says_when_nothing_is_configured(
    browser: Browser, studio_database: str, tmp_path: Path
) -> None:
    with start_studio(studio_database, project=tmp_path) as studio:
        opened = Tab(browser, studio)
        try:
            page = opened.open("#/migrations")
            expect(page.get_by_test_id("migrations-not-configured")).to_contain_text(
                "pyproject.toml"
            )
        finally:
            opened.close()


# ---------------------------------------------------------------- SQL console


def test_sql_console_runs_a_query_with_parameters(tab: Tab) -> None:
    page = tab.open("#/sql")
    page.get_by_test_id("sql-input").fill("SELECT $1::bigint + 1 AS next, $2::text AS label")
    page.get_by_test_id("sql-params").fill('[9223372036854775806, "x"]')
    page.get_by_test_id("sql-run").click()
    result = page.get_by_test_id("sql-result")
    expect(result.locator('td[data-column="next"]')).to_have_text(MAX)
    expect(result.locator('td[data-column="label"]')).to_have_text("x")
    expect(page.get_by_test_id("sql-status")).to_contain_text("SELECT 1")
    screenshot(page, "sql-console.png")


def test_sql_console_explains(tab: Tab) -> None:
    page = tab.open("#/sql")
    page.get_by_test_id("sql-input").fill("SELECT * FROM orders WHERE customer_id = 1")
    page.get_by_test_id("sql-explain").click()
    expect(page.get_by_test_id("sql-plan")).to_contain_text("Scan")
    expect(page.get_by_test_id("sql-plan")).not_to_contain_text("actual time")
    page.get_by_test_id("sql-explain-analyze").click()
    expect(page.get_by_test_id("sql-plan")).to_contain_text("actual time")


def test_sql_console_shows_errors(tab: Tab) -> None:
    page = tab.open("#/sql")
    page.get_by_test_id("sql-input").fill("SELEC 1")
    page.get_by_test_id("sql-run").click()
    expect(page.get_by_test_id("sql-error")).to_contain_text("syntax error")


def test_sql_console_cancels_a_running_statement(tab: Tab) -> None:
    page = tab.open("#/sql")
    page.get_by_test_id("sql-input").fill("SELECT pg_sleep(20)")
    page.get_by_test_id("sql-run").click()
    expect(page.get_by_test_id("sql-cancel")).to_be_enabled()
    started = time.monotonic()
    page.get_by_test_id("sql-cancel").click()
    expect(page.get_by_test_id("sql-error")).to_contain_text(re.compile("cancel", re.I))
    assert time.monotonic() - started < 15


# ---------------------------------------------------------------- write mode


def test_edit_a_cell_review_the_sql_and_apply(write_tab: Tab, studio_database: str) -> None:
    page = write_tab.open(table_route("customers"))
    grid_ready(page)
    expect(page.get_by_test_id("mode")).to_have_text("write")
    cell(page, "2", "email").dblclick()
    page.get_by_test_id("cell-editor").fill("bob@example.com")
    page.get_by_test_id("cell-editor").press("Enter")
    expect(cell(page, "2", "email")).to_have_class(re.compile("dirty"))
    expect(page.get_by_test_id("pending-count")).to_have_text("1 pending change")
    page.get_by_test_id("review").click()
    statement = page.get_by_test_id("preview-statement")
    expect(statement).to_have_count(1)
    expect(statement.get_by_test_id("preview-sql")).to_contain_text("UPDATE")
    expect(statement.get_by_test_id("preview-sql")).to_contain_text('"email"')
    expect(statement.get_by_test_id("preview-params")).to_contain_text("bob@example.com")
    screenshot(page, "edit-preview.png")
    assert query(studio_database, "SELECT email FROM customers WHERE id = 2") == [(None,)]
    page.get_by_test_id("apply").click()
    expect(page.get_by_test_id("apply-result")).to_contain_text("Applied 1 statement")
    expect(cell(page, "2", "email")).to_have_text("bob@example.com")
    expect(cell(page, "2", "email")).not_to_have_class(re.compile("dirty"))
    assert query(studio_database, "SELECT email FROM customers WHERE id = 2") == [
        ("bob@example.com",)
    ]


def test_set_null_with_the_editor(write_tab: Tab, studio_database: str) -> None:
    page = write_tab.open(table_route("orders"))
    grid_ready(page)
    cell(page, "1", "note").dblclick()
    page.get_by_test_id("editor-null").click()
    expect(cell(page, "1", "note").locator(".null")).to_have_count(1)
    page.get_by_test_id("review").click()
    expect(page.get_by_test_id("preview-params")).to_contain_text("NULL")
    page.get_by_test_id("apply").click()
    expect(page.get_by_test_id("apply-result")).to_be_visible()
    assert query(studio_database, "SELECT note FROM orders WHERE id = 1") == [(None,)]


def test_add_and_delete_rows_in_one_transaction(write_tab: Tab, studio_database: str) -> None:
    page = write_tab.open(table_route("ranks"))
    grid_ready(page)
    page.get_by_test_id("add-row").click()
    new = page.get_by_test_id("new-row")
    for name, value in [("id", "1000"), ("label", "added")]:
        new.locator(f'td[data-column="{name}"]').dblclick()
        page.get_by_test_id("cell-editor").fill(value)
        page.get_by_test_id("cell-editor").press("Enter")
    row(page, "7").get_by_test_id("delete-row").click()
    expect(row(page, "7")).to_have_class(re.compile("deleted"))
    expect(page.get_by_test_id("pending-count")).to_have_text("2 pending changes")
    page.get_by_test_id("review").click()
    expect(page.get_by_test_id("preview-sql")).to_have_count(2)
    expect(page.get_by_test_id("preview-sql").first).to_contain_text("DELETE")
    expect(page.get_by_test_id("preview-sql").last).to_contain_text("INSERT")
    page.get_by_test_id("apply").click()
    expect(page.get_by_test_id("apply-result")).to_contain_text("Applied 2 statements")
    assert query(studio_database, "SELECT label, score FROM ranks WHERE id = 1000") == [
        ("added", None)
    ]
    assert query(studio_database, "SELECT count(*) FROM ranks WHERE id = 7") == [(0,)]


def test_a_failing_batch_changes_nothing_and_says_why(write_tab: Tab, studio_database: str) -> None:
    page = write_tab.open(table_route("orders"))
    grid_ready(page)
    cell(page, "2", "note").dblclick()
    page.get_by_test_id("cell-editor").fill("changed")
    page.get_by_test_id("cell-editor").press("Enter")
    cell(page, "3", "total").dblclick()
    page.get_by_test_id("cell-editor").fill("-1")  # violates CHECK (total >= 0)
    page.get_by_test_id("cell-editor").press("Enter")
    page.get_by_test_id("review").click()
    expect(page.get_by_test_id("preview-statement")).to_have_count(2)
    page.get_by_test_id("apply").click()
    expect(page.get_by_test_id("preview-error")).to_contain_text("Nothing was changed")
    expect(page.get_by_test_id("preview-error")).to_contain_text("check")
    assert query(
        studio_database, "SELECT note, total::text FROM orders WHERE id IN (2, 3) ORDER BY id"
    ) == [(None, "99.99"), ("free", "0.00")]
    expect(page.get_by_test_id("pending-count")).to_have_text("2 pending changes")


def test_a_table_without_primary_key_is_read_only(write_tab: Tab) -> None:
    page = write_tab.open(table_route("audit_log"))
    grid_ready(page)
    expect(page.get_by_test_id("readonly-notice")).to_contain_text("No primary key")
    expect(page.get_by_test_id("add-row")).to_have_count(0)
    expect(page.get_by_test_id("delete-row")).to_have_count(0)
    page.locator('td[data-column="actor"]').first.dblclick()
    expect(page.get_by_test_id("cell-editor")).to_have_count(0)
