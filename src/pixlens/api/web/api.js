// Talking to pixlens: JSON requests, the API key (kept in localStorage, sent as a Bearer token, asked for when the
// server answers 401), images that need the key, and uploads with progress.

const KEY_STORAGE = "pixlens.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export function storedKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";  // storage refused (private mode): the page works without keys
  }
}

export function storeKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* nothing to keep it in */
  }
}

// The page installs the prompt (a dialog); it resolves to the key typed, or "" when cancelled.
let askKey = async () => "";
let pendingAsk = null;
export function setKeyPrompt(prompt) {
  askKey = prompt;
}

/** One prompt however many requests were refused at once. */
function askOnce(reason) {
  if (!pendingAsk) {
    pendingAsk = askKey(reason).finally(() => {
      pendingAsk = null;
    });
  }
  return pendingAsk;
}

function authHeaders() {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** The URL path of an image key: each segment percent-encoded, "/" kept (the API's {key}). */
export function keyPath(key) {
  return String(key).split("/").map(encodeURIComponent).join("/");
}

export function imageUrl(key, what = "") {
  return `/v1/images/${keyPath(key)}${what ? `/${what}` : ""}`;
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON: a proxy's page, say */
  }
  const code = body && typeof body.code === "string" ? body.code : `http_${response.status}`;
  const message = body && typeof body.message === "string" ? body.message : `${response.status} ${response.statusText}`;
  return new ApiError(response.status, code, message, body);
}

/** fetch with the key; on 401 asks for a key and tries again (until the prompt is cancelled). */
export async function send(path, options = {}) {
  for (;;) {
    const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
    if (response.status !== 401) return response;
    const refused = await errorFrom(response);
    const key = await askOnce(storedKey() ? "This key was refused." : "This server needs an API key.");
    if (!key) throw refused;
  }
}

/** A JSON request: resolves to the parsed body (null for 204), rejects with ApiError. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const options = { method, signal, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  const response = await send(path, options);
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/**
 * Show an image URL in an <img>. Without a key the browser loads it itself (cached, lazy); with a key it is fetched
 * with the Authorization header and shown from a blob URL (an <img src> cannot send headers).
 */
export async function loadImage(img, url) {
  if (img.dataset.blob) URL.revokeObjectURL(img.dataset.blob);
  delete img.dataset.blob;
  if (!storedKey()) {
    img.src = url;
    return;
  }
  try {
    const response = await send(url);
    if (!response.ok) throw await errorFrom(response);
    const blobUrl = URL.createObjectURL(await response.blob());
    img.dataset.blob = blobUrl;
    img.src = blobUrl;
  } catch {
    img.classList.add("broken");
  }
}

/**
 * Upload one file (multipart "file" part) to POST /v1/images. onProgress(fraction) while the bytes go out.
 * Resolves to the answer's first image ({ImageName, Status, Location}); rejects with ApiError.
 */
export function uploadFile(file, onProgress) {
  const attempt = () =>
    new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/v1/images");
      const key = storedKey();
      if (key) xhr.setRequestHeader("Authorization", `Bearer ${key}`);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      xhr.addEventListener("load", () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON */
        }
        const image = body && Array.isArray(body.Images) && body.Images.length ? body.Images[0] : null;
        if (xhr.status >= 200 && xhr.status < 300 && image && image.Status !== "rejected") {
          resolve(image);
        } else if (image && image.Status === "rejected") {
          // One file of a request refused on its own (a request of several files is still 202).
          const error = image.Error && typeof image.Error === "object" ? image.Error : {};
          reject(new ApiError(xhr.status, String(error.code ?? "rejected"), String(error.message ?? "refused"), image));
        } else {
          const code = body && typeof body.code === "string" ? body.code : `http_${xhr.status}`;
          const message = body && typeof body.message === "string" ? body.message : `upload failed (${xhr.status})`;
          reject(new ApiError(xhr.status, code, message, body));
        }
      });
      xhr.addEventListener("error", () => reject(new ApiError(0, "network", "the server could not be reached", null)));
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  return (async () => {
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 401) throw error;
        const key = await askOnce(storedKey() ? "This key was refused." : "Uploading needs an API key.");
        if (!key) throw error;
      }
    }
  })();
}
