// One job: header, progress, live output (resumes via Last-Event-ID), hosts, timeline, cancel, retry.
import { AnsiUp } from "/ui/vendor/ansi_up.js";
import { blob, currentKey, duration, el, follow, mayDo, notice, request, pageHeader, statusBadge, when } from "/ui/js/api.js";
import { Timeline } from "/ui/js/timeline.js";

pageHeader();

const jobId = new URLSearchParams(location.search).get("id") || "";
const base = `/api/v1/jobs/${encodeURIComponent(jobId)}`;
const output = document.getElementById("output");
const ansi = new AnsiUp();
ansi.use_classes = true; // classes, not inline styles: the CSP allows no inline style
const timeline = new Timeline(document.getElementById("timeline"));
let tasksStarted = 0;
let job = null;
let mayCancel = false;
let mayRetry = false;
let lastEventId = ""; // where the next follow resumes (a retry's attempt continues the same stream)
let shownAttempt = null;

// ---- output: pieces are queued and written once per animation frame, at most FRAME_CHARS at a
// time, so replaying a big job never blocks the page for long
const FRAME_CHARS = 64 * 1024;
let pending = [];
let scheduled = false;
function write(text) {
  if (text) pending.push(text);
  if (scheduled || !pending.length) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    let size = 0;
    let count = 0;
    while (count < pending.length && size < FRAME_CHARS) size += pending[count++].length;
    const atBottom = output.scrollHeight - output.scrollTop - output.clientHeight < 40;
    output.insertAdjacentHTML("beforeend", ansi.ansi_to_html(pending.splice(0, count).join("")));
    if (atBottom) output.scrollTop = output.scrollHeight; // follow the tail unless the reader scrolled up
    write("");
  });
}

/** Resolves once everything written so far is on the page. */
function drained() {
  return new Promise((resolve) => {
    const check = () => (pending.length || scheduled ? requestAnimationFrame(check) : resolve());
    check();
  });
}

/** The text an event adds to ansible's stdout (the same rule as the API's /logs). */
function piece(data) {
  const stdout = data.stdout || "";
  if (data.event === "verbose" && data.pid == null) return stdout + "\n";
  return stdout === "" || stdout === "{}" ? "" : stdout + "\n";
}

// ---- header and summary
function fact(term, value) {
  return value === null || value === undefined || value === "" ? [] : [el("dt", {}, term), el("dd", {}, value)];
}

function sourceText(source) {
  if (!source) return "";
  const parts = [source.type, source.repo, source.path, source.branch || source.ref, source.commit || source.sha];
  return parts.filter(Boolean).join(" · ");
}

function submitter(value) {
  if (!value) return "";
  return typeof value === "object" ? [value.name, value.key_id || value.id].filter(Boolean).join(" · ") : String(value);
}

/** A link to the job list filtered as `filters` says (e.g. the other jobs of this template). */
function listLink(filters, text) {
  return el("a", { href: `/ui/?${new URLSearchParams(filters)}`, title: "Jobs like this" }, text);
}

function renderJob() {
  document.title = `${job.id} · playledger`;
  const title = document.getElementById("title");
  title.replaceChildren(statusBadge(job.status), " ", job.id);
  document.getElementById("facts").replaceChildren(
    ...fact("Status", job.status),
    ...fact("Playbook", sourceText(job.source)),
    ...fact("Submitted by", job.submitted_by ? listLink({ submitter: job.submitted_by.key_id }, submitter(job.submitted_by)) : ""),
    ...fact("Priority", job.priority),
    ...fact("Template", job.template ? listLink({ template: job.template.name }, `${job.template.name} (version ${job.template.version})`) : ""),
    ...fact("Attempt", job.attempt ? `${job.attempt} of ${Math.max(job.max_attempts, job.attempt)}` : ""),
    ...fact("Executor", job.executor_id),
    ...fact("Created", when(job.created_at)),
    ...fact("Started", when(job.started_at)),
    ...fact("Finished", when(job.finished_at)),
    ...fact("Duration", duration(job.started_at, job.finished_at)),
    ...fact("Return code", job.rc === null ? "" : String(job.rc)),
    ...fact("Reason", job.failure_reason),
  );
  const finished = job.result !== null || job.complete;
  document.getElementById("cancel").hidden = !mayCancel || finished || job.cancel_requested;
  // only a dead job can be retried (POST …/retry answers 409 for any other)
  document.getElementById("retry").hidden = !mayRetry || job.status !== "dead" || !job.complete;
  const p = job.progress;
  // the API's host counts overlap (a changed host is also ok); the bar needs disjoint parts
  const changed = Math.min(p.hosts_changed, p.hosts_ok);
  const parts = [
    ["ok", p.hosts_ok - changed], ["changed", changed], ["failed", p.hosts_failed],
    ["unreachable", p.hosts_unreachable], ["skipped", p.hosts_skipped],
  ];
  const total = Math.max(p.hosts_total, 1);
  document.getElementById("hosts-count").textContent = `${p.hosts_total} total`;
  const bar = document.getElementById("host-bar");
  bar.replaceChildren(...parts.filter(([, n]) => n > 0).map(([name, n]) => {
    const part = el("span", { class: name, title: `${n} ${name}` });
    part.style.width = `${(100 * n) / total}%`; // CSSOM: allowed by the CSP, unlike style attributes
    return part;
  }));
  const counts = [
    ["ok", p.hosts_ok], ["changed", p.hosts_changed], ["failed", p.hosts_failed],
    ["unreachable", p.hosts_unreachable], ["skipped", p.hosts_skipped],
  ];
  bar.setAttribute("aria-label", counts.map(([name, n]) => `${n} ${name}`).join(", "));
  document.getElementById("host-legend").replaceChildren(...counts.map(([name, n]) => el("span", {}, `${name} ${n}`)));
}

