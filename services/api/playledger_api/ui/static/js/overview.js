// The statistics endpoint as pictures: now, the last 24 hours by outcome, and per playbook.
import { el, follow, notice, request, pageHeader } from "/ui/js/api.js";

pageHeader();

const SVG = "http://www.w3.org/2000/svg";
const seconds = (s) => (s === null || s === undefined ? "–" : s < 60 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);
const FAILED = ["failed", "error", "timeout", "dead"];
const percent = (r) => (r === null || r === undefined ? "–" : `${Math.round(r * 100)} %`);

function chart(stats) {
  const svg = document.getElementById("chart");
  const HOUR = 3_600_000;
  const start = Math.floor(Date.parse(stats.since) / HOUR) * HOUR; // buckets start on the hour (UTC)
  const hours = Math.max(1, Math.ceil((Date.parse(stats.until) - start) / HOUR));
  const width = 720 / hours;
  const counts = new Map(stats.buckets.map((b) => [Math.round((Date.parse(b.start) - start) / HOUR), b.by_status]));
  const peak = Math.max(1, ...stats.buckets.map((b) => Object.values(b.by_status).reduce((a, n) => a + n, 0)));
  const statuses = [...new Set(stats.buckets.flatMap((b) => Object.keys(b.by_status)))].sort();
  const bars = [];
  for (const [slot, byStatus] of counts) {
    let y = 200;
    for (const status of statuses) {
      const n = byStatus[status] || 0;
      if (!n) continue;
      const h = (190 * n) / peak;
      y -= h;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", String(slot * width + 1));
      rect.setAttribute("y", String(y));
      rect.setAttribute("width", String(Math.max(width - 2, 1)));
      rect.setAttribute("height", String(h));
      rect.setAttribute("class", status);
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${new Date(start + slot * HOUR).toLocaleString()}: ${n} ${status}`;
      rect.append(title);
      bars.push(rect);
    }
  }
  svg.replaceChildren(...bars);
  const summary = Object.entries(stats.totals.by_status).map(([s, n]) => `${n} ${s}`).join(", ");
  svg.setAttribute("aria-label", `Jobs per hour over the last ${hours} hours: ${summary || "none"}`);
  document.getElementById("chart-legend").replaceChildren(
    ...statuses.map((s) => el("span", {}, el("span", { class: `swatch ${s}` }), s)),
  );
}

async function load() {
  try {
    const stats = await request("/api/v1/stats?bucket=hour&group_by=playbook");
    const t = stats.totals;
    document.getElementById("window").textContent = `since ${new Date(stats.since).toLocaleString()}`;
    document.getElementById("t-queued").textContent = String(stats.now.queued);
    document.getElementById("t-running").textContent = String(stats.now.running);
    const lag = stats.projection.lag_events;
    document.getElementById("t-lag").textContent = lag === null ? "unknown" : `${lag} events`;
    document.getElementById("t-success").textContent = percent(t.success_rate);
    document.getElementById("t-duration").textContent = `${seconds(t.duration_s.p50)} / ${seconds(t.duration_s.p95)}`;
    document.getElementById("t-wait").textContent = `${seconds(t.queue_wait_s.p50)} / ${seconds(t.queue_wait_s.p95)}`;
    chart(stats);
    document.getElementById("playbooks").replaceChildren(...stats.groups.map((g) => el("tr", {},
      el("td", {}, g.key || "(none)"),
      el("td", { class: "num" }, String(g.jobs)),
      // of the finished jobs, those that did not succeed (the API's success rate, turned round)
      el("td", { class: "num" }, percent(g.success_rate === null ? null : 1 - g.success_rate)),
      el("td", { class: "num" }, String(FAILED.reduce((n, s) => n + (g.by_status[s] || 0), 0))),
      el("td", { class: "num wide" }, seconds(g.duration_s.p50)),
      el("td", { class: "num wide" }, seconds(g.queue_wait_s.p50)),
    )));
    notice("");
  } catch (error) {
    notice(error.message, "error");
  }
}

let timer = null;
const soon = () => { clearTimeout(timer); timer = setTimeout(load, 500); };
await load();
setInterval(load, 15_000); // lag and "now" change without lifecycle events too
follow("/api/v1/stream", { onMessage: soon }).catch((error) => notice(`Live updates stopped: ${error.message}`, "error"));
