// Short messages at the bottom of the page, read out by screen readers.

import { h } from "./dom.js";

export function toast(message, isError = false) {
  const region = document.getElementById("toasts");
  if (!region) return;
  const item = h("p", { class: `toast${isError ? " toast-error" : ""}` }, message);
  region.append(item);
  setTimeout(() => item.remove(), isError ? 8000 : 4000);
}
