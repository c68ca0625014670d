// The job list: newest first, filters (kept in the page's address), live updates from the lifecycle stream.
import { duration, el, follow, notice, request, pageHeader, statusBadge, when } from "/ui/js/api.js";

pageHeader();

const tbody = document.getElementById("jobs");
const more = document.getElementById("more");
const form = document.getElementById("filters");
let cursor = null;

/** The filters as GET /api/v1/jobs parameters (the datetime inputs are local time, sent as UTC). */
function filters() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    const text = String(value).trim();
    if (text) params.set(name, name.startsWith("created_") ? new Date(text).toISOString() : text);
  }
  return params;
}

/** The address's filters into the form, so a filtered list can be bookmarked and shared. */
function restore() {
  const params = new URLSearchParams(location.search);
  for (const input of form.elements) {
    const value = params.get(input.name);
    if (!input.name || value === null) continue;
    input.value = input.type === "datetime-local" ? localInput(value) : value;
  }
}

function localInput(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function hostsText(p) {
  const bad = p.hosts_failed + p.hosts_unreachable;
  return bad ? `${p.hosts_total} (${bad} failed)` : String(p.hosts_total);
}

function row(job) {
  const submitter = job.submitted_by ? job.submitted_by.name : "";
  const hosts = el("td", { class: "num" }, hostsText(job.progress));
  if (job.progress.hosts_failed + job.progress.hosts_unreachable) hosts.classList.add("status-failed");
  return el("tr", { "data-job": job.id },
    el("td", {}, statusBadge(job.status)),
    el("td", { class: "id" }, el("a", { href: `/ui/job.html?id=${encodeURIComponent(job.id)}` }, job.id)),
    el("td", {}, job.playbook || ""),
    el("td", { class: "wide" }, job.template || ""),
    el("td", { class: "wide", title: job.submitted_by ? job.submitted_by.key_id : "" }, submitter),
    el("td", { class: "wide" }, when(job.created_at)),
    el("td", { class: "num" }, duration(job.started_at, job.finished_at)),
    hosts,
  );
}

let generation = 0; // only the latest request's answer is shown (a live reload may overtake a filter's)
async function load({ append = false } = {}) {
  const params = filters();
  if (append && cursor) params.set("cursor", cursor);
  const mine = ++generation;
  try {
    const page = await request(`/api/v1/jobs?${params}`);
    if (mine !== generation) return;
    const rows = page.items.map(row);
    if (append) tbody.append(...rows);
    else tbody.replaceChildren(...rows);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    notice(tbody.children.length ? "" : "No jobs match.");
  } catch (error) {
    notice(error.message, "error");
  }
}

/** The status filter offers exactly the statuses the API documents for this parameter. */
async function statusOptions() {
  try {
    const spec = await request("/schema/openapi.json");
    const parameter = spec.paths["/api/v1/jobs"].get.parameters.find((p) => p.name === "status");
    const schema = parameter.schema;
    const values = schema.enum || (schema.oneOf || schema.anyOf || []).flatMap((s) => s.enum || []);
    const select = document.getElementById("f-status");
    for (const value of values) select.append(el("option", {}, value));
  } catch (error) {
    notice(`Could not read the API's status list: ${error.message}`, "error");
  }
}

/** The saved templates as suggestions (a deleted template's jobs can still be found by name). */
async function templateOptions() {
  try {
    const page = await request("/api/v1/templates");
    document.getElementById("templates").replaceChildren(...page.items.map((t) => el("option", { value: t.name })));
  } catch {
    // suggestions only: the filter works without them
  }
}

let reload = null;
function soon() {
  clearTimeout(reload);
  reload = setTimeout(() => load(), 250);
}

function apply() {
  const query = filters().toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
  load();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  apply();
});
form.addEventListener("reset", () => setTimeout(apply)); // after the browser has cleared the inputs
more.addEventListener("click", () => load({ append: true }));

await Promise.all([statusOptions(), templateOptions()]);
restore();
await load();
// Any job's lifecycle change (queued, started, finished…) refreshes the first page.
follow("/api/v1/stream", { onMessage: soon }).catch((error) => notice(`Live updates stopped: ${error.message}`, "error"));
