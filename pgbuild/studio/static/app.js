/* pgbuild studio: start-up, the schema browser on the left, and the routes.
 *
 * Routes live in the URL fragment, so Back/Forward and reloads work and the
 * token in the query string stays put:
 *   #/table/<schema>/<table>?f=<filters JSON>&s=<sort JSON>&tab=structure
 *   #/migrations    #/sql
 */
"use strict";

(function (S) {
  const h = S.h;
  S.tables = new Map(); // tableId(schema, name) -> a table of /api/schema

  /** A table's identity as a map key (a dot could be part of either name). */
  S.tableId = (schema, name) => JSON.stringify([schema, name]);

  /** The fragment that opens a table with filters, sort and tab. */
  S.tableHash = function tableHash(schema, table, options) {
    const { filters = [], sort = [], tab = "data" } = options || {};
    const query = new URLSearchParams();
    if (filters.length) query.set("f", JSON.stringify(filters));
    if (sort.length) query.set("s", JSON.stringify(sort));
    if (tab !== "data") query.set("tab", tab);
    const tail = query.toString();
    return `#/table/${encodeURIComponent(schema)}/${encodeURIComponent(table)}${tail ? "?" + tail : ""}`;
  };

  /** Show a table view now, and record it in the history.  Drawing it at once (not
   * on the hashchange event, which comes later) means a click right after this
   * one acts on what it sees; the event then finds nothing to change. */
  S.navigateTable = function navigateTable(meta, options) {
    const hash = S.tableHash(meta.schema, meta.name, options);
    if (location.hash !== hash) location.hash = hash;
    route();
  };

  function parseList(text) {
    if (!text) return [];
    try {
      const value = JSON.parse(text); // filter values are strings: nothing to round
      return Array.isArray(value) ? value : [];
    } catch (_) {
      return [];
    }
  }

  function showView(id) {
    for (const view of document.querySelectorAll("main > .view")) view.hidden = view.id !== id;
    for (const button of document.querySelectorAll("[data-route]")) {
      button.classList.toggle("active", button.getAttribute("data-route") === id);
    }
  }

  function markActiveTable(id) {
    for (const link of document.querySelectorAll(".table-link")) {
      const active = link.getAttribute("data-table") === id;
      link.classList.toggle("active", active);
      if (active) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  function route() {
    const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
    const parts = path.split("/").map(decodeURIComponent);
    S.showError(null);
    if (parts[1] === "migrations") {
      markActiveTable(null);
      showView("migrations-pane");
      S.showMigrations();
    } else if (parts[1] === "sql") {
      markActiveTable(null);
      showView("sql-pane");
      S.showConsole();
    } else if (parts[1] === "table" && parts.length === 4) {
      const id = `${parts[2]}.${parts[3]}`;
      const meta = S.tables.get(S.tableId(parts[2], parts[3]));
      if (!meta) {
        markActiveTable(null);
        showView("welcome");
        S.showError(`There is no table ${id} in this database (reload the schema if it is new).`);
        return;
      }
      const params = new URLSearchParams(query);
      openTable(meta, parseList(params.get("f")), parseList(params.get("s")), params.get("tab") === "structure" ? "structure" : "data");
      markActiveTable(id);
    } else {
      markActiveTable(null);
      showView("welcome");
    }
  }

  function openTable(meta, filters, sort, tab) {
    showView("table-view");
    S.clear(S.$("#table-title"), h("span", { class: "muted" }, `${meta.schema}.`), meta.name, meta.kind && meta.kind !== "table" ? h("span", { class: "kind" }, meta.kind) : null);
    const notice = S.$("#table-notice");
    notice.hidden = !(S.schema.read_only === false && !S.edits.editable(meta));
    notice.textContent =
      meta.kind === "table"
        ? "No primary key: this table is read-only here (a row needs a key to be edited)."
        : `This is a ${meta.kind}: read-only here (no primary key to name its rows by).`;
    for (const name of ["data", "structure"]) {
      const tabButton = S.$(`#tab-${name}`);
      tabButton.setAttribute("aria-selected", String(tab === name));
      tabButton.href = S.tableHash(meta.schema, meta.name, { filters, sort, tab: name });
    }
    S.$("#data-pane").hidden = tab !== "data";
    S.$("#structure-pane").hidden = tab !== "structure";
    S.grid.open(meta, filters, sort);
    if (tab === "structure") S.renderStructure(meta);
  }

  /** "1.2k", "3.4M": a glance at the estimate (the exact estimate is in the title). */
  function compactCount(n) {
    if (n < 0) return "";
    if (n < 1000) return String(n);
    if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)}k`;
    if (n < 1e9) return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)}M`;
    return `${(n / 1e9).toFixed(1)}G`;
  }

  function renderSidebar() {
    const tree = S.$("#schema-tree");
    const schemas = S.schema.schemas.map((schema) =>
      h(
        "details",
        { class: "schema", open: true, testid: `schema-${schema.name}` },
        h("summary", {}, schema.name),
        h(
          "ul",
          { class: "tables" },
          schema.tables.map((table) =>
            h(
              "li",
              {},
              h(
                "a",
                {
                  class: "table-link",
                  href: S.tableHash(schema.name, table.name, {}),
                  testid: `table-${schema.name}.${table.name}`,
                  "data-table": `${schema.name}.${table.name}`,
                  title: table.estimated_rows >= 0 ? `${schema.name}.${table.name}: about ${S.formatCount(table.estimated_rows)} rows` : `${schema.name}.${table.name}`,
                },
                h("span", { class: "name" }, table.name),
                table.kind && table.kind !== "table" ? h("span", { class: "kind" }, table.kind) : null,
                h("span", { class: "rows" }, compactCount(table.estimated_rows)),
              ),
            ),
          ),
        ),
        schema.enums && schema.enums.length
          ? h(
              "details",
              { class: "enums", testid: `enums-${schema.name}` },
              h("summary", {}, `Enums (${schema.enums.length})`),
              h("ul", {}, schema.enums.map((e) => h("li", { testid: "enum" }, h("span", { class: "name" }, e.name), h("span", { class: "muted" }, e.values.join(", "))))),
            )
          : null,
      ),
    );
    S.clear(tree, schemas);
  }

  function filterSidebar(text) {
    const needle = text.trim().toLowerCase();
    for (const link of document.querySelectorAll(".table-link")) {
      link.parentElement.hidden = needle !== "" && !link.getAttribute("data-table").toLowerCase().includes(needle);
    }
  }

  /** Read the schema (again: after DDL in the console, for instance) and redraw. */
  async function loadSchema() {
    let schema;
    try {
      schema = await S.api("/api/schema");
    } catch (err) {
      S.showError(`Could not read the database schema: ${err.message}`);
      return false;
    }
    S.schema = schema;
    S.tables.clear();
    for (const group of schema.schemas) {
      for (const table of group.tables) {
        table.schema = group.name;
        S.tables.set(S.tableId(group.name, table.name), table);
      }
    }
    S.$("#db-name").textContent = schema.database;
    S.$("#server-version").textContent = `PostgreSQL ${schema.server_version}`;
    const mode = S.$("#mode");
    mode.textContent = schema.read_only ? "read-only" : "write";
    mode.className = `badge ${schema.read_only ? "read-only" : "write"}`;
    mode.title = schema.read_only ? "started without --write: nothing can be changed" : "started with --write: edits are applied after review";
    renderSidebar();
    filterSidebar(S.$("#table-search").value);
    return true;
  }

  async function start() {
    S.$("#error-close").addEventListener("click", () => S.showError(null));
    S.$("#table-search").addEventListener("input", (event) => filterSidebar(event.target.value));
    S.$("#schema-reload").addEventListener("click", async () => {
      if (await loadSchema()) {
        S.view.meta = null; // the table objects are new: open the current one afresh
        route();
      }
    });
    if (!(await loadSchema())) return;
    window.addEventListener("hashchange", route);
    route();
    document.body.setAttribute("data-ready", "true");
  }

  start();
})(window.pgstudio);
