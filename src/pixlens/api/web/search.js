// The search view: results of /v1/search as a grid of thumbnails with infinite scroll (cursor pages), facets that
// refine the query, and the query's problems (malformed, unknown words) said plainly. Without a query: every image.

import { api, ApiError, imageUrl, loadImage } from "./api.js";
import { baseName, fill, formatNumber, h } from "./dom.js";
import { fieldTerm, labelTerm, refine } from "./query.js";
import { routeUrl } from "./router.js";

/** Images per page: about two screens of tiles (fewer requests on a big screen, less waiting on a small one). */
function pageSize() {
  const columns = Math.max(1, Math.floor(window.innerWidth / 190));
  const rows = Math.max(1, Math.ceil(window.innerHeight / 220));
  return Math.max(8, Math.min(60, columns * rows * 2));
}

export function tile(key, extra = null) {
  const img = h("img", { alt: key, loading: "lazy", decoding: "async", width: 240, height: 240 });
  loadImage(img, imageUrl(key, "thumbnail"));
  return h(
    "li",
    { class: "tile" },
    h(
      "a",
      { href: routeUrl({ view: "image", key }), "data-route": true, title: key },
      img,
      h("span", { class: "tile-name" }, baseName(key)),
      extra,
    ),
  );
}

function searchLink(q, ...children) {
  return h("a", { href: routeUrl({ view: "search", q }), "data-route": true }, ...children);
}

const FACETS_SHOWN = 10;

function facetList(title, entries) {
  if (!entries.length) return null;
  const long = entries.length > FACETS_SHOWN + 2;
  const list = h(
    "ul",
    {},
    entries.map(({ q, label, count, swatch }, i) =>
      h(
        "li",
        { hidden: long && i >= FACETS_SHOWN },
        searchLink(
          q,
          swatch ? h("span", { class: `swatch swatch-${swatch}`, "aria-hidden": "true" }) : null,
          h("span", { class: "facet-name" }, label),
          h("span", { class: "count", "aria-label": `${count} images` }, formatNumber(count)),
        ),
      ),
    ),
  );
  const more = long
    ? h("button", { type: "button", class: "link facet-more" }, `Show ${entries.length - FACETS_SHOWN} more`)
    : null;
  more?.addEventListener("click", () => {
    list.querySelectorAll("li[hidden]").forEach((li) => li.removeAttribute("hidden"));
    list.children[FACETS_SHOWN]?.querySelector("a")?.focus();
    more.remove();
  });
  return h("section", { class: "facet-group" }, h("h2", {}, title), list, more);
}

function renderFacets(aside, q, facets) {
  if (!facets || typeof facets !== "object") {
    fill(aside);
    return;
  }
  const list = (name) => (Array.isArray(facets[name]) ? facets[name] : []);
  const groups = [
    facetList(
      "Labels",
      list("Labels").map((f) => ({ q: refine(q, labelTerm(f.Name)), label: f.Name, count: f.Count })),
    ),
    facetList(
      "Categories",
      list("Categories").map((f) => ({ q: refine(q, fieldTerm("category", f.Name)), label: f.Name, count: f.Count })),
    ),
    facetList(
      "Colours",
      list("Colors").map((f) => ({ q: refine(q, `color:${f.Name}`), label: f.Name, count: f.Count, swatch: f.Name })),
    ),
    facetList(
      "People",
      list("People").map((f) => ({
        q: refine(q, `person:${f.PersonId}`),
        label: f.Name || `Person ${f.PersonId}`,
        count: f.Count,
      })),
    ),
  ];
  const more = [];
  if (typeof facets.Faces === "number" && facets.Faces > 0) {
    more.push(h("li", {}, searchLink(refine(q, "has:faces"), h("span", { class: "facet-name" }, "With faces"), h("span", { class: "count" }, formatNumber(facets.Faces)))));
  }
  if (typeof facets.HasText === "number" && facets.HasText > 0) {
    more.push(h("li", {}, searchLink(refine(q, "has:text"), h("span", { class: "facet-name" }, "With text"), h("span", { class: "count" }, formatNumber(facets.HasText)))));
  }
  if (more.length) groups.push(h("section", { class: "facet-group" }, h("h2", {}, "Also"), h("ul", {}, more)));
  // On a narrow screen the facets fold away above the results (open by default on a wide one).
  const wide = window.matchMedia("(min-width: 821px)").matches;
  fill(aside, h("details", { class: "refine", open: wide }, h("summary", {}, "Refine"), h("div", { class: "facet-groups" }, groups)));
}

