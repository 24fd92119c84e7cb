/* pgbuild studio: editing (only when the server runs with --write).
 *
 * Changes are kept per table until reviewed: double-click a cell to edit it, add
 * or delete rows, then "Review SQL" shows the exact statements the server will
 * run (/api/preview) and "Apply" runs them in one transaction (/api/apply).
 * Tables without a primary key cannot be edited: a row needs a key to be named.
 */
"use strict";

(function (S) {
  const h = S.h;
  const tables = new Map(); // S.tableId(schema, name) -> {updates, inserts, deletes}
  let preview = null; // {meta, changes, statements | error, applying}
  let notice = null; // {meta, text} after an apply
  let active = null; // the open cell editor: {td, commit}

  S.edits = { editable, pending, edit, setValue, setInsertValue, addRow, removeRow, toggleDelete, renderBar };

  /** Write mode, and a primary key to name the rows by. */
  function editable(meta) {
    return Boolean(S.schema && S.schema.read_only === false && meta.primary_key && meta.primary_key.length);
  }

  /** The pending changes of a table: updates by row key, new rows, deleted rows by key. */
  function pending(meta) {
    const id = S.tableId(meta.schema, meta.name);
    if (!tables.has(id)) tables.set(id, { updates: new Map(), inserts: [], deletes: new Map() });
    return tables.get(id);
  }

  function changeCount(p) {
    return p.updates.size + p.inserts.length + p.deletes.size;
  }

  /** The body of /api/preview and /api/apply.  Deletes go first so that a new row may
   * reuse a deleted row's key. */
  function changeList(meta) {
    const p = pending(meta);
    return [
      ...Array.from(p.deletes.values(), (key) => ({ op: "delete", key })),
      ...Array.from(p.updates.values(), (u) => ({ op: "update", key: u.key, set: { ...u.set } })),
      ...p.inserts.map((insert) => ({ op: "insert", values: { ...insert.values } })),
    ];
  }

  function changed() {
    preview = null;
    notice = null;
    S.grid.render();
    renderBar();
  }

  /** Set `column` of the row `key` to `value` (text or null); back to `original` drops the change. */
  function setValue(meta, key, column, value, original) {
    const p = pending(meta);
    const keyText = JSON.stringify(key);
    let update = p.updates.get(keyText);
    if (value === original) {
      if (update) {
        delete update.set[column];
        if (!Object.keys(update.set).length) p.updates.delete(keyText);
      }
    } else {
      if (!update) p.updates.set(keyText, (update = { key, set: {} }));
      update.set[column] = value;
    }
    changed();
  }

  function setInsertValue(meta, insert, column, value) {
    insert.values[column] = value;
    changed();
  }

  /** A new row: every column left out of the INSERT (its default) until edited. */
  function addRow(meta) {
    pending(meta).inserts.unshift({ values: {} });
    changed();
  }

  function removeRow(meta, insert) {
    const p = pending(meta);
    p.inserts = p.inserts.filter((i) => i !== insert);
    changed();
  }

  function toggleDelete(meta, key) {
    const p = pending(meta);
    const keyText = JSON.stringify(key);
    if (p.deletes.has(keyText)) p.deletes.delete(keyText);
    else {
      p.deletes.set(keyText, key);
      p.updates.delete(keyText);
    }
    changed();
  }

  function discard(meta) {
    tables.delete(S.tableId(meta.schema, meta.name));
    changed();
  }

  /** Replace `td`'s content with an editor for `current` (text or null); `done(value)`
   * receives the kept value.  Enter keeps, Escape cancels, "NULL" sets SQL NULL. */
  function edit(td, meta, column, current, done) {
    if (td.classList.contains("editing")) return;
    if (active) {
      // Keeping the other edit redraws the grid: find this cell again by position.
      const row = td.parentElement.sectionRowIndex;
      const cell = td.cellIndex;
      active.commit();
      td = S.$("#grid-box tbody").rows[row].cells[cell];
    }
    const info = S.grid.columnMeta(column.name) || {};
    let input;
    if (info.enum && info.enum.length) {
      input = h("select", {}, info.enum.map((label) => h("option", { value: label }, label)));
      if (current !== null) input.value = current;
    } else if (/json/.test(column.type) || (current && (current.includes("\n") || current.length > 60))) {
      input = h("textarea", { rows: "4", spellcheck: "false" });
      input.value = current === null ? "" : current;
    } else {
      input = h("input", { type: "text", spellcheck: "false" });
      input.value = current === null ? "" : current;
    }
    input.setAttribute("data-testid", "cell-editor");
    input.setAttribute("aria-label", `new value of ${column.name}`);
    if (current === null) input.placeholder = "NULL";

    const finish = (value) => {
      active = null;
      if (value === undefined) S.grid.render();
      else done(value);
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !(input.tagName === "TEXTAREA" && event.shiftKey)) {
        event.preventDefault();
        finish(input.value);
      } else if (event.key === "Escape") {
        event.preventDefault();
        finish(undefined);
      }
    });
    const nullable = info.nullable !== false;
    S.clear(
      td,
      h(
        "div",
        { class: "editor" },
        input,
        h(
          "div",
          { class: "editor-buttons" },
          h("button", { type: "button", testid: "editor-keep", title: "keep (Enter)", onclick: () => finish(input.value) }, "✓"),
          h("button", { type: "button", testid: "editor-null", disabled: !nullable, title: nullable ? "set NULL" : "this column is NOT NULL", onclick: () => finish(null) }, "NULL"),
          h("button", { type: "button", testid: "editor-cancel", title: "cancel (Escape)", onclick: () => finish(undefined) }, "✕"),
        ),
      ),
    );
    td.classList.add("editing");
    input.focus();
    if (input.select) input.select();
    active = { td, commit: () => finish(input.value) };
  }

  /* ---- the pending-changes bar and the SQL preview ---------------------- */

  async function review(meta) {
    const changes = changeList(meta);
    preview = { meta, changes, statements: null, error: null, applying: false };
    notice = null;
    renderBar();
    try {
      const answer = await S.api("/api/preview", { schema: meta.schema, table: meta.name, changes });
      if (preview && preview.changes === changes) preview.statements = answer.statements;
    } catch (err) {
      if (preview && preview.changes === changes) preview.error = err.message;
    }
    renderBar();
  }

  async function apply(meta) {
    const current = preview;
    current.applying = true;
    current.error = null;
    renderBar();
    try {
      const answer = await S.api("/api/apply", { schema: meta.schema, table: meta.name, changes: current.changes });
      tables.delete(S.tableId(meta.schema, meta.name));
      preview = null;
      const n = answer.applied;
      notice = { meta, text: `Applied ${n} ${n === 1 ? "statement" : "statements"} in one transaction.` };
      renderBar();
      S.grid.reload();
    } catch (err) {
      current.applying = false;
      const which = err.data && Number.isInteger(err.data.change) ? ` (change ${err.data.change + 1} of ${current.changes.length})` : "";
      current.error = `Nothing was changed${which}: ${err.message}`;
      renderBar();
    }
  }

  function paramList(params) {
    if (!params || !params.length) return h("div", { class: "muted" }, "no parameters");
    return h(
      "ol",
      { class: "params", testid: "preview-params" },
      params.map((value) => h("li", {}, value === null || typeof value === "string" ? S.renderValue(value) : h("span", { class: "text" }, JSON.stringify(value)))),
    );
  }

  function previewPanel(meta) {
    const p = preview;
    const body = [];
    if (p.statements) {
      body.push(
        p.statements.map((statement) =>
          h("div", { class: "statement", testid: "preview-statement" }, h("pre", { class: "sql", testid: "preview-sql" }, statement.sql), paramList(statement.params)),
        ),
      );
    } else if (!p.error) body.push(h("div", { class: "muted" }, "Asking the server for the SQL…"));
    if (p.error) body.push(h("div", { class: "error", testid: "preview-error" }, p.error));
    return h(
      "div",
      { class: "preview", testid: "preview" },
      h("h3", {}, "SQL to run, in one transaction"),
      body,
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", class: "primary", testid: "apply", disabled: !p.statements || p.applying, onclick: () => apply(meta) }, p.applying ? "Applying…" : "Apply"),
        h("button", { type: "button", testid: "preview-back", disabled: p.applying, onclick: () => { preview = null; renderBar(); } }, "Back to editing"),
      ),
    );
  }

  /** Draw the bar above the grid: the number of pending changes, Review and Discard,
   * the preview once asked for, and the outcome of the last apply. */
  function renderBar() {
    const box = S.$("#changes");
    const meta = S.view.meta;
    if (!meta || !editable(meta)) {
      box.hidden = true;
      return;
    }
    const n = changeCount(pending(meta));
    const same = (other) => other && S.tableId(other.schema, other.name) === S.tableId(meta.schema, meta.name);
    const showPreview = Boolean(preview) && same(preview.meta);
    const showNotice = Boolean(notice) && same(notice.meta);
    box.hidden = !n && !showPreview && !showNotice;
    S.clear(
      box,
      n
        ? h(
            "div",
            { class: "pending" },
            h("span", { testid: "pending-count" }, `${n} pending ${n === 1 ? "change" : "changes"}`),
            h("button", { type: "button", class: "primary", testid: "review", disabled: showPreview, onclick: () => review(meta) }, "Review SQL"),
            h("button", { type: "button", testid: "discard", disabled: showPreview && preview.applying, onclick: () => discard(meta) }, "Discard"),
          )
        : null,
      showPreview ? previewPanel(meta) : null,
      showNotice ? h("div", { class: "ok", testid: "apply-result" }, notice.text) : null,
    );
  }
})(window.pgstudio);
