/* pgbuild studio: the Structure tab, the Migrations pane and the SQL console. */
"use strict";

(function (S) {
  const h = S.h;

  const section = (title, testid, content) => h("section", { class: "block", testid }, h("h3", {}, title), content);
  const CONSTRAINT_KINDS = { p: "primary key", u: "unique", f: "foreign key", c: "check", x: "exclusion", n: "not null", t: "trigger" };
  const none = (text) => h("p", { class: "muted" }, text);

  /* ---- structure --------------------------------------------------------- */

  /** Columns (type, nullability, default, enum labels), indexes, constraints, keys, DDL. */
  S.renderStructure = function renderStructure(meta) {
    const pk = new Set(meta.primary_key);
    const columns = h(
      "table",
      { class: "plain", testid: "structure-columns" },
      h("thead", {}, h("tr", {}, ["Column", "Type", "Null", "Default", "Values"].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        meta.columns.map((c) =>
          h(
            "tr",
            { "data-column": c.name },
            h("td", {}, h("span", { class: "mono" }, c.name), pk.has(c.name) ? h("span", { class: "mark", title: "primary key" }, "PK") : null),
            h("td", { class: "mono" }, c.type),
            h("td", {}, c.nullable ? "null" : h("strong", {}, "not null")),
            h("td", { class: "mono" }, c.default === null || c.default === undefined ? h("span", { class: "muted" }, "—") : c.default),
            h("td", {}, c.enum ? h("span", { class: "mono" }, c.enum.join(", ")) : null),
          ),
        ),
      ),
    );
    const rows = (items, testid, cells) =>
      items.length ? h("table", { class: "plain", testid }, h("tbody", {}, items.map((item) => h("tr", {}, cells(item).map((c) => h("td", {}, c)))))) : none("None.");
    const mono = (text) => h("span", { class: "mono" }, text);

    S.clear(
      S.$("#structure-pane"),
      section("Columns", "structure-columns-block", columns),
      section("Indexes", "structure-indexes", rows(meta.indexes, "structure-indexes-table", (i) => [mono(i.name), mono(i.definition)])),
      section("Constraints", "structure-constraints", rows(meta.constraints, "structure-constraints-table", (c) => [mono(c.name), CONSTRAINT_KINDS[c.type] || c.type, mono(c.definition)])),
      section(
        "Foreign keys",
        "structure-foreign-keys",
        rows(meta.foreign_keys, "structure-fk-table", (fk) => [
          mono(fk.name),
          mono(`(${fk.columns.join(", ")})`),
          h("span", {}, "→ ", h("a", { href: S.tableHash(fk.ref_schema, fk.ref_table, {}) }, `${fk.ref_schema}.${fk.ref_table}`), ` (${fk.ref_columns.join(", ")})`),
        ]),
      ),
      section(
        "Referenced by",
        "structure-referenced-by",
        rows(meta.referenced_by, "structure-refby-table", (ref) => [
          mono(ref.name),
          h("span", {}, h("a", { href: S.tableHash(ref.schema, ref.table, {}) }, `${ref.schema}.${ref.table}`), ` (${ref.columns.join(", ")})`),
          mono(`→ (${ref.ref_columns.join(", ")})`),
        ]),
      ),
      section("DDL", "structure-ddl", h("pre", { class: "sql", testid: "ddl" }, meta.ddl || "")),
    );
  };

  /* ---- migrations -------------------------------------------------------- */

  const nameOf = (item) => (typeof item === "string" ? item : item.name);

  /** Applied, pending and changed migrations, and the drift between the declared schema and the database. */
  S.showMigrations = async function showMigrations() {
    const pane = S.$("#migrations-pane");
    const head = h(
      "div",
      { class: "view-head" },
      h("h2", {}, "Migrations"),
      h("button", { type: "button", testid: "migrations-refresh", onclick: showMigrations }, "Refresh"),
    );
    S.clear(pane, head, none("Loading…"));
    let m;
    try {
      m = await S.api("/api/migrations");
    } catch (err) {
      S.clear(pane, head, h("div", { class: "error", testid: "migrations-error" }, err.message));
      return;
    }
    const list = (items, testid, empty) =>
      items && items.length ? h("ul", { class: "names", testid }, items.map((item) => h("li", { class: "mono" }, nameOf(item)))) : h("p", { class: "muted", testid }, empty);
    let drift;
    if (m.drift === null || m.drift === undefined) drift = h("p", { class: "muted", testid: "migrations-drift" }, "Not checked.");
    else if (!m.drift.length) drift = h("p", { class: "ok", testid: "migrations-drift" }, "No drift: the database matches the declared schema.");
    else drift = h("pre", { class: "sql drift", testid: "migrations-drift" }, m.drift.join("\n"));

    const configured = [
      m.project ? h("p", { class: "muted" }, "Project: ", h("span", { class: "mono" }, m.project)) : null,
      section(
        `Applied (${(m.applied || []).length})`,
        "migrations-applied-block",
        m.applied && m.applied.length
          ? h(
              "table",
              { class: "plain", testid: "migrations-applied" },
              h("tbody", {}, m.applied.map((a) => h("tr", {}, h("td", { class: "mono" }, a.name), h("td", { class: "mono muted" }, a.applied_at || "")))),
            )
          : h("p", { class: "muted", testid: "migrations-applied" }, "None applied yet."),
      ),
      section(`Pending (${(m.pending || []).length})`, "migrations-pending-block", list(m.pending, "migrations-pending", "Nothing pending.")),
      section(
        `Changed after being applied (${(m.mismatched || []).length})`,
        "migrations-mismatched-block",
        list(m.mismatched, "migrations-mismatched", "No checksum mismatches."),
      ),
      m.missing && m.missing.length
        ? section(`Applied but their files are gone (${m.missing.length})`, "migrations-missing-block", list(m.missing, "migrations-missing", ""))
        : null,
      m.problems && m.problems.length
        ? section("Problems", "migrations-problems-block", h("ul", { class: "names", testid: "migrations-problems" }, m.problems.map((p) => h("li", {}, p))))
        : null,
      section("Drift from the declared schema", "migrations-drift-block", drift),
    ];

    S.clear(
      pane,
      head,
      m.error ? h("div", { class: "error", testid: "migrations-error" }, m.error) : null,
      m.configured === false
        ? h("div", { class: "notice", testid: "migrations-not-configured" }, "Migrations are not configured", m.hint ? `: ${m.hint}` : ".")
        : configured,
    );
  };

  /* ---- SQL console -------------------------------------------------------- */

  let running = null; // {id} of the statement in flight

  /** Build the console once; it keeps its text and results while you browse. */
  S.showConsole = function showConsole() {
    const pane = S.$("#sql-pane");
    if (pane.firstChild) return;
    const sqlInput = h("textarea", { testid: "sql-input", rows: "8", spellcheck: "false", placeholder: "select * from …   (Ctrl+Enter runs)", "aria-label": "SQL" });
    const params = h("input", { type: "text", testid: "sql-params", spellcheck: "false", placeholder: 'parameters for $1, $2, … as a JSON list, e.g. ["abc", 42, null]', "aria-label": "parameters" });
    const status = h("div", { class: "status", testid: "sql-status" });
    const output = h("div", { class: "sql-output", testid: "sql-output" });
    const button = (label, testid, options, title) =>
      h("button", { type: "button", testid, title, onclick: () => run(options) }, label);
    const cancel = h("button", { type: "button", testid: "sql-cancel", disabled: true, title: "cancel the running statement" }, "Cancel");
    const runButtons = [
      button("Run", "sql-run", {}, "run (Ctrl+Enter)"),
      button("Explain", "sql-explain", { explain: true }, "EXPLAIN: the plan, without running"),
      button("Explain analyze", "sql-explain-analyze", { explain: true, analyze: true }, "EXPLAIN ANALYZE: runs the statement"),
    ];
    runButtons[0].classList.add("primary");

    sqlInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        run({});
      }
    });
    cancel.addEventListener("click", async () => {
      if (!running) return;
      cancel.disabled = true;
      status.textContent = "Cancelling…";
      try {
        const answer = await S.api("/api/cancel", { id: running.id });
        if (!answer.cancelled) status.textContent = "Nothing to cancel: the statement had finished.";
      } catch (err) {
        status.textContent = `Cancel failed: ${err.message}`;
      }
    });

    /** Parameters as typed: a JSON list whose numbers keep their digits (read by
     * S.parseJson, never through a JavaScript number) and are sent as text. */
    function readParams() {
      const text = params.value.trim();
      if (!text) return [];
      const node = S.parseJson(text);
      if (node.kind !== "array") throw new SyntaxError("not a list");
      return node.items.map((item, i) => {
        if (item.kind === "null") return null;
        if (item.kind === "string") return S.jsonString(item);
        if (item.kind === "number" || item.kind === "boolean") return item.text;
        throw new SyntaxError(`parameter $${i + 1} is not a string, number, boolean or null`);
      });
    }

    async function run({ explain = false, analyze = false }) {
      if (running) return;
      let values;
      try {
        values = readParams();
      } catch (err) {
        S.clear(output, h("div", { class: "error", testid: "sql-error" }, `Parameters must be a JSON list (${err.message}).`));
        return;
      }
      const id = S.randomId();
      const body = { sql: sqlInput.value, params: values, explain, analyze, id };
      running = { id };
      runButtons.forEach((b) => (b.disabled = true));
      cancel.disabled = false;
      status.textContent = "Running…";
      output.setAttribute("aria-busy", "true");
      const started = performance.now();
      try {
        const r = await S.api("/api/sql", body);
        const ms = Math.round(performance.now() - started);
        const parts = [r.status || "OK"];
        if (r.columns && r.columns.length) parts.push(`${S.formatCount(r.rows.length)} ${r.rows.length === 1 ? "row" : "rows"}${r.truncated ? " shown (truncated)" : ""}`);
        else if (r.rowcount !== null && r.rowcount !== undefined && r.rowcount >= 0) parts.push(`${S.formatCount(r.rowcount)} rows affected`);
        parts.push(`${ms} ms`);
        status.textContent = parts.join(" · ");
        if (explain && r.columns && r.columns.length === 1) {
          S.clear(output, h("pre", { class: "sql plan", testid: "sql-plan" }, r.rows.map((row) => S.valueText(row[0]) ?? "").join("\n")));
        } else if (r.columns && r.columns.length) {
          S.clear(output, S.resultTable(r.columns, r.rows, "sql-result"));
        } else S.clear(output);
      } catch (err) {
        status.textContent = "Failed";
        S.clear(output, h("div", { class: "error", testid: "sql-error" }, err.message));
      } finally {
        running = null;
        runButtons.forEach((b) => (b.disabled = false));
        cancel.disabled = true;
        output.setAttribute("aria-busy", "false");
      }
    }

    S.append(pane, [
      h("div", { class: "view-head" }, h("h2", {}, "SQL console"), h("span", { class: "muted" }, S.schema && S.schema.read_only ? "read-only session" : "write session: statements run and commit")),
      sqlInput,
      params,
      h("div", { class: "buttons" }, runButtons, cancel, status),
      output,
    ]);
  };
})(window.pgstudio);
