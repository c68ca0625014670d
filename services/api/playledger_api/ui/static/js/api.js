// Talking to the playledger API: the key, JSON requests, problem details, SSE with resume.
const KEY = "playledger.apiKey";

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : { ...extra };
}

/** An HTTP error carrying the RFC 9457 problem the API answered with. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problemText(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

const SIGN_IN = "Sign in with an API key (top right).";

function problemText(status, problem) {
  if (status === 401) return SIGN_IN; // missing, unknown, expired or revoked: the same remedy
  if (!problem) return `HTTP ${status}`;
  const fields = (problem.errors || problem.invalid_params || [])
    .map((e) => `${e.path || e.name}: ${e.message || e.reason}`);
  const detail = problem.detail || problem.title || `HTTP ${status}`;
  return (fields.includes(detail) ? fields : [detail, ...fields]).join("\n");
}

export async function request(path, { method = "GET", body } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text && (response.headers.get("content-type") || "").includes("json") ? JSON.parse(text) : text;
  if (!response.ok) throw new ApiError(response.status, typeof data === "object" ? data : null);
  return data;
}

/** The body of a text endpoint (e.g. /logs) as a Blob, sent with the key. */
export async function blob(path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw new ApiError(response.status, null);
  return response.blob();
}

/**
 * Follow an SSE endpoint with fetch (so the API key travels in a header, which EventSource cannot
 * send). Every message is handed to onMessage({id, event, data}); on a dropped connection it
 * reconnects with Last-Event-ID, so the server sends exactly what was missed. Resolves after
 * the server's `end` event; onState tells "live" / "reconnecting".
 */
export async function follow(path, { onMessage, onState = () => {}, signal, lastEventId = "" }) {
  let last = lastEventId;
  let delay = 500;
  for (;;) {
    try {
      const response = await fetch(path, {
        headers: headers(last ? { "Last-Event-ID": last, Accept: "text/event-stream" } : { Accept: "text/event-stream" }),
        signal,
      });
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
      onState("live");
      delay = 500;
      let ended = false;
      for await (const message of messages(response.body)) {
        if (message.id) last = message.id;
        onMessage(message);
        if (message.event === "end") ended = true;
      }
      if (ended) return last;
    } catch (error) {
      if (signal && signal.aborted) return last;
      if (error instanceof ApiError && error.status < 500) throw error;
    }
    onState("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 5000);
  }
}

/** Parse an SSE byte stream into messages (the WHATWG event-stream rules, comments skipped). */
async function* messages(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let message = { id: "", event: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    // split each chunk once (a replay arrives in chunks of many events); a "\r" at the end may be
    // the first half of "\r\n", so it waits for the next chunk
    buffer += value;
    const held = buffer.endsWith("\r") ? 1 : 0;
    const lines = buffer.slice(0, buffer.length - held).split(/\r\n|\r|\n/);
    buffer = lines.pop() + (held ? "\r" : "");
    for (const line of lines) {
      if (line === "") {
        if (message.data.length) yield { id: message.id, event: message.event, data: message.data.join("\n") };
        message = { id: "", event: "message", data: [] };
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") message.data.push(value);
      else if (field === "id") message.id = value;
      else if (field === "event") message.event = value;
    }
  }
}

/**
 * The key in use ({id, name, owner, scopes}), or null when the API runs without auth.
 * The dashboard offers an action only when the key may do it; the API decides either way.
 */
let keyAnswer = null;
export function currentKey() {
  // asked once per page: the header and the page's own actions share the answer
  keyAnswer ||= request("/api/v1/keys/current").catch((error) => {
    if (error.status === 404) return null; // auth off: no keys routes
    throw error;
  });
  return keyAnswer;
}

export function mayDo(key, scope) {
  return key === null || key.scopes.includes(scope) || key.scopes.includes("admin");
}

const NAV = [
  ["/ui/", "Jobs"],
  ["/ui/launch.html", "Launch"],
  ["/ui/overview.html", "Overview"],
  ["/schema", "API"],
];

/** The header every page shares (home link, navigation, API key form), rendered into `#top`. */
export function pageHeader() {
  const input = el("input", { id: "api-key", type: "password", autocomplete: "off", placeholder: "API key (pl_…)" });
  input.value = apiKey();
  const form = el(
    "form",
    { class: "key", id: "key-form" },
    el("label", { for: "api-key", class: "visually-hidden" }, "API key"),
    input,
    el("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    location.reload();
  });
  const nav = el("nav", { "aria-label": "Main" }, ...NAV.map(([href, text]) => el("a", { href }, text)));
  document.getElementById("top").replaceChildren(el("a", { href: "/ui/" }, "playledger"), nav, form);
  // a key that may not submit is not offered the launch page (the page says why if opened)
  const launch = nav.querySelector('a[href="/ui/launch.html"]');
  currentKey().then((key) => { launch.hidden = !mayDo(key, "jobs:submit"); }, () => {});
}

export function notice(text, kind = "") {
  const box = document.getElementById("notice");
  box.replaceChildren();
  if (!text) return;
  const div = document.createElement("div");
  div.className = `notice ${kind}`;
  div.textContent = text;
  box.append(div);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function statusBadge(status) {
  return el("span", { class: `status status-${status}`, "data-status": status }, status);
}

export function duration(startIso, endIso) {
  if (!startIso) return "";
  const seconds = Math.max(0, ((endIso ? Date.parse(endIso) : Date.now()) - Date.parse(startIso)) / 1000);
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ${Math.round(seconds % 60)} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}
