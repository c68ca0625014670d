// A Gantt-like timeline: one row per task, one lane per host, bars from the events' own times.
import { el } from "/ui/js/api.js";

const RESULTS = {
  runner_on_ok: "ok", runner_on_failed: "failed", runner_on_unreachable: "unreachable",
  runner_on_skipped: "skipped", runner_item_on_failed: "failed",
};

export class Timeline {
  constructor(container) {
    this.container = container;
    this.tasks = new Map(); // task uuid -> {name, start, hosts: Map(host -> {start, end, result})}
    this.hosts = [];
    this.timer = null;
  }

  /** Fold one runner event in. */
  add(data, envelopeTime) {
    const time = Date.parse(data.created || envelopeTime);
    const ed = data.event_data || {};
    if (data.event === "playbook_on_task_start") {
      this.tasks.set(ed.task_uuid || data.uuid, { name: ed.task || ed.name || "task", start: time, hosts: new Map() });
    } else if (ed.host && ed.task_uuid && this.tasks.has(ed.task_uuid)) {
      const task = this.tasks.get(ed.task_uuid);
      if (!this.hosts.includes(ed.host)) this.hosts.push(ed.host);
      const bar = task.hosts.get(ed.host) || { start: time, end: null, result: "running" };
      if (data.event === "runner_on_start") bar.start = time;
      const result = RESULTS[data.event];
      if (result) {
        bar.end = time;
        bar.result = result === "ok" && ed.res && ed.res.changed ? "changed" : result;
      }
      task.hosts.set(ed.host, bar);
    } else {
      return;
    }
    // redrawn at most every 2 s while events arrive (a replay of a big job draws it once, at the end)
    if (!this.timer) this.timer = setTimeout(() => this.render(), 2000);
  }

  render() {
    clearTimeout(this.timer);
    this.timer = null;
    const tasks = [...this.tasks.values()];
    if (!tasks.length) return;
    const times = tasks.flatMap((t) => [t.start, ...[...t.hosts.values()].map((b) => b.end || b.start)]);
    const first = Math.min(...times);
    const span = Math.max(Math.max(...times) - first, 1);
    const lane = 100 / Math.max(this.hosts.length, 1);
    const rows = tasks.map((task) => {
      const track = el("div", { class: "track" });
      track.style.height = `${Math.max(0.9, this.hosts.length * 0.3)}rem`;
      for (const [host, bar] of task.hosts) {
        const end = bar.end || bar.start;
        const node = el("span", { class: `span ${bar.result}`, title: `${host}: ${bar.result}, ${((end - bar.start) / 1000).toFixed(2)} s` });
        node.style.left = `${(100 * (bar.start - first)) / span}%`;
        node.style.width = `${Math.max((100 * (end - bar.start)) / span, 0.3)}%`;
        node.style.top = `${this.hosts.indexOf(host) * lane}%`;
        node.style.height = `${lane}%`;
        track.append(node);
      }
      return el("div", { class: "row" }, el("div", { class: "label", title: task.name }, task.name), track);
    });
    this.container.replaceChildren(...rows);
  }
}
