// pixlens in the browser: wires the header (search box, views, upload, API key) and renders the view the URL
// names. Plain ES modules, no build step; everything is served by pixlens itself.

import { setKeyPrompt, storedKey, storeKey } from "./api.js";
import { renderDetail } from "./detail.js";
import { renderPeople } from "./people.js";
import { currentRoute, go, startRouter } from "./router.js";
import { renderSearch } from "./search.js";
import { renderStatus } from "./status.js";
import { attachSuggestions } from "./suggest.js";
import { setupUploads } from "./upload.js";

const main = document.getElementById("main");
const form = document.getElementById("search-form");
const input = document.getElementById("q");
const suggestions = attachSuggestions(input, document.getElementById("suggestions"));

form.addEventListener("submit", (event) => {
  event.preventDefault();
  suggestions.close();
  go({ view: "search", q: input.value.trim() });
});

// "/" focuses the search box from anywhere but a field.
document.addEventListener("keydown", (event) => {
  const target = event.target;
  const typing = target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    input.focus();
    input.select();
  }
});

// The API key: asked for when the server answers 401, kept in localStorage, changeable from the header.
const dialog = document.getElementById("key-dialog");
const keyInput = document.getElementById("key-input");
const keyReason = document.getElementById("key-reason");
const keyButton = document.getElementById("key-button");

function showKeyState() {
  keyButton.textContent = storedKey() ? "API key ✓" : "API key";
}

function promptForKey(reason) {
  keyReason.textContent = reason;
  keyInput.value = storedKey();
  return new Promise((resolve) => {
    const closed = () => {
      dialog.removeEventListener("close", closed);
      if (dialog.returnValue === "save") {
        storeKey(keyInput.value.trim());
        showKeyState();
        resolve(keyInput.value.trim());
      } else if (dialog.returnValue === "forget") {
        storeKey("");
        showKeyState();
        resolve("");
      } else {
        resolve("");
      }
    };
    dialog.returnValue = "";
    dialog.addEventListener("close", closed);
    dialog.showModal();
    keyInput.focus();
  });
}

setKeyPrompt(promptForKey);
keyButton.addEventListener("click", async () => {
  if (await promptForKey("Keys are made with: pixlens keys create --scope read|write|admin")) go(currentRoute(), { replace: true });
});
showKeyState();

// Views: one at a time; the previous one is stopped (its requests aborted, its timers cleared).
let stopView = () => {};
const TITLES = { search: "Search", image: "Image", people: "People", status: "Status" };

function render(route) {
  // A link followed inside the content is gone with the old view: the new view gets the focus (and is announced).
  const fromContent = main.contains(document.activeElement) && document.activeElement !== main;
  stopView();
  const q = route.view === "search" ? route.q : "";
  if (document.activeElement !== input) input.value = q;
  else if (route.view === "search") input.value = q;
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    const current = link.dataset.view === (route.view === "image" ? "search" : route.view);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const name = route.view === "search" && q ? `${q} – pixlens` : route.view === "image" ? `${route.key} – pixlens` : `${TITLES[route.view]} – pixlens`;
  document.title = name;
  if (route.view === "image") stopView = renderDetail(main, route.key);
  else if (route.view === "people") stopView = renderPeople(main);
  else if (route.view === "status") stopView = renderStatus(main);
  else stopView = renderSearch(main, q);
  window.scrollTo(0, 0);
  if (fromContent) main.focus({ preventScroll: true });
}

setupUploads();
startRouter(render);
