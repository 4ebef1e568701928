// The people view: every person pixlens has grouped faces into, with a face, how many images they are in, and a
// form to name them (PATCH /v1/people/{id}; an empty name removes it).

import { api, imageUrl, loadImage } from "./api.js";
import { fill, formatNumber, h } from "./dom.js";
import { routeUrl } from "./router.js";
import { refreshSuggestions } from "./suggest.js";
import { toast } from "./toast.js";

const FACE = 112;

/** A square canvas showing the face box of an image (a margin around it), drawn from its thumbnail. */
function faceCanvas(face, label) {
  const canvas = h("canvas", { width: FACE, height: FACE, class: "face", role: "img", "aria-label": label });
  if (!face || !face.ImageName || !face.BoundingBox) return canvas;
  const img = new Image();
  let fromOriginal = false;
  img.addEventListener("load", () => {
    const b = face.BoundingBox;
    const w = img.naturalWidth;
    const hgt = img.naturalHeight;
    const cx = (Number(b.Left) + Number(b.Width) / 2) * w;
    const cy = (Number(b.Top) + Number(b.Height) / 2) * hgt;
    const side = Math.min(Math.max(Number(b.Width) * w, Number(b.Height) * hgt) * 1.5, w, hgt);
    if (side < FACE / 2 && !fromOriginal) {
      // A small face in the thumbnail would be a blur: crop it from the original instead.
      fromOriginal = true;
      loadImage(img, imageUrl(face.ImageName, "original"));
      return;
    }
    const sx = Math.max(0, Math.min(w - side, cx - side / 2));
    const sy = Math.max(0, Math.min(hgt - side, cy - side / 2));
    const context = canvas.getContext("2d");
    if (context && side > 0) context.drawImage(img, sx, sy, side, side, 0, 0, FACE, FACE);
  });
  loadImage(img, imageUrl(face.ImageName, "thumbnail"));
  return canvas;
}

function plural(n, word) {
  return `${formatNumber(n)} ${word}${n === 1 ? "" : "s"}`;
}

function personCard(person) {
  const id = person.PersonId;
  const name = person.Name || "";
  const title = h("h2", { class: "person-name" }, name || `Person ${id}`);
  const input = h("input", { type: "text", id: `name-${id}`, name: "name", value: name, maxlength: 200, autocomplete: "off", placeholder: "Add a name" });
  const save = h("button", { type: "submit" }, "Save");
  const form = h(
    "form",
    { class: "name-form" },
    h("label", { for: `name-${id}`, class: "visually-hidden" }, `Name of person ${id}`),
    input,
    save,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const wanted = input.value.trim();
    save.disabled = true;
    try {
      const answer = await api(`/v1/people/${encodeURIComponent(id)}`, { method: "PATCH", body: { Name: wanted || null } });
      const saved = answer && "Name" in answer ? answer.Name : wanted || null;
      title.textContent = saved || `Person ${id}`;
      input.value = saved || "";
      refreshSuggestions();
      toast(saved ? `Saved: ${saved}` : `Person ${id} has no name now`);
    } catch (error) {
      toast(`Could not name person ${id}: ${error.message}`, true);
    } finally {
      save.disabled = false;
    }
  });
  const images = Number(person.Images) || 0;
  return h(
    "li",
    { class: "person", "data-person": id },
    faceCanvas(person.Face, `Face of ${name || `person ${id}`}`),
    h(
      "div",
      { class: "person-body" },
      title,
      h("p", { class: "muted" }, h("a", { href: routeUrl({ view: "search", q: `person:${id}` }), "data-route": true }, `${formatNumber(images)} image${images === 1 ? "" : "s"}`), ` · ${plural(Number(person.Faces) || 0, "face")}`),
      form,
    ),
  );
}

export function renderPeople(main) {
  const controller = new AbortController();
  const list = h("ul", { class: "people" });
  const status = h("p", { role: "status", class: "muted" }, "Loading…");
  fill(main, h("section", { class: "people-view" }, h("h1", {}, "People"), status, list));
  api("/v1/people", { signal: controller.signal })
    .then(({ People = [] }) => {
      status.textContent = People.length ? `${formatNumber(People.length)} people, grouped by face. Name them to search person:name.` : "No faces found yet.";
      fill(list, People.map(personCard));
    })
    .catch((error) => {
      if (error.name !== "AbortError") status.textContent = `Could not list people: ${error.message}`;
    });
  return () => controller.abort();
}