async function refresh() {
  try {
    job = await request(base);
    notice("");
    renderJob();
  } catch (error) {
    // just submitted: the stream knows the job before the read model does
    if (error.status === 404) notice("Waiting for the job's first event…");
    else notice(error.message, "error");
  }
}

async function refreshHosts() {
  try {
    const hosts = await request(`${base}/hosts`);
    document.getElementById("hosts").replaceChildren(...hosts.items.map((h) => el("tr", {},
      el("td", {}, h.host),
      ...[h.ok, h.changed, h.failures, h.unreachable, h.skipped].map((n) => el("td", { class: "num" }, String(n))),
      ...[h.rescued, h.ignored].map((n) => el("td", { class: "num wide" }, String(n))),
    )));
  } catch (error) {
    notice(error.message, "error");
  }
}

// ---- live events
let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 200);
}

function onMessage(message) {
  if (message.event === "end") return;
  const event = JSON.parse(message.data);
  if (event.type && event.type.startsWith("runner.")) {
    const data = event.data;
    if (shownAttempt !== null && event.attempt !== shownAttempt) write(`\n\u2500\u2500 attempt ${event.attempt} \u2500\u2500\n`);
    shownAttempt = event.attempt;
    write(piece(data));
    if (data.event === "playbook_on_task_start") document.getElementById("task-count").textContent = `${++tasksStarted} started`;
    timeline.add(data, event.time);
    if (data.event === "playbook_on_stats") refreshHosts();
    if (data.event.startsWith("runner_on_")) refreshSoon();
  } else {
    refreshSoon();
  }
}

const liveState = document.getElementById("live-state");
document.getElementById("cancel").addEventListener("click", async (event) => {
  event.currentTarget.disabled = true;
  try {
    await request(base, { method: "DELETE" });
    notice("Cancel requested.");
    refreshSoon();
  } catch (error) {
    notice(error.message, "error");
    event.currentTarget.disabled = false;
  }
});
document.getElementById("full-log").addEventListener("click", async () => {
  try {
    // format=text: served by the API itself, never a redirect to log storage on another origin
    // (which would need CORS on the bucket and drops the key)
    const text = await blob(`${base}/logs?format=text`);
    window.open(URL.createObjectURL(text), "_blank", "noopener");
  } catch (error) {
    notice(error.message, "error");
  }
});

document.getElementById("retry").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const accepted = await request(`${base}/retry`, { method: "POST" });
    notice(`Retry requested: attempt ${accepted.attempt}.`);
    button.hidden = true;
    // the job stays dead until the executor records the retry; then its stream goes on
    for (let tries = 0; tries < 120 && job.status === "dead"; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      await refresh();
    }
    await watch();
  } catch (error) {
    notice(error.message, "error");
  } finally {
    button.disabled = false;
  }
});

/** Follow the job's events until its stream ends, then show the outcome once it is projected. */
async function watch() {
  lastEventId = await follow(`${base}/stream`, {
    onMessage,
    onState: (state) => { liveState.textContent = state === "live" ? "live" : "connection lost, resuming…"; liveState.dataset.state = state; },
    lastEventId,
  });
  await drained();
  liveState.textContent = "finished";
  liveState.dataset.state = "finished";
  timeline.render();
  // the stream has ended; the read model shows the outcome once the projector has it ("complete")
  for (let tries = 0; tries < 120; tries++) {
    await refresh();
    if (job && job.complete) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await refreshHosts();
}

try {
  const key = await currentKey();
  mayCancel = mayDo(key, "jobs:cancel");
  mayRetry = mayDo(key, "jobs:submit");
} catch (error) {
  notice(error.message, "error");
}
await refresh();
try {
  await watch();
} catch (error) {
  notice(error.status === 404 ? `No job with id ${jobId}.` : error.message, "error");
}