function queryProblem(q, error) {
  const out = [h("p", { class: "error-title" }, error.message)];
  const position = error.body && Number.isInteger(error.body.position) ? error.body.position : null;
  if (position !== null && position >= 0 && position <= q.length) {
    // A window of the query around the problem (a long query would push the caret off screen).
    const start = Math.max(0, position - 30);
    const end = Math.min(q.length, position + 30);
    const before = start > 0 ? "…" : "";
    const shown = `${before}${q.slice(start, end)}${end < q.length ? "…" : ""}`;
    out.push(h("pre", { class: "caret", "aria-hidden": "true" }, `${shown}\n${" ".repeat(before.length + position - start)}^`));
  }
  out.push(h("p", {}, "See the query language: labels, quotes for several words, AND / OR / NOT, text:, color:, person:, has:text, faces>=2."));
  return h("div", { class: "notice notice-error", role: "alert" }, out);
}

function unknownWords(q, unknown) {
  if (!unknown || typeof unknown !== "object") return null;
  const words = Object.entries(unknown);
  if (!words.length) return null;
  return h(
    "div",
    { class: "notice", role: "status" },
    words.map(([word, near]) =>
      h(
        "p",
        {},
        "No image has a label “",
        h("strong", {}, word),
        "”.",
        Array.isArray(near) && near.length
          ? [" Did you mean ", near.slice(0, 3).flatMap((name, i) => [i ? ", " : "", searchLink(replaceWord(q, word, labelTerm(name)), name)]), "?"]
          : null,
      ),
    ),
  );
}

function replaceWord(q, word, replacement) {
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const replaced = q.replace(new RegExp(`(^|[\\s(-])${escaped}(?=$|[\\s)<>])`, "i"), (_, lead) => lead + replacement);
  return replaced === q ? replacement : replaced;
}

function homeIntro() {
  return h(
    "p",
    { class: "muted home-intro" },
    "Every image, newest first. Type what is in them: dog, \"teddy bear\", cat OR dog, animal -person, text:receipt, color:green, person:alice, faces>=2. ",
    "Drop images anywhere on this page to add them.",
  );
}

/** Render the search for q into main. Returns a function that stops it (pending pages, the scroll watcher). */
export function renderSearch(main, q) {
  const controller = new AbortController();
  const { signal } = controller;
  let observer = null;
  const stop = () => {
    controller.abort();
    if (observer) observer.disconnect();
  };
  const summary = h("p", { class: "summary", role: "status" }, "Searching…");
  const notices = h("div", {});
  const grid = h("ul", { class: "grid", "aria-label": "Images" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "More images");
  const aside = h("aside", { class: "facets", "aria-label": "Refine the search" });
  const heading = h("h1", { class: "visually-hidden" }, q.trim() ? `Search: ${q}` : "All images");
  const intro = q.trim() ? null : homeIntro();
  fill(main, h("div", { class: "search-view" }, aside, h("section", { class: "results", "aria-label": "Results" }, heading, intro, summary, notices, grid, more)));

  let cursor = null;
  let loading = false;
  let shown = 0;
  const load = async (first) => {
    if (loading || (!first && !cursor)) return;
    loading = true;
    more.disabled = true;
    const params = new URLSearchParams({ q, limit: String(pageSize()), facets: first ? "true" : "false" });
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await api(`/v1/search?${params}`, { signal });
      const images = Array.isArray(page.Images) ? page.Images : [];
      for (const image of images) {
        const score = typeof image.Score === "number" ? h("span", { class: "tile-score", title: "score" }, image.Score.toFixed(0)) : null;
        grid.append(tile(image.ImageName, score));
      }
      shown += images.length;
      cursor = page.NextCursor || null;
      if (first) {
        const total = typeof page.Total === "number" ? page.Total : shown;
        const none = q.trim() ? "No images match." : "No images yet. Upload some to begin.";
        summary.textContent = total ? `${formatNumber(total)} image${total === 1 ? "" : "s"}` : none;
        renderFacets(aside, q, page.Facets);
        const note = unknownWords(q, page.Unknown);
        if (note) notices.append(note);
      }
      more.hidden = !cursor;
    } catch (error) {
      if (error.name === "AbortError") return;
      if (first) {
        summary.textContent = "";
        notices.append(error instanceof ApiError && error.code === "invalid_query" ? queryProblem(q, error) : h("p", { class: "notice notice-error", role: "alert" }, error.message));
      } else {
        more.textContent = "Could not load more images; try again";
        more.hidden = false;
      }
    } finally {
      loading = false;
      more.disabled = false;
    }
    // A short first page may leave the "more" button on screen: keep filling until it is not.
    if (cursor && !signal.aborted && isNearView(more)) load(false);
  };
  more.addEventListener("click", () => load(false));
  observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) load(false);
  }, { rootMargin: "800px 0px" });
  observer.observe(more);
  load(true);
  return stop;
}

function isNearView(el) {
  const rect = el.getBoundingClientRect();
  return !el.hidden && rect.top < window.innerHeight + 800;
}
