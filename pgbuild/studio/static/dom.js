/* pgbuild studio: DOM helpers and the API client shared by the other scripts.
 *
 * The scripts are classic scripts (no modules, no framework) loaded in order by
 * index.html; each adds its functions to the one global namespace `pgstudio`.
 */
"use strict";

window.pgstudio = (function () {
  const S = {};

  // The server writes the session token into this tag when it serves the page.
  S.token = document.querySelector('meta[name="studio-token"]').getAttribute("content");

  /** Build an element: h("a", {href: "#", testid: "x", onclick: fn}, "text", child, [more]).
   * Attributes: `class`, `testid` (-> data-testid), `data-*`, `on<event>` (a function,
   * added with addEventListener: the CSP forbids handler attributes), booleans
   * (true -> present, false/null/undefined -> absent), anything else as a string. */
  S.h = function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") {
        el.addEventListener(name.slice(2), value);
      } else if (name === "testid") {
        el.setAttribute("data-testid", value);
      } else if (name === "value" && (tag === "input" || tag === "textarea" || tag === "select")) {
        el.value = value;
      } else {
        el.setAttribute(name, value === true ? "" : String(value));
      }
    }
    S.append(el, children);
    return el;
  };

  /** Append strings, nodes and (nested) arrays of them; null and undefined are skipped. */
  S.append = function append(el, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(el, child);
      else el.append(child instanceof Node ? child : String(child));
    }
    return el;
  };

  S.clear = function clear(el, ...children) {
    el.replaceChildren();
    return S.append(el, children);
  };

  S.$ = (selector, root) => (root || document).querySelector(selector);

  /** An error the server reported (`{"error": "..."}`) or a failed request. */
  class ApiError extends Error {
    constructor(message, status, data) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.data = data || {}; // the whole error answer (`column`, `change`, `sqlstate`...)
    }
  }
  S.ApiError = ApiError;

  /** GET `path` (no body) or POST `body` as JSON; resolve to the decoded JSON answer.
   * Every request carries the token header; the server refuses any without it. */
  S.api = async function api(path, body, options) {
    const init = { headers: { "X-Studio-Token": S.token }, signal: options && options.signal };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(`The studio server did not answer (${err.message}).`, 0);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      // a body that is not JSON: reported below by status
    }
    if (!response.ok) {
      let message = data && typeof data.error === "string" ? data.error : `${response.status} ${response.statusText}`;
      if (data && typeof data.detail === "string" && data.detail) message += `\n${data.detail}`;
      throw new ApiError(message, response.status, data);
    }
    return data;
  };

  /** A URL for links and downloads, which cannot send headers: the token goes in the query. */
  S.apiUrl = function apiUrl(path, params) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      query.set(name, typeof value === "string" ? value : JSON.stringify(value));
    }
    query.set("token", S.token);
    return `${path}?${query}`;
  };

  /** Show an error in the banner at the top of the page (or hide it with null). */
  S.showError = function showError(message) {
    const banner = S.$("#error");
    S.clear(S.$("#error-text"), message || "");
    banner.hidden = !message;
  };

  /** 1234567 -> "1,234,567" (counts are plain integers; no locale surprises). */
  S.formatCount = function formatCount(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  };

  /** A fresh random id (for the SQL console's cancel). */
  S.randomId = function randomId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  };

  return S;
})();
