// The detail view of one image: the picture with its boxes (label instances, faces, text lines; each kind can be
// hidden), its labels with confidences and parents, its text, colours, EXIF, and a strip of similar images.

import { api, ApiError, imageUrl, loadImage } from "./api.js";
import { baseName, cssColor, fill, formatBytes, h, pct } from "./dom.js";
import { fieldTerm, labelTerm } from "./query.js";
import { lastSearchUrl, routeUrl } from "./router.js";
import { tile } from "./search.js";
import { loadPeople } from "./suggest.js";
import { toast } from "./toast.js";

const KINDS = [
  { kind: "label", title: "Objects" },
  { kind: "face", title: "Faces" },
  { kind: "text", title: "Text" },
];

function box(kind, bounds, caption) {
  if (!bounds || typeof bounds !== "object") return null;
  const el = h("div", { class: `box box-${kind}`, "data-kind": kind });
  el.style.left = pct(bounds.Left);
  el.style.top = pct(bounds.Top);
  el.style.width = pct(Math.min(Number(bounds.Width) || 0, 1 - (Number(bounds.Left) || 0)));
  el.style.height = pct(Math.min(Number(bounds.Height) || 0, 1 - (Number(bounds.Top) || 0)));
  if (caption) el.append(h("span", { class: "box-caption" }, caption));
  // A caption above a box at the top edge, or below one at the bottom, would be cut off by the picture's edge.
  if (kind !== "text" && (Number(bounds.Top) || 0) < 0.05) el.classList.add("caption-inside");
  if (kind === "text" && (Number(bounds.Top) || 0) + (Number(bounds.Height) || 0) > 0.95) el.classList.add("caption-inside");
  return el;
}

function textLines(record) {
  const detections = Array.isArray(record.TextDetections) ? record.TextDetections : [];
  const lines = detections.filter((t) => t.Type === "LINE");
  return lines.length ? lines : detections;
}

function personName(face) {
  const id = face.PersonId;
  if (face.PersonName) return String(face.PersonName);
  return id !== undefined && id !== null ? `Person ${id}` : "";
}

function boxes(record) {
  const out = [];
  for (const label of record.Labels || []) {
    for (const instance of label.Instances || []) {
      const el = box("label", instance.BoundingBox, `${label.Name} ${Math.round(instance.Confidence ?? label.Confidence)}%`);
      if (el) {
        el.dataset.label = label.Name;
        out.push(el);
      }
    }
  }
  for (const face of record.FaceDetails || []) {
    out.push(box("face", face.BoundingBox, personName(face) || "Face"));
  }
  for (const line of textLines(record)) {
    out.push(box("text", line.Geometry && line.Geometry.BoundingBox, line.DetectedText));
  }
  return out.filter(Boolean);
}

function toggles(stage, record) {
  const counts = {
    label: (record.Labels || []).reduce((n, l) => n + (l.Instances || []).length, 0),
    face: (record.FaceDetails || []).length,
    text: textLines(record).length,
  };
  return h(
    "fieldset",
    { class: "toggles" },
    h("legend", { class: "visually-hidden" }, "Boxes to show"),
    KINDS.map(({ kind, title }) => {
      const input = h("input", { type: "checkbox", checked: true, id: `show-${kind}`, disabled: counts[kind] === 0 });
      input.addEventListener("change", () => stage.classList.toggle(`hide-${kind}`, !input.checked));
      return h("label", { class: `toggle toggle-${kind}`, for: `show-${kind}` }, input, ` ${title} (${counts[kind]})`);
    }),
  );
}

function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", {}, title), ...children);
}

function labelsPanel(stage, record) {
  const labels = record.Labels || [];
  if (!labels.length) return section("Labels", h("p", { class: "muted" }, "No labels."));
  return section(
    "Labels",
    h(
      "ul",
      { class: "labels" },
      labels.map((label) => {
        const confidence = Number(label.Confidence) || 0;
        const parents = (label.Parents || []).map((p) => p.Name);
        const item = h(
          "li",
          {},
          h(
            "div",
            { class: "label-line" },
            h("a", { href: routeUrl({ view: "search", q: labelTerm(label.Name) }), "data-route": true, class: "label-name" }, label.Name),
            h("span", { class: "confidence" }, `${confidence.toFixed(1)}%`),
          ),
          h("meter", { min: 0, max: 100, value: confidence, "aria-label": `${label.Name} confidence` }),
          parents.length ? h("p", { class: "parents" }, parents.join(" › ")) : null,
        );
        // Pointing at a label lights up its boxes.
        const light = (on) => stage.querySelectorAll(".box-label").forEach((b) => b.classList.toggle("lit", on && b.dataset.label === label.Name));
        item.addEventListener("mouseenter", () => light(true));
        item.addEventListener("mouseleave", () => light(false));
        return item;
      }),
    ),
  );
}

