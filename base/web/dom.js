// Building the page from data: every value from a repository, a request or a report is
// added as TEXT (text nodes, textContent, attributes set one by one), never parsed as HTML.
"use strict";

(function () {
  /** An element with attributes and children; strings and numbers become text nodes. */
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** Replace ``node``'s children (nested arrays allowed; strings become text). */
  function fill(node, ...children) {
    node.replaceChildren();
    return append(node, children);
  }

  /** A number for a table cell: "–" when absent, else with a fixed number of decimals and separators. */
  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (typeof value !== "number") return String(value);
    return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  /** A table from column headings and rows of cells (text or nodes). */
  function table(caption, headings, rows, attributes) {
    return el(
      "table",
      attributes || {},
      caption ? el("caption", {}, caption) : null,
      el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((cells) => (cells instanceof Node ? cells : el("tr", {}, cells.map((c) => el("td", {}, c)))))),
    );
  }

  window.ConvzooDom = { el, append, fill, fmt, table };
})();
