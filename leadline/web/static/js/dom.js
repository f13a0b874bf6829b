/**
 * Building the page from data. Answers, notes, titles and passages come from a model and a
 * corpus, so they are only ever inserted as text nodes, never parsed as HTML: `h` takes strings
 * as text, and nothing in this page assigns innerHTML.
 */

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") el.textContent = String(value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h("li", {class: "ev"}, "text", h("b", {}, "bold")). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, for the chart. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export const byId = (id) => document.getElementById(id);

const INTEGER = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** 12345 -> "12,345"; null -> "–". */
export function num(value) {
  return value === null || value === undefined ? "–" : INTEGER.format(value);
}

/** Shorten text to `limit` characters with an ellipsis, for labels that must fit. */
export function clip(text, limit) {
  const t = String(text ?? "");
  return t.length > limit ? `${t.slice(0, limit - 1)}…` : t;
}

/** "2026-11-02T10:04:05.123Z" -> a short local date and time. */
export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}