function textPanel(record) {
  const lines = textLines(record);
  if (!lines.length) return null;
  return section("Text", h("ol", { class: "ocr" }, lines.map((line) => h("li", {}, String(line.DetectedText ?? "")))));
}

function facesPanel(record) {
  const faces = record.FaceDetails || [];
  if (!faces.length) return null;
  return section(
    "People",
    h(
      "ul",
      { class: "plain" },
      faces.map((face) => {
        const id = face.PersonId;
        const name = personName(face) || "Unknown face";
        const age = face.AgeRange ? ` · age ${face.AgeRange.Low}–${face.AgeRange.High}` : "";
        return h(
          "li",
          {},
          id !== undefined && id !== null ? h("a", { href: routeUrl({ view: "search", q: `person:${id}` }), "data-route": true }, name) : name,
          h("span", { class: "muted" }, age),
        );
      }),
    ),
  );
}

function colorsPanel(record) {
  const colors = (record.ImageProperties && record.ImageProperties.DominantColors) || [];
  const quality = (record.ImageProperties && record.ImageProperties.Quality) || null;
  if (!colors.length && !quality) return null;
  return section(
    "Colours",
    h(
      "ul",
      { class: "colors" },
      colors.map((color) => {
        const swatch = h("span", { class: "swatch big", "aria-hidden": "true" });
        swatch.style.backgroundColor = cssColor(color);
        const simple = String(color.SimplifiedColor ?? "");
        return h(
          "li",
          {},
          h(
            "a",
            { href: routeUrl({ view: "search", q: fieldTerm("color", simple) }), "data-route": true, title: `search color:${simple}` },
            swatch,
            h("span", {}, `${simple} ${String(color.HexCode ?? "")}`),
            h("span", { class: "muted" }, ` ${Number(color.PixelPercent ?? 0).toFixed(0)}%`),
          ),
        );
      }),
    ),
    quality
      ? h("dl", { class: "facts" }, Object.entries(quality).flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, typeof value === "number" ? value.toFixed(0) : String(value))]))
      : null,
  );
}

function flatten(object, prefix = "") {
  return Object.entries(object || {}).flatMap(([name, value]) =>
    value && typeof value === "object" && !Array.isArray(value)
      ? flatten(value, `${prefix}${name}.`)
      : [[`${prefix}${name}`, Array.isArray(value) ? JSON.stringify(value) : String(value)]],
  );
}

function exifPanel(record) {
  const where = record.Location || {};
  const place = [where.City, where.Region, where.Country].filter(Boolean).join(", ");
  const rows = [...(place ? [["Place", place]] : []), ...flatten(record.Exif)];
  if (!rows.length) return null;
  return section("EXIF", h("dl", { class: "facts" }, rows.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])));
}

function moderationPanel(record) {
  const flagged = (record.ModerationLabels || []).filter((m) => Number(m.Confidence) >= 50);
  if (!flagged.length) return null;
  return section("Moderation", h("ul", { class: "plain" }, flagged.map((m) => h("li", {}, `${m.Name} ${Number(m.Confidence).toFixed(0)}%`))));
}

function filePanel(record) {
  const facts = [
    ["Status", record.Status],
    ["Size", formatBytes(record.Size)],
    ["Pixels", record.Width && record.Height ? `${record.Width} × ${record.Height}` : ""],
    ["Type", record.ContentType],
    ["Analysed", record.AnalyzedAt],
  ].filter(([, value]) => value);
  return section("File", h("dl", { class: "facts" }, facts.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, String(value))])));
}

async function similarStrip(key, signal) {
  const strip = h("ul", { class: "strip", "aria-label": "Similar images" });
  const holder = h("section", { class: "similar" }, h("h2", {}, "Similar images"), strip);
  try {
    const { Images = [] } = await api(`${imageUrl(key, "similar")}?limit=12`, { signal });
    if (!Images.length) strip.replaceWith(h("p", { class: "muted" }, "Nothing similar yet."));
    for (const image of Images) {
      const score = typeof image.Similarity === "number" ? h("span", { class: "tile-score" }, image.Similarity.toFixed(2)) : null;
      strip.append(tile(image.ImageName, score));
    }
  } catch (error) {
    if (error.name !== "AbortError") strip.replaceWith(h("p", { class: "muted" }, `No similar images: ${error.message}`));
  }
  return holder;
}

