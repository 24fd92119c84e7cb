/* pgbuild studio: the Data tab of a table -- filters, sort, keyset pages, counts,
 * exports, and foreign-key links both ways.  Editing lives in edits.js.
 */
"use strict";

(function (S) {
  const h = S.h;

  const OPS = [
    ["=", "="],
    ["!=", "≠"],
    ["<", "<"],
    ["<=", "≤"],
    [">", ">"],
    [">=", "≥"],
    ["in", "in"],
    ["like", "like"],
    ["ilike", "ilike"],
    ["is null", "is null"],
    ["is not null", "is not null"],
    ["@>", "@> (contains)"],
  ];
  const OP_LABEL = Object.fromEntries(OPS);
  const NO_VALUE = new Set(["is null", "is not null"]);
  const PAGE_SIZES = [10, 25, 50, 100, 250, 500, 1000];

  /* The table on screen.  `stack` holds the cursors of the pages before this one
   * (keyset cursors only go forward: Previous pops the one we came from). */
  const view = {
    meta: null,
    filters: [],
    sort: [],
    after: null,
    stack: [],
    limit: 50,
    data: null,
    count: null,
    seq: 0,
  };
  S.view = view;

  S.grid = {
    open,
    reload: load,
    render: renderGrid,
    columnMeta: (name) => view.meta.columns.find((c) => c.name === name),
  };

  /** Show `meta` (a table of /api/schema) with these filters and sort; a new table,
   * filter or sort starts again from the first page. */
  function open(meta, filters, sort) {
    const same =
      view.meta === meta && JSON.stringify(filters) === JSON.stringify(view.filters) && JSON.stringify(sort) === JSON.stringify(view.sort);
    if (same) return;
    Object.assign(view, { meta, filters, sort, after: null, stack: [], data: null, count: null });
    renderFilterBar();
    renderToolbar();
    S.edits.renderBar();
    S.clear(S.$("#grid-box"));
    load();
  }

  /** Fetch the current page; an answer to an older request is dropped. */
  async function load() {
    const seq = ++view.seq;
    const meta = view.meta;
    const box = S.$("#grid-box");
    box.setAttribute("aria-busy", "true");
    S.clear(S.$("#grid-error"));
    try {
      const data = await S.api("/api/rows", {
        schema: meta.schema,
        table: meta.name,
        filters: view.filters,
        sort: view.sort,
        after: view.after,
        limit: view.limit,
      });
      if (seq !== view.seq) return;
      view.data = data;
      renderGrid();
    } catch (err) {
      if (seq !== view.seq) return;
      view.data = null;
      S.clear(box);
      S.clear(S.$("#grid-error"), h("div", { class: "error", testid: "grid-error" }, err.message));
    } finally {
      if (seq === view.seq) box.setAttribute("aria-busy", "false");
      renderPager();
    }
  }

  /* ---- filters ---------------------------------------------------------- */

  function setFilters(filters) {
    S.navigateTable(view.meta, { filters, sort: view.sort });
  }

  /** "a, b" or a JSON list ["a", "b"] -> a list of strings (numbers keep their digits). */
  function parseList(text) {
    const trimmed = text.trim();
    if (trimmed.startsWith("[")) {
      const node = S.parseJson(trimmed);
      if (node.kind !== "array") throw new SyntaxError("expected a JSON list");
      return node.items.map((item) => (item.kind === "string" ? S.jsonString(item) : item.text));
    }
    return trimmed === "" ? [] : trimmed.split(",").map((part) => part.trim());
  }

  function filterLabel(filter) {
    const op = OP_LABEL[filter.op] || filter.op;
    if (NO_VALUE.has(filter.op)) return `${filter.column} ${op}`;
    const value = Array.isArray(filter.value) ? `(${filter.value.join(", ")})` : filter.value;
    return `${filter.column} ${op} ${value}`;
  }

  function renderFilterBar() {
    const meta = view.meta;
    const chips = view.filters.map((filter, index) =>
      h(
        "span",
        { class: "chip", testid: "filter-chip" },
        h("span", { testid: "filter-label" }, filterLabel(filter)),
        h("button", {
          type: "button",
          class: "chip-remove",
          title: "remove this filter",
          testid: "filter-remove",
          onclick: () => setFilters(view.filters.filter((_, i) => i !== index)),
        }, "×"),
      ),
    );

    const column = h("select", { testid: "filter-column", "aria-label": "column" }, meta.columns.map((c) => h("option", { value: c.name }, c.name)));
    const op = h("select", { testid: "filter-op", "aria-label": "operator" }, OPS.map(([value, label]) => h("option", { value }, label)));
    const enumList = h("datalist", { id: "filter-enum-values" });
    const value = h("input", { type: "text", testid: "filter-value", "aria-label": "value", placeholder: "value", list: "filter-enum-values" });
    const message = h("span", { class: "error-inline", testid: "filter-error" });

    const sync = () => {
      const col = S.grid.columnMeta(column.value);
      value.hidden = NO_VALUE.has(op.value);
      value.placeholder = op.value === "in" ? "a, b, c  or  [\"a\", \"b\"]" : op.value === "@>" ? '{"key": "value"}' : "value";
      S.clear(enumList, ((col && col.enum) || []).map((label) => h("option", { value: label })));
    };
    column.addEventListener("change", sync);
    op.addEventListener("change", sync);
    sync();

    const form = h(
      "form",
      { class: "filter-form", testid: "filter-form" },
      column,
      op,
      value,
      enumList,
      h("button", { type: "submit", testid: "filter-add" }, "Add filter"),
      view.filters.length ? h("button", { type: "button", class: "link", testid: "filter-clear", onclick: () => setFilters([]) }, "clear all") : null,
      message,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const filter = { column: column.value, op: op.value };
      try {
        if (op.value === "in") filter.value = parseList(value.value);
        else if (!NO_VALUE.has(op.value)) filter.value = value.value;
      } catch (err) {
        message.textContent = err.message;
        return;
      }
      setFilters([...view.filters, filter]);
    });

    S.clear(S.$("#filter-bar"), h("div", { class: "chips", testid: "filters" }, chips), form);
  }

  /* ---- toolbar: counts and exports ------------------------------------- */

  function renderToolbar() {
    const meta = view.meta;
    let countText;
    if (view.count !== null) countText = `${S.formatCount(view.count)} ${view.count === 1 ? "row" : "rows"}`;
    else if (view.filters.length) countText = "filtered";
    else if (meta.estimated_rows >= 0) countText = `≈ ${S.formatCount(meta.estimated_rows)} rows (estimate)`;
    else countText = "row count not estimated yet";

    const exact = h("button", { type: "button", testid: "count-exact", title: "count(*) with the current filters" }, "exact count");
    exact.addEventListener("click", async () => {
      exact.disabled = true;
      exact.textContent = "counting…";
      try {
        const answer = await S.api("/api/count", { schema: meta.schema, table: meta.name, filters: view.filters });
        if (view.meta === meta) view.count = answer.count;
      } catch (err) {
        S.showError(`Count failed: ${err.message}`);
      }
      if (view.meta === meta) renderToolbar();
    });

    const exportLink = (format) =>
      h(
        "a",
        {
          class: "button",
          testid: `export-${format}`,
          download: "",
          href: S.apiUrl("/api/export", { schema: meta.schema, table: meta.name, format, filters: view.filters, sort: view.sort }),
          title: `all rows matching the filters, as ${format.toUpperCase()}`,
        },
        format.toUpperCase(),
      );

    S.clear(
      S.$("#toolbar"),
      h("span", { class: "count", testid: "row-count" }, countText),
      view.count === null ? exact : null,
      h("span", { class: "spacer" }),
      S.edits.editable(meta)
        ? [
            h("span", { class: "muted" }, "double-click a cell to edit"),
            h("button", { type: "button", testid: "add-row", onclick: () => S.edits.addRow(meta) }, "+ Add row"),
          ]
        : null,
      h("span", { class: "muted" }, "Export"),
      exportLink("csv"),
      exportLink("json"),
    );
  }
  S.grid.renderToolbar = renderToolbar;

  /* ---- pager ------------------------------------------------------------ */

  function renderPager() {
    const data = view.data;
    const page = view.stack.length + 1;
    const shown = data ? data.rows.length : 0;
    const first = (page - 1) * view.limit + 1;
    const info = data ? (shown ? `Page ${page} · rows ${S.formatCount(first)}–${S.formatCount(first + shown - 1)}` : `Page ${page} · no rows`) : `Page ${page}`;
    const size = h("select", { testid: "page-size", "aria-label": "rows per page" }, PAGE_SIZES.map((n) => h("option", { value: String(n), selected: n === view.limit }, `${n} per page`)));
    size.addEventListener("change", () => {
      view.limit = Number(size.value);
      Object.assign(view, { after: null, stack: [] });
      load();
    });
    const busy = S.$("#grid-box").getAttribute("aria-busy") === "true";
    S.clear(
      S.$("#pager"),
      h("button", { type: "button", testid: "page-prev", disabled: busy || view.stack.length === 0, onclick: previousPage }, "← Previous"),
      h("span", { testid: "page-info" }, info),
      h("button", { type: "button", testid: "page-next", disabled: busy || !data || !data.next, onclick: nextPage }, "Next →"),
      size,
    );
  }

  function nextPage() {
    if (!view.data || !view.data.next) return;
    view.stack.push(view.after);
    view.after = view.data.next;
    load();
  }

  function previousPage() {
    if (!view.stack.length) return;
    view.after = view.stack.pop();
    load();
  }

  /* ---- the grid --------------------------------------------------------- */

  function cycleSort(column, additive) {
    const current = view.sort.find((s) => s.column === column);
    const dir = !current ? "asc" : current.dir === "asc" ? "desc" : null;
    const sort = additive ? view.sort.filter((s) => s.column !== column) : [];
    if (dir) sort.push({ column, dir });
    S.navigateTable(view.meta, { filters: view.filters, sort });
  }

  function headerCell(column) {
    const index = view.sort.findIndex((s) => s.column === column.name);
    const dir = index >= 0 ? view.sort[index].dir : null;
    const info = S.grid.columnMeta(column.name) || {};
    const marks = [];
    if (view.meta.primary_key.includes(column.name)) marks.push(h("span", { class: "mark", title: "primary key" }, "PK"));
    if (view.meta.foreign_keys.some((fk) => fk.columns.includes(column.name))) marks.push(h("span", { class: "mark", title: "foreign key" }, "FK"));
    const button = h(
      "button",
      { type: "button", class: "sort", testid: "sort", title: "sort (shift-click to add a column)" },
      h("span", { class: "col-name" }, column.name),
      marks,
      h("span", { class: "sort-mark" }, dir === "asc" ? "▲" : dir === "desc" ? "▼" : ""),
      view.sort.length > 1 && dir ? h("sub", {}, String(index + 1)) : null,
    );
    button.addEventListener("click", (event) => cycleSort(column.name, event.shiftKey));
    return h(
      "th",
      {
        testid: "column-header",
        "data-column": column.name,
        "aria-sort": dir === "asc" ? "ascending" : dir === "desc" ? "descending" : "none",
        class: S.isNumericType(column.type) ? "num" : null,
        title: info.nullable === false ? `${column.type} not null` : column.type,
      },
      button,
      h("span", { class: "col-type" }, column.type),
    );
  }

  /** The hash of a table view filtered by `column = value` pairs. */
  function filteredLink(schema, table, columns, values) {
    const filters = columns.map((column, i) => ({ column, op: "=", value: values[i] }));
    return S.tableHash(schema, table, { filters });
  }

  /** Links to the row a foreign key points at, by the first column of each key. */
  function foreignKeyLinks(row, indexOf) {
    const links = new Map();
    for (const fk of view.meta.foreign_keys) {
      const values = fk.columns.map((c) => S.valueText(row[indexOf[c]]));
      if (values.some((v) => v === null || v === undefined)) continue;
      for (const column of fk.columns) {
        links.set(
          column,
          h(
            "a",
            {
              class: "fk",
              testid: "fk-link",
              href: filteredLink(fk.ref_schema, fk.ref_table, fk.ref_columns, values),
              title: `open the referenced row in ${fk.ref_schema}.${fk.ref_table}`,
            },
            "→",
          ),
        );
      }
    }
    return links;
  }

  /** A row's menu of the tables that reference it, each opened filtered on its key columns. */
  function referencedByMenu(row, indexOf) {
    const refs = view.meta.referenced_by;
    if (!refs.length) return null;
    const items = refs.map((ref) => {
      const values = ref.ref_columns.map((c) => S.valueText(row[indexOf[c]]));
      const label = `${ref.schema}.${ref.table} (${ref.columns.join(", ")})`;
      if (values.some((v) => v === null || v === undefined)) return h("span", { class: "muted" }, label);
      return h("a", { testid: "refby-item", "data-table": `${ref.schema}.${ref.table}`, href: filteredLink(ref.schema, ref.table, ref.columns, values) }, label);
    });
    return h(
      "details",
      { class: "menu", testid: "refby" },
      h("summary", { testid: "refby-button", title: "rows referencing this row" }, "⇠"),
      h("div", { class: "menu-list", testid: "refby-menu" }, h("div", { class: "menu-title" }, "Referenced by"), items),
    );
  }

  function renderGrid() {
    const data = view.data;
    if (!data) return;
    const meta = view.meta;
    const editable = S.edits.editable(meta);
    const pending = editable ? S.edits.pending(meta) : null;
    const indexOf = Object.fromEntries(data.columns.map((c, i) => [c.name, i]));
    const numeric = data.columns.map((c) => S.isNumericType(c.type));
    const withActions = editable || meta.referenced_by.length > 0;

    const insertRows = pending
      ? pending.inserts.map((insert) =>
          h(
            "tr",
            { class: "new", testid: "new-row" },
            h("td", { class: "actions" }, h("button", { type: "button", class: "icon", title: "remove this new row", testid: "remove-new-row", onclick: () => S.edits.removeRow(meta, insert) }, "×")),
            data.columns.map((column, i) => {
              const has = Object.prototype.hasOwnProperty.call(insert.values, column.name);
              const td = h(
                "td",
                { testid: "cell", "data-column": column.name, class: [has ? "dirty" : "", numeric[i] ? "num" : ""].join(" ").trim() || null },
                has ? S.renderValue(insert.values[column.name]) : h("span", { class: "default" }, "default"),
              );
              td.addEventListener("dblclick", () =>
                S.edits.edit(td, meta, column, has ? insert.values[column.name] : "", (value) => S.edits.setInsertValue(meta, insert, column.name, value)),
              );
              return td;
            }),
          ),
        )
      : [];

    const rows = data.rows.map((row, r) => {
      const key = data.keys ? data.keys[r] : null;
      const keyText = key ? JSON.stringify(key) : null;
      const update = pending && key ? pending.updates.get(keyText) : null;
      const deleted = pending && key ? pending.deletes.has(keyText) : false;
      const links = foreignKeyLinks(row, indexOf);
      const actions = withActions
        ? h(
            "td",
            { class: "actions" },
            referencedByMenu(row, indexOf),
            editable && key
              ? h(
                  "button",
                  {
                    type: "button",
                    class: "icon",
                    testid: "delete-row",
                    title: deleted ? "keep this row" : "delete this row",
                    onclick: () => S.edits.toggleDelete(meta, key),
                  },
                  deleted ? "↺" : "✕",
                )
              : null,
          )
        : null;
      return h(
        "tr",
        { testid: "row", class: deleted ? "deleted" : null, "data-key": keyText },
        actions,
        row.map((cell, i) => {
          const column = data.columns[i];
          const changed = update && Object.prototype.hasOwnProperty.call(update.set, column.name);
          const shown = changed ? update.set[column.name] : cell;
          const download =
            cell && typeof cell === "object" && "bytea" in cell && key
              ? S.apiUrl("/api/bytea", { schema: meta.schema, table: meta.name, column: column.name, key })
              : null;
          const td = h(
            "td",
            { testid: "cell", "data-column": column.name, class: [changed ? "dirty" : "", numeric[i] ? "num" : ""].join(" ").trim() || null },
            S.renderValue(shown, download),
            changed ? null : links.get(column.name),
          );
          if (editable && key && !deleted && !(cell && typeof cell === "object" && "bytea" in cell)) {
            td.addEventListener("dblclick", (event) => {
              if (event.target.closest("a, summary, button")) return;
              S.edits.edit(td, meta, column, S.valueText(shown), (value) => S.edits.setValue(meta, key, column.name, value, S.valueText(cell)));
            });
          }
          return td;
        }),
      );
    });

    const empty = !rows.length && !insertRows.length ? h("tr", {}, h("td", { class: "muted empty-grid", colspan: String(data.columns.length + 1) }, "No rows.")) : null;

    S.clear(
      S.$("#grid-box"),
      h(
        "table",
        { class: "grid", testid: "grid" },
        h("thead", {}, h("tr", {}, withActions ? h("th", { class: "actions" }) : null, data.columns.map(headerCell))),
        h("tbody", {}, insertRows, rows, empty),
      ),
    );
  }

  // One open row menu at a time; a click elsewhere closes it.
  document.addEventListener("click", (event) => {
    for (const menu of document.querySelectorAll("details.menu[open]")) {
      if (!menu.contains(event.target)) menu.open = false;
    }
  });
})(window.pgstudio);
