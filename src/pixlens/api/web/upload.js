// Uploads: files dropped anywhere on the page or picked with the Upload button go to POST /v1/images one request
// each (so each shows its own progress), at most a few at once; then each record is polled until analysed.

import { api, imageUrl, uploadFile } from "./api.js";
import { fill, h } from "./dom.js";
import { routeUrl } from "./router.js";
import { refreshSuggestions } from "./suggest.js";

const AT_ONCE = 3;
const POLL_MS = [500, 1000, 1000, 2000, 3000, 5000];

let tray;
let list;
let summary;
const waiting = [];
let running = 0;
let total = 0;
let done = 0;

function row(file) {
  const progress = h("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
  const state = h("span", { class: "upload-state" }, "waiting");
  const name = h("span", { class: "upload-name", title: file.name }, file.name);
  const item = h("li", { class: "upload", "data-state": "waiting" }, name, progress, state);
  list.prepend(item);
  const set = (text, stateName) => {
    state.textContent = text;
    item.dataset.state = stateName;
  };
  return { item, progress, set, name };
}

function finished() {
  done += 1;
  summary.textContent = `${done} of ${total} done`;
  refreshSuggestions();
}

async function poll(location, view) {
  for (let attempt = 0; ; attempt += 1) {
    let record;
    try {
      record = await api(location);
    } catch (error) {
      view.set(`could not read its status: ${error.message}`, "failed");
      return;
    }
    if (record.Status === "analyzed") {
      view.set("analysed", "analyzed");
      return;
    }
    if (record.Status === "failed") {
      view.set(`failed: ${String(record.Error ?? "unknown reason")}`, "failed");
      return;
    }
    view.set("analysing…", "pending");
    await new Promise((resolve) => setTimeout(resolve, POLL_MS[Math.min(attempt, POLL_MS.length - 1)]));
  }
}

async function send(file, view) {
  view.set("uploading 0%", "uploading");
  try {
    const image = await uploadFile(file, (fraction) => {
      const percent = Math.round(fraction * 100);
      view.progress.value = percent;
      view.set(`uploading ${percent}%`, "uploading");
    });
    view.progress.value = 100;
    const key = String(image.ImageName);
    if (key !== file.name) view.name.textContent = `${file.name} → ${key}`;
    // The name links to the image's page once it is known.
    const link = h("a", { href: routeUrl({ view: "image", key }), "data-route": true, class: "upload-name", title: key }, view.name.textContent);
    view.name.replaceWith(link);
    view.name = link;
    view.set(image.Status === "unchanged" ? "already here" : "analysing…", "pending");
    await poll(image.Location || imageUrl(key), view);
  } catch (error) {
    view.set(`refused: ${error.message}`, "failed");
  }
}

function pump() {
  while (running < AT_ONCE && waiting.length) {
    const { file, view } = waiting.shift();
    running += 1;
    send(file, view).finally(() => {
      running -= 1;
      finished();
      pump();
    });
  }
}

/** Upload files (a FileList or array), showing each in the tray. */
export function upload(files) {
  const chosen = [...files];
  if (!chosen.length) return;
  tray.hidden = false;
  for (const file of chosen) {
    waiting.push({ file, view: row(file) });
    total += 1;
  }
  summary.textContent = `${done} of ${total} done`;
  pump();
}

/** Wire the upload button, the file input, the tray and dropping files on the page. */
export function setupUploads() {
  tray = document.getElementById("uploads");
  list = document.getElementById("upload-list");
  summary = document.getElementById("upload-summary");
  const input = document.getElementById("file-input");
  const overlay = document.getElementById("drop-overlay");
  document.getElementById("upload-button").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    upload(input.files);
    input.value = "";
  });
  document.getElementById("uploads-clear").addEventListener("click", () => {
    for (const item of [...list.children]) if (["analyzed", "failed"].includes(item.dataset.state)) item.remove();
    if (!list.children.length) {
      tray.hidden = true;
      total = 0;
      done = 0;
    }
  });
  document.getElementById("uploads-close").addEventListener("click", () => {
    tray.hidden = true;
  });

  let depth = 0;  // dragenter/leave fire for every child: count them
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    overlay.hidden = false;
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  document.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    overlay.hidden = true;
    upload(event.dataTransfer.files);
  });
  fill(list);
}