async function reanalyze(key, button) {
  button.disabled = true;
  try {
    await api(`${imageUrl(key, "reanalyze")}`, { method: "POST" });
    toast(`${baseName(key)} queued for analysis`);
  } catch (error) {
    toast(`Could not queue ${baseName(key)}: ${error.message}`, true);
    button.disabled = false;
  }
}

/**
 * Size the picture to fill its column without being taller than most of the screen, keeping its proportions (the
 * boxes are percentages of the stage, so the stage must be exactly the picture).
 */
function fitPicture(img) {
  const column = img.closest(".picture");
  if (!column || !img.naturalWidth) return;
  const scale = Math.min(column.clientWidth / img.naturalWidth, (window.innerHeight * 0.78) / img.naturalHeight);
  img.style.width = `${Math.floor(img.naturalWidth * scale)}px`;
}

window.addEventListener("resize", () => {
  const img = document.querySelector(".stage .original");
  if (img) fitPicture(img);
});

/** Render the image with key into main. Returns a function that stops it (polling a pending image). */
export function renderDetail(main, key) {
  const controller = new AbortController();
  const { signal } = controller;
  let timer = 0;
  const stop = () => {
    controller.abort();
    clearTimeout(timer);
  };
  const heading = h("h1", { class: "detail-title" }, baseName(key));
  fill(main, h("article", { class: "detail" }, h("p", { class: "crumbs" }, h("a", { href: lastSearchUrl(), "data-route": true }, "← Back to search"), " ", h("span", { class: "muted" }, key)), heading, h("p", { role: "status" }, "Loading…")));

  const show = (record) => {
    const img = h("img", { class: "original", alt: key });
    const stage = h("div", { class: "stage" }, img, h("div", { class: "boxes" }, boxes(record)));
    img.addEventListener("load", () => fitPicture(img));
    loadImage(img, imageUrl(key, "original"));
    const status = String(record.Status ?? "");
    const retry = h("button", { type: "button", class: "secondary", onclick: () => reanalyze(key, retry) }, "Analyse again");
    const side = [
      status !== "analyzed"
        ? h("div", { class: `notice ${status === "failed" ? "notice-error" : ""}`, role: "status" }, status === "failed" ? `Analysis failed: ${String(record.Error ?? "unknown reason")}` : "Waiting to be analysed…")
        : null,
      labelsPanel(stage, record),
      textPanel(record),
      facesPanel(record),
      colorsPanel(record),
      moderationPanel(record),
      exifPanel(record),
      filePanel(record),
      h("p", {}, retry),
    ];
    const article = h(
      "article",
      { class: "detail" },
      h("p", { class: "crumbs" }, h("a", { href: lastSearchUrl(), "data-route": true }, "← Back to search"), " ", h("span", { class: "muted path" }, key)),
      heading,
      h("div", { class: "detail-body" }, h("div", { class: "picture" }, toggles(stage, record), stage), h("div", { class: "side" }, side)),
    );
    fill(main, article);
    similarStrip(key, signal).then((strip) => {
      if (!signal.aborted) article.append(strip);
    });
    if (status === "pending") timer = setTimeout(load, 1500);
  };

  const load = async () => {
    try {
      const [record, people] = await Promise.all([api(imageUrl(key), { signal }), loadPeople()]);
      // A record's faces carry the person's number; their names come from /v1/people.
      const names = new Map(people.filter((p) => p.Name).map((p) => [p.PersonId, p.Name]));
      for (const face of record.FaceDetails || []) {
        if (!face.PersonName && names.has(face.PersonId)) face.PersonName = names.get(face.PersonId);
      }
      show(record);
    } catch (error) {
      if (error.name === "AbortError") return;
      const text = error instanceof ApiError && error.status === 404 ? "There is no such image." : `Could not load the image: ${error.message}`;
      fill(main, h("article", { class: "detail" }, heading, h("p", { class: "notice notice-error", role: "alert" }, text), h("p", {}, h("a", { href: "/", "data-route": true }, "Back to search"))));
    }
  };
  load();
  return stop;
}
