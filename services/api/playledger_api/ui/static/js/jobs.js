// The job list: newest first, filters, live updates from the lifecycle event stream.
import { duration, el, follow, notice, request, pageHeader, statusBadge, when } from "/ui/js/api.js";

pageHeader();

const tbody = document.getElementById("jobs");
const more = document.getElementById("more");
const form = document.getElementById("filters");
let cursor = null;

function query(extra = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (!value) continue;
    params.set(name, name.startsWith("created_") ? new Date(value).toISOString() : value);
  }
  for (const [name, value] of Object.entries(extra)) params.set(name, value);
  return params;
}

function row(job) {
  return el("tr", { "data-job": job.id },
    el("td", {}, statusBadge(job.status)),
    el("td", { class: "id" }, el("a", { href: `/ui/job.html?id=${encodeURIComponent(job.id)}` }, job.id)),
    el("td", {}, job.playbook || ""),
    el("td", { class: "wide" }, when(job.created_at)),
    el("td", { class: "num" }, duration(job.started_at, job.finished_at)),
    el("td", { class: "num wide" }, String(job.event_count)),
  );
}

async function load({ append = false } = {}) {
  try {
    const page = await request(`/api/v1/jobs?${query(append && cursor ? { cursor } : {})}`);
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

let reload = null;
function soon() {
  clearTimeout(reload);
  reload = setTimeout(() => load(), 250);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
more.addEventListener("click", () => load({ append: true }));

await statusOptions();
await load();
// Any job's lifecycle change (queued, started, finished…) refreshes the first page.
follow("/api/v1/stream", { onMessage: soon }).catch((error) => notice(`Live updates stopped: ${error.message}`, "error"));
