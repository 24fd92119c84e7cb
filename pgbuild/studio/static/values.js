/* pgbuild studio: showing values exactly as PostgreSQL printed them.
 *
 * The server sends every cell as null (SQL NULL), a string (PostgreSQL's text
 * output: timestamptz with its offset, bigint and numeric digits, arrays in
 * their {..} form), {"bytea": size} or {"json": text}.  Nothing here turns a
 * value into a JavaScript number, so nothing is rounded or shifted.
 */
"use strict";

(function (S) {
  const h = S.h;

  /** Parse JSON text into a tree that keeps every number and string as its source
   * text: JSON.parse would round 12345678901234567890 to 12345678901234567000.
   * Nodes: {kind: "object", entries: [[key, node]]}, {kind: "array", items: [node]},
   * {kind: "number" | "string" | "boolean" | "null", text}.  Throws SyntaxError. */
  S.parseJson = function parseJson(text) {
    let i = 0;
    const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

    const fail = (what) => {
      throw new SyntaxError(`${what} at offset ${i} of the JSON text`);
    };
    const skipSpace = () => {
      while (i < text.length && " \t\n\r".includes(text[i])) i++;
    };
    const stringToken = () => {
      const start = i++;
      while (i < text.length) {
        const c = text[i];
        if (c === "\\") i += 2;
        else if (c === '"') return text.slice(start, ++i);
        else i++;
      }
      return fail("unterminated string");
    };
    const expect = (c) => {
      skipSpace();
      if (text[i] !== c) fail(`expected '${c}'`);
      i++;
    };
    const container = (close, item) => {
      i++;
      const out = [];
      skipSpace();
      if (text[i] === close) {
        i++;
        return out;
      }
      for (;;) {
        out.push(item());
        skipSpace();
        if (text[i] === ",") i++;
        else if (text[i] === close) {
          i++;
          return out;
        } else fail(`expected ',' or '${close}'`);
      }
    };
    const value = () => {
      skipSpace();
      const c = text[i];
      if (c === "{") {
        const entries = container("}", () => {
          skipSpace();
          if (text[i] !== '"') fail("expected a key");
          const key = JSON.parse(stringToken()); // a string only: nothing to round
          expect(":");
          return [key, value()];
        });
        return { kind: "object", entries };
      }
      if (c === "[") return { kind: "array", items: container("]", value) };
      if (c === '"') return { kind: "string", text: stringToken() };
      NUMBER.lastIndex = i;
      const number = NUMBER.exec(text);
      if (number) {
        i = NUMBER.lastIndex;
        return { kind: "number", text: number[0] };
      }
      for (const word of ["true", "false", "null"]) {
        if (text.startsWith(word, i)) {
          i += word.length;
          return { kind: word === "null" ? "null" : "boolean", text: word };
        }
      }
      return fail("unexpected character");
    };

    const root = value();
    skipSpace();
    if (i !== text.length) fail("unexpected text after the value");
    return root;
  };

  /** The decoded string of a "string" node (its source text has the quotes and escapes). */
  S.jsonString = (node) => JSON.parse(node.text);

  /** A collapsible tree for a parsed JSON node: objects and arrays are <details>
   * whose summary carries the key (`key`, optional) and the size. */
  S.jsonTree = function jsonTree(node, open, key) {
    const keyLabel = key === undefined ? null : [h("span", { class: typeof key === "number" ? "json-index" : "json-key" }, String(key)), ": "];
    if (node.kind !== "object" && node.kind !== "array") {
      return h("span", {}, keyLabel, h("span", { class: `json-${node.kind}` }, node.text));
    }
    const isObject = node.kind === "object";
    const children = isObject ? node.entries : node.items.map((item, index) => [index, item]);
    const count = children.length;
    const size = isObject ? `{ ${count} ${count === 1 ? "key" : "keys"} }` : `[ ${count} ${count === 1 ? "item" : "items"} ]`;
    if (!count) return h("span", {}, keyLabel, h("span", { class: "muted" }, isObject ? "{}" : "[]"));
    return h(
      "details",
      { class: "json-node", open },
      h("summary", {}, keyLabel, h("span", { class: "muted" }, size)),
      h("ul", {}, children.map(([childKey, child]) => h("li", {}, jsonTree(child, false, childKey)))),
    );
  };

  /** "12 bytes", "1.5 KB", "50.0 MB". */
  S.formatSize = function formatSize(n) {
    if (n < 1024) return n === 1 ? "1 byte" : `${n} bytes`;
    const units = ["KB", "MB", "GB", "TB"];
    let size = n / 1024;
    let unit = 0;
    while (size >= 1024 && unit < units.length - 1) {
      size /= 1024;
      unit++;
    }
    return `${size.toFixed(1)} ${units[unit]}`;
  };

  /** A JSON cell: a one-line preview that opens into a tree, with the raw text a click away.
   * The tree is built on first opening, so a large document costs nothing until asked. */
  function jsonCell(text) {
    const body = h("div", { class: "json-body" });
    const cell = h("details", { class: "json", testid: "json-cell" }, h("summary", { title: text.length > 2000 ? text.slice(0, 2000) + "…" : text }, text), body);
    cell.addEventListener("toggle", () => {
      if (!cell.open || body.firstChild) return;
      const raw = h("pre", { class: "json-raw", testid: "json-raw", hidden: true }, text);
      let tree;
      try {
        tree = S.jsonTree(S.parseJson(text), true);
      } catch (err) {
        tree = h("span", { class: "muted" }, `not shown as a tree: ${err.message}`);
      }
      const treeBox = h("div", { class: "json-tree", testid: "json-tree" }, tree);
      const toggle = h("button", { type: "button", class: "link", testid: "json-raw-toggle" }, "raw");
      toggle.addEventListener("click", () => {
        raw.hidden = !raw.hidden;
        treeBox.hidden = !raw.hidden;
        toggle.textContent = raw.hidden ? "raw" : "tree";
      });
      S.append(body, [toggle, treeBox, raw]);
    });
    return cell;
  }

  /** The element showing one cell value.  `download`, when given, is the URL of a bytea's value. */
  S.renderValue = function renderValue(value, download) {
    if (value === null) return h("span", { class: "null" }, "NULL");
    if (typeof value === "string") {
      if (value === "") return h("span", { class: "empty", title: "empty string" });
      return h("span", { class: "text", title: value.length > 2000 ? value.slice(0, 2000) + "…" : value }, value);
    }
    if (typeof value === "object" && "bytea" in value) {
      return h(
        "span",
        { class: "bytea" },
        h("span", { testid: "bytea-size" }, S.formatSize(value.bytea)),
        download ? [" ", h("a", { href: download, download: "", testid: "bytea-download" }, "download")] : null,
      );
    }
    if (typeof value === "object" && "json" in value) return jsonCell(value.json);
    return h("span", { class: "text" }, JSON.stringify(value));
  };

  /** The editable text of a cell (null stays null; JSON edits as its text). */
  S.valueText = function valueText(value) {
    if (value === null || value === undefined || typeof value === "string") return value;
    if ("json" in value) return value.json;
    return undefined; // bytea: no text to edit or to filter by
  };

  const NUMERIC = /^(smallint|integer|bigint|int[248]?|numeric|decimal|real|double precision|float[48]?|money|oid)(\(\d+(,\s*-?\d+)?\))?$/;
  /** True for types shown right-aligned. */
  S.isNumericType = (type) => NUMERIC.test(type || "");

  /** A plain read-only results table (the SQL console's). */
  S.resultTable = function resultTable(columns, rows, testid) {
    return h(
      "div",
      { class: "grid-wrap" },
      h(
        "table",
        { class: "grid", testid },
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { "data-column": c.name }, h("span", { class: "col-name" }, c.name), c.type ? h("span", { class: "col-type" }, c.type) : null)))),
        h(
          "tbody",
          {},
          rows.map((row) =>
            h(
              "tr",
              { testid: "row" },
              row.map((cell, index) => h("td", { testid: "cell", "data-column": columns[index].name, class: S.isNumericType(columns[index].type) ? "num" : null }, S.renderValue(cell))),
            ),
          ),
        ),
      ),
    );
  };
})(window.pgstudio);
