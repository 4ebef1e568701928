// Where the page is, in its URL: "/?q=dog" (a search, bookmarkable), "/?image=KEY" (an image), "/?view=people",
// "/?view=status". Deep links of the form /image/KEY, /people and /status are read too, and rewritten to the
// canonical form, so that whichever the server hands the page, it opens the same view.

export function currentRoute() {
  const url = new URL(window.location.href);
  const params = url.searchParams;
  const path = url.pathname;
  if (path.startsWith("/image/")) {
    return { view: "image", key: decodeURIComponent(path.slice("/image/".length)) };
  }
  if (path === "/people" || path === "/status") return { view: path.slice(1) };
  if (params.has("image")) return { view: "image", key: params.get("image") };
  const view = params.get("view");
  if (view === "people" || view === "status") return { view };
  return { view: "search", q: params.get("q") || "" };
}

export function routeUrl(route) {
  const params = new URLSearchParams();
  if (route.view === "image") params.set("image", route.key);
  else if (route.view === "people" || route.view === "status") params.set("view", route.view);
  else if (route.q) params.set("q", route.q);
  const query = params.toString();
  return query ? `/?${query}` : "/";
}

let onChange = () => {};
let lastSearch = "/";

/** The URL of the last search shown (where "back to search" goes). */
export function lastSearchUrl() {
  return lastSearch;
}

function changed(route) {
  if (route.view === "search") lastSearch = routeUrl(route);
  onChange(route);
}

export function startRouter(render) {
  onChange = render;
  window.addEventListener("popstate", () => changed(currentRoute()));
  // Links inside the page move without reloading it (a new tab or a modified click still works as a link).
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest("a[data-route]") : null;
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    go(link.getAttribute("href"));
  });
  const route = currentRoute();
  const canonical = routeUrl(route);
  if (canonical !== window.location.pathname + window.location.search) {
    history.replaceState(null, "", canonical);
  }
  changed(route);
}

/** Go to a URL (or route object) of the page, adding a history entry. */
export function go(target, { replace = false } = {}) {
  const url = typeof target === "string" ? target : routeUrl(target);
  if (url !== window.location.pathname + window.location.search) {
    if (replace) history.replaceState(null, "", url);
    else history.pushState(null, "", url);
  }
  changed(currentRoute());
}
