// Building the page's elements. Text from the server (file names, OCR text, EXIF, labels, names) is only ever set
// as textContent or an attribute value: this file has no innerHTML, and neither has any other module.

/**
 * h("a", {href: "/", class: "x", onclick: fn}, "text", child, [more children])
 * Attributes go through setAttribute; "on*" functions become listeners; strings become text nodes.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside el with children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function formatBytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatNumber(n) {
  return typeof n === "number" ? n.toLocaleString("en") : String(n);
}

/** The last path segment of an image key: what a person calls the file. */
export function baseName(key) {
  const parts = String(key).split("/");
  return parts[parts.length - 1] || String(key);
}

/** A colour safe to hand to CSS: #RRGGBB from the record, else rgb() from its numbers, else gray. */
export function cssColor(color) {
  if (typeof color.HexCode === "string" && /^#[0-9a-fA-F]{6}$/.test(color.HexCode)) return color.HexCode;
  const channel = (v) => Math.max(0, Math.min(255, Math.round(Number(v) || 0)));
  if ("Red" in color) return `rgb(${channel(color.Red)}, ${channel(color.Green)}, ${channel(color.Blue)})`;
  return "gray";
}

/** Percent for a CSS length from a ratio box value (clamped: a box never leaves its image). */
export function pct(ratio) {
  const v = Math.max(0, Math.min(1, Number(ratio) || 0));
  return `${(v * 100).toFixed(3)}%`;
}
