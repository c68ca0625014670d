// Launch a job: from a template (only the overrides it allows), or a local or git playbook.
// Each sends exactly the body a client would: POST /api/v1/templates/{name}/launch or POST /api/v1/jobs.
import { currentKey, el, mayDo, notice, request, pageHeader } from "/ui/js/api.js";

pageHeader();

const form = document.getElementById("launch");
const $ = (id) => document.getElementById(id);
const PRIORITIES = ["critical", "high", "normal", "low"];
const LOCAL_VARS = { ansible_connection: "local", ansible_python_interpreter: "{{ ansible_playbook_python }}" };
let templates = new Map(); // name -> TemplateItem

function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

function jsonObject(text, what) {
  if (!text.trim()) return {};
  const value = JSON.parse(text); // a SyntaxError is reported before anything is sent
  if (typeof value !== "object" || Array.isArray(value) || value === null) {
    throw new SyntaxError(`${what} must be a JSON object`);
  }
  return value;
}

function inventory(hostsText, local) {
  return { type: "inline", hosts: list(hostsText), vars: local ? LOCAL_VARS : {} };
}

// ---- a local or git playbook: the body of POST /api/v1/jobs
function playbookBody(kind) {
  const value = (id) => $(id).value.trim();
  const source = kind === "git"
    ? { type: "playbook", repo: value("l-repo"), path: value("l-path"), ...(value("l-branch") ? { branch: value("l-branch") } : {}) }
    : { type: "local", path: value("l-path") };
  const options = { verbosity: Number(value("l-verbosity") || 0), check_mode: $("l-check").checked, diff_mode: $("l-diff").checked };
  if (value("l-limit")) options.limit = value("l-limit");
  return {
    priority: value("l-priority"),
    source,
    inventory: inventory(value("l-hosts"), $("l-local").checked),
    extra_vars: jsonObject(value("l-vars"), "extra vars"),
    options,
  };
}

// ---- a template: one input per allowed override, prefilled with the template's own value;
// only what the user changed is sent, so everything else stays as the template says
const field = (label, input, hint = "") => el("label", {}, label, input, hint ? el("small", {}, hint) : null);
const check = (label, input) => el("label", { class: "check" }, input, ` ${label}`);
const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** For each override name: its inputs and how to read them back (undefined: unchanged). */
function overrideControl(name, template) {
  const spec = template.spec;
  const options = spec.options || {};
  const id = `o-${name.replace(/[^A-Za-z0-9_-]/g, "-")}`;
  const text = (value, attrs = {}) => {
    const input = el("input", { id, name, ...attrs });
    input.value = value ?? "";
    return input;
  };
  const changed = (value, current) => (same(value, current) ? undefined : value);
  switch (name) {
    case "priority": {
      const select = el("select", { id, name }, ...PRIORITIES.map((p) => el("option", {}, p)));
      select.value = spec.priority || "normal";
      return { node: field("Priority", select), read: (o) => { const v = changed(select.value, spec.priority || "normal"); if (v) o.priority = v; } };
    }
    case "inventory": {
      const hosts = text("", { placeholder: "web1, web2" });
      const local = el("input", { type: "checkbox", id: `${id}-local` });
      return {
        node: el("div", {}, field("Hosts (comma separated; empty: the template's inventory)", hosts),
          check("Run on this machine (ansible_connection=local)", local)),
        read: (o) => { if (hosts.value.trim()) o.inventory = inventory(hosts.value, local.checked); },
      };
    }
    case "limit":
    case "timeout": {
      const number = name === "timeout";
      const input = text(options[name], number ? { type: "number", min: "1" } : {});
      return {
        node: field(number ? "Timeout (seconds)" : "Limit", input),
        read: (o) => {
          if (!input.value.trim()) return;
          const v = changed(number ? Number(input.value) : input.value.trim(), options[name]);
          if (v !== undefined) o[name] = v;
        },
      };
    }
    case "tags":
    case "skip_tags": {
      const input = text((options[name] || []).join(", "));
      return {
        node: field(name === "tags" ? "Tags (comma separated)" : "Skip tags (comma separated)", input),
        read: (o) => { const v = changed(list(input.value), options[name] || []); if (v !== undefined) o[name] = v; },
      };
    }
    case "verbosity": {
      const input = text(options.verbosity ?? 0, { type: "number", min: "0", max: "5" });
      return { node: field("Verbosity", input), read: (o) => { const v = changed(Number(input.value || 0), options.verbosity ?? 0); if (v !== undefined) o.verbosity = v; } };
    }
    case "check_mode":
    case "diff_mode": {
      const input = el("input", { type: "checkbox", id, name });
      input.checked = Boolean(options[name]);
      return {
        node: check(name === "check_mode" ? "Check mode" : "Diff mode", input),
        read: (o) => { const v = changed(input.checked, Boolean(options[name])); if (v !== undefined) o[name] = v; },
      };
    }
    case "extra_vars": {
      const input = el("textarea", { id, name, placeholder: "{\"release\": \"2.0\"}" });
      return {
        node: field("Extra vars (JSON object, merged over the template's)", input),
        read: (o) => { Object.assign(o.extra_vars, jsonObject(input.value, "extra vars")); },
      };
    }
    default: // extra_vars.<name>
      return variableControl(name.slice("extra_vars.".length), template, id);
  }
}

