// The status view (/v1/stats): counts by status, queue depth, throughput, and the recent failures with their
// reasons, each with a retry button (POST /v1/images/{key}/reanalyze). Refreshed every few seconds while shown.

import { api, imageUrl } from "./api.js";
import { baseName, fill, formatBytes, formatNumber, h } from "./dom.js";
import { routeUrl } from "./router.js";
import { toast } from "./toast.js";

const REFRESH_MS = 3000;

function words(name) {
  // "QueueDepth" -> "queue depth"
  return String(name).replace(/_/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

// The numbers first shown, in this order; any other number follows.
const FIRST = ["Images", "Analyzed", "Pending", "Failed", "QueueDepth", "Throughput"];
const UNITS = { Throughput: "images / s" };

function when(value) {
  let date = null;
  if (typeof value === "number" && value > 1e9) date = new Date(value * 1000);  // Unix seconds
  else if (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)) date = new Date(value);
  if (date && !Number.isNaN(date.getTime())) return date.toLocaleString();
  return value === null || value === undefined ? "" : String(value);
}

function show(name, value) {
  if (typeof value === "number") {
    if (/bytes/i.test(name)) return formatBytes(value);
    return Number.isInteger(value) ? formatNumber(value) : value.toFixed(2);
  }
  if (value === null || value === undefined) return "–";
  return String(value);
}

function isFailureList(name, value) {
  return /fail/i.test(name) && Array.isArray(value) && value.every((item) => item && typeof item === "object");
}

async function retry(key, button) {
  button.disabled = true;
  try {
    await api(imageUrl(key, "reanalyze"), { method: "POST" });
    button.textContent = "Queued";
    toast(`${baseName(key)} queued for analysis`);
  } catch (error) {
    button.disabled = false;
    toast(`Could not retry ${baseName(key)}: ${error.message}`, true);
  }
}

function failuresTable(failures) {
  if (!failures.length) return h("p", { class: "muted" }, "No failures.");
  return h(
    "table",
    { class: "failures" },
    h("caption", { class: "visually-hidden" }, "Recent failures"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Image"), h("th", { scope: "col" }, "Reason"), h("th", { scope: "col" }, "When"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Retry")))),
    h(
      "tbody",
      {},
      failures.map((failure) => {
        const key = String(failure.ImageName ?? failure.Key ?? "");
        const reason = failure.Error ?? failure.Reason ?? failure.Message ?? "";
        const at = when(failure.At ?? failure.FailedAt ?? failure.AnalyzedAt ?? failure.Time);
        const button = h("button", { type: "button", class: "secondary", "aria-label": `Retry ${key}` }, "Retry");
        button.addEventListener("click", () => retry(key, button));
        return h(
          "tr",
          {},
          h("td", {}, key ? h("a", { href: routeUrl({ view: "image", key }), "data-route": true }, key) : "–"),
          h("td", { class: "reason" }, String(reason)),
          h("td", { class: "muted when" }, at),
          h("td", {}, key ? button : null),
        );
      }),
    ),
  );
}

function render(holder, stats) {
  const cards = [];
  const groups = [];
  const places = [];
  const problems = [];
  let failures = [];
  const entries = Object.entries(stats || {});
  const rank = ([name]) => (FIRST.includes(name) ? FIRST.indexOf(name) : FIRST.length);
  entries.sort((a, b) => rank(a) - rank(b));
  for (const [name, value] of entries) {
    if (isFailureList(name, value)) failures = value;
    else if (value && typeof value === "object" && !Array.isArray(value)) {
      const rows = Object.entries(value).filter(([, v]) => v === null || typeof v !== "object");
      groups.push(h("section", { class: "panel" }, h("h2", {}, words(name)), h("dl", { class: "facts" }, rows.flatMap(([k, v]) => [h("dt", {}, words(k)), h("dd", {}, show(k, v))]))));
    } else if (typeof value === "number") {
      const unit = UNITS[name] ? ` (${UNITS[name]})` : "";
      cards.push(h("li", { class: `card card-${words(name).replace(/[^a-z]+/g, "-")}` }, h("span", { class: "card-value" }, show(name, value)), h("span", { class: "card-name" }, words(name) + unit)));
    } else if (typeof value === "string" && /error/i.test(name)) {
      problems.push(h("p", { class: "notice notice-error", role: "alert" }, `${words(name)}: ${value}`));
    } else if (typeof value === "string") {
      places.push(`${words(name)}: ${value}`);
    }
  }
  fill(
    holder,
    problems,
    h("ul", { class: "cards" }, cards),
    groups.length ? h("div", { class: "status-groups" }, groups) : null,
    places.length ? h("p", { class: "muted small places" }, places.join(" · ")) : null,
    h("section", { class: "panel" }, h("h2", {}, "Recent failures"), failuresTable(failures)),
  );
}

export function renderStatus(main) {
  const controller = new AbortController();
  let timer = 0;
  const holder = h("div", { class: "status-body" }, h("p", { class: "muted" }, "Loading…"));
  const updated = h("p", { class: "muted small", role: "status" });
  fill(main, h("section", { class: "status-view" }, h("h1", {}, "Status"), updated, holder));
  let retryFocus = null;
  const load = async () => {
    try {
      const stats = await api("/v1/stats", { signal: controller.signal });
      // Do not rebuild under the user's hand: keep a focused retry button's place.
      retryFocus = document.activeElement && holder.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
      render(holder, stats);
      if (retryFocus) [...holder.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === retryFocus)?.focus();
      const ready = stats && stats.Ready === false ? "Starting: loading the models. " : "";
      updated.textContent = `${ready}Updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (error.name === "AbortError") return;
      updated.textContent = `Could not read the status: ${error.message}`;
    }
    if (!controller.signal.aborted) timer = setTimeout(load, REFRESH_MS);
  };
  load();
  return () => {
    controller.abort();
    clearTimeout(timer);
  };
}
