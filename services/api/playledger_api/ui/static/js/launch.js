// Launch a local playbook on a list of hosts: the same body `POST /api/v1/jobs` takes from any client.
import { notice, request, pageHeader } from "/ui/js/api.js";

pageHeader();

const form = document.getElementById("launch");

function body() {
  const value = (id) => document.getElementById(id).value.trim();
  const checked = (id) => document.getElementById(id).checked;
  const hosts = value("l-hosts").split(",").map((h) => h.trim()).filter(Boolean);
  const vars = checked("l-local")
    ? { ansible_connection: "local", ansible_python_interpreter: "{{ ansible_playbook_python }}" }
    : {};
  const text = value("l-vars");
  let extraVars = {};
  if (text) {
    extraVars = JSON.parse(text); // a SyntaxError is reported below, before anything is sent
    if (typeof extraVars !== "object" || Array.isArray(extraVars) || extraVars === null) {
      throw new SyntaxError("extra vars must be a JSON object");
    }
  }
  const options = { verbosity: Number(value("l-verbosity") || 0), check_mode: checked("l-check"), diff_mode: checked("l-diff") };
  if (value("l-limit")) options.limit = value("l-limit");
  return {
    priority: value("l-priority"),
    source: { type: "local", path: value("l-path") },
    inventory: { type: "inline", hosts, vars },
    extra_vars: extraVars,
    options,
  };
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  let payload;
  try {
    payload = body();
  } catch (error) {
    notice(`Extra vars: ${error.message}`, "error");
    return;
  }
  try {
    const accepted = await request("/api/v1/jobs", { method: "POST", body: payload });
    location.assign(`/ui/job.html?id=${encodeURIComponent(accepted.id)}`);
  } catch (error) {
    notice(error.message, "error");
  }
});
