// Suggestions for the search box while typing: labels the catalog holds, the fields text:, person:, color:,
// category: and has:, people's names after person:, colours after color:. An ARIA combobox (arrows, Enter/Tab, Escape).

import { api } from "./api.js";
import { h, fill } from "./dom.js";
import { quote, tokenAt } from "./query.js";

const COLORS = ["red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown", "black", "white", "gray"];
const CATEGORIES = [
  "Animals and Pets", "Apparel and Accessories", "Buildings and Architecture", "Everyday Objects",
  "Food and Beverage", "Hobbies and Interests", "Home and Indoors", "Nature and Outdoors", "Person Description",
  "Plants and Flowers", "Sports", "Technology and Computing", "Tools and Machinery", "Transport and Logistics",
  "Vehicles and Automotive", "Weapons and Military",
];
const FIELDS = [
  { insert: "text:", hint: "words in the image's text" },
  { insert: "person:", hint: "a named person, or a person's number" },
  { insert: "color:", hint: "a dominant colour" },
  { insert: "category:", hint: "a label category" },
  { insert: "has:text", hint: "images with text in them", complete: true },
  { insert: "has:faces", hint: "images with faces (faces>=2: at least two)", complete: true },
];
const MAX = 8;

// One request each, shared by every keystroke while it runs; dropped after a failure (tried again next time).
let labels = null;  // Promise of [{Name, Images}]
let people = null;  // Promise of [{PersonId, Name, ...}]

/** Forget cached labels and people (after uploads or naming someone). */
export function refreshSuggestions() {
  labels = null;
  people = null;
}

function cached(path, field, drop) {
  return api(path).then(
    (answer) => (answer && Array.isArray(answer[field]) ? answer[field] : []),
    () => {
      drop();
      return [];
    },
  );
}

function loadLabels() {
  labels ??= cached("/v1/labels?limit=5000", "Labels", () => (labels = null));
  return labels;
}

/** The people (cached like the suggestions): [{PersonId, Name, ...}], [] when they cannot be read. */
export function loadPeople() {
  people ??= cached("/v1/people", "People", () => (people = null));
  return people;
}

function startsOrContains(items, name, prefix) {
  const p = prefix.toLowerCase();
  const starts = items.filter((item) => name(item).toLowerCase().startsWith(p));
  const contains = p.length > 1 ? items.filter((item) => !name(item).toLowerCase().startsWith(p) && name(item).toLowerCase().includes(p)) : [];
  return [...starts, ...contains].slice(0, MAX);
}

/** Suggestions for the token under the caret: [{label, detail, insert, complete, swatch}]. */
async function suggestionsFor(token) {
  const { field, value, text } = token;
  if (field === "person") {
    const found = startsOrContains(await loadPeople(), (p) => p.Name || String(p.PersonId), value);
    return found.map((p) => ({
      label: p.Name || `Person ${p.PersonId}`,
      detail: `${p.Images} image${p.Images === 1 ? "" : "s"}`,
      insert: `person:${p.Name ? quote(p.Name) : p.PersonId}`,
    }));
  }
  if (field === "color" || field === "colour") {
    return startsOrContains(COLORS, (c) => c, value).map((c) => ({ label: c, insert: `color:${c}`, swatch: c }));
  }
  if (field === "category") {
    return startsOrContains(CATEGORIES, (c) => c, value).map((c) => ({ label: c, insert: `category:${quote(c)}` }));
  }
  if (field === "has") {
    return FIELDS.filter((f) => f.insert.startsWith(`has:${value.toLowerCase()}`)).map((f) => ({ label: f.insert, detail: f.hint, insert: f.insert, complete: true }));
  }
  if (field) return [];  // text: takes any words
  if (!text) return [];
  const out = FIELDS.filter((f) => f.insert.startsWith(value.toLowerCase()) && value.length >= 1).map((f) => ({
    label: f.insert,
    detail: f.hint,
    insert: f.insert,
    complete: Boolean(f.complete),
  }));
  for (const label of startsOrContains(await loadLabels(), (l) => l.Name, value)) {
    out.push({ label: label.Name, detail: `${label.Images} image${label.Images === 1 ? "" : "s"}`, insert: quote(label.Name), complete: true });
  }
  return out.slice(0, MAX);
}

/** Make input a combobox over list (a <ul role=listbox>). */
export function attachSuggestions(input, list) {
  let items = [];
  let active = -1;
  let generation = 0;

  const close = () => {
    items = [];
    active = -1;
    list.hidden = true;
    fill(list);
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  };

  const highlight = (index) => {
    active = index;
    [...list.children].forEach((option, i) => option.setAttribute("aria-selected", i === index ? "true" : "false"));
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", list.children[index].id);
      list.children[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  };

  const accept = (item) => {
    const token = tokenAt(input.value, input.selectionStart ?? input.value.length);
    const before = input.value.slice(0, token.start);
    const after = input.value.slice(token.end);
    const spacer = item.complete || !item.insert.endsWith(":") ? (after.startsWith(" ") ? "" : " ") : "";
    input.value = before + item.insert + spacer + after;
    const caret = (before + item.insert + spacer).length;
    input.setSelectionRange(caret, caret);
    close();
    if (item.insert.endsWith(":")) update();  // go on to the field's values
  };

  const update = async () => {
    const mine = ++generation;
    const token = tokenAt(input.value, input.selectionStart ?? input.value.length);
    const found = await suggestionsFor(token);
    if (mine !== generation) return;  // a newer keystroke won
    if (!found.length || document.activeElement !== input) {
      close();
      return;
    }
    items = found;
    fill(
      list,
      found.map((item, i) =>
        h(
          "li",
          {
            id: `suggestion-${i}`,
            role: "option",
            "aria-selected": "false",
            class: "suggestion",
            onmousedown: (event) => {
              event.preventDefault();  // keep the focus in the box
              accept(item);
            },
          },
          item.swatch ? h("span", { class: `swatch swatch-${item.swatch}`, "aria-hidden": "true" }) : null,
          h("span", { class: "suggestion-label" }, item.label),
          item.detail ? h("span", { class: "suggestion-detail" }, item.detail) : null,
        ),
      ),
    );
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(-1);
  };

  input.addEventListener("input", update);
  input.addEventListener("blur", () => setTimeout(close, 100));
  input.addEventListener("keydown", (event) => {
    if (list.hidden || !items.length) {
      if (event.key === "ArrowDown") update();
      return;
    }
    if (event.key === "ArrowDown") {
      event.preventDefault();
      highlight((active + 1) % items.length);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      highlight(active <= 0 ? items.length - 1 : active - 1);
    } else if ((event.key === "Enter" || event.key === "Tab") && active >= 0) {
      event.preventDefault();
      accept(items[active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  return { close };
}