/** One variable: typed by the template's vars_schema where it says (enum, boolean, number). */
function variableControl(variable, template, id) {
  const schema = ((template.vars_schema || {}).properties || {})[variable] || {};
  const current = (template.spec.extra_vars || {})[variable] ?? schema.default;
  const label = schema.title || schema.description ? `${variable}: ${schema.title || schema.description}` : variable;
  let input;
  let value;
  if (Array.isArray(schema.enum)) {
    input = el("select", { id }, el("option", { value: "" }, "(the template's)"),
      ...schema.enum.map((v, i) => el("option", { value: String(i) }, JSON.stringify(v))));
    input.value = current === undefined ? "" : String(schema.enum.findIndex((v) => same(v, current)));
    value = () => (input.value === "" ? undefined : schema.enum[Number(input.value)]);
  } else if (schema.type === "boolean") {
    input = el("input", { type: "checkbox", id });
    input.checked = Boolean(current);
    value = () => input.checked;
  } else if (schema.type === "integer" || schema.type === "number") {
    input = el("input", { type: "number", id, step: schema.type === "integer" ? "1" : "any" });
    input.value = current ?? "";
    value = () => (input.value.trim() ? Number(input.value) : undefined);
  } else {
    input = el("input", { id });
    // a string as it is; anything else as JSON (e.g. a list), so it comes back the same
    input.value = current === undefined ? "" : typeof current === "string" ? current : JSON.stringify(current);
    value = () => {
      const raw = input.value;
      if (!raw.trim()) return undefined;
      if (schema.type === "string" || typeof current === "string") return raw;
      try { return JSON.parse(raw); } catch { return raw; }
    };
  }
  input.setAttribute("name", `extra_vars.${variable}`);
  const node = schema.type === "boolean" ? check(label, input) : field(label, input);
  return { node, read: (o) => { const v = value(); if (v !== undefined && !same(v, current)) o.extra_vars[variable] = v; } };
}

let controls = [];
function showTemplate(name) {
  const template = templates.get(name);
  const box = $("t-overrides");
  controls = template ? template.allow_override.map((n) => overrideControl(n, template)) : [];
  box.replaceChildren(...controls.map((c) => c.node));
  $("t-description").textContent = template ? template.description : "";
  $("t-none").hidden = !template || controls.length > 0;
}

function launchBody() {
  const overrides = { extra_vars: {} };
  for (const control of controls) control.read(overrides);
  return { overrides };
}

// ---- the form
function kind() {
  return new FormData(form).get("kind") || "local";
}

function showKind() {
  const k = kind();
  $("by-template").hidden = $("by-template").disabled = k !== "template";
  $("by-playbook").hidden = $("by-playbook").disabled = k === "template";
  $("git-fields").hidden = $("git-fields").disabled = k !== "git";
  $("l-path-label").textContent = k === "git"
    ? "Playbook (relative to the repository's root)"
    : "Playbook (relative to the projects directory)";
}

async function loadTemplates() {
  try {
    const page = await request("/api/v1/templates");
    templates = new Map(page.items.map((t) => [t.name, t]));
  } catch (error) {
    notice(`Could not list the templates: ${error.message}`, "error");
  }
  const select = $("t-name");
  select.replaceChildren(...[...templates.keys()].map((name) => el("option", { value: name }, name)));
  $("k-template").disabled = templates.size === 0;
  if (templates.size === 0) $("k-template").parentElement.append(" (none saved yet)");
  const wanted = new URLSearchParams(location.search).get("template");
  if (wanted && templates.has(wanted)) {
    select.value = wanted;
    $("k-template").checked = true;
  }
  showTemplate(select.value);
}

form.addEventListener("change", (event) => {
  if (event.target.name === "kind") showKind();
  if (event.target.id === "t-name") showTemplate(event.target.value);
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const k = kind();
  let path;
  let payload;
  try {
    if (k === "template") {
      path = `/api/v1/templates/${encodeURIComponent($("t-name").value)}/launch`;
      payload = launchBody();
    } else {
      path = "/api/v1/jobs";
      payload = playbookBody(k);
    }
  } catch (error) {
    notice(`Extra vars: ${error.message}`, "error");
    return;
  }
  try {
    const accepted = await request(path, { method: "POST", body: payload });
    location.assign(`/ui/job.html?id=${encodeURIComponent(accepted.id)}`);
  } catch (error) {
    notice(error.message, "error");
  }
});

let key; // undefined: unknown (no usable key); null: the API runs without auth
try {
  key = await currentKey();
} catch (error) {
  notice(error.message, "error");
}
if (key !== undefined && mayDo(key, "jobs:submit")) {
  await loadTemplates();
  showKind();
  form.hidden = false;
} else if (key) {
  notice(`The API key ${key.name} may not launch jobs (it needs the jobs:submit scope).`);
}
