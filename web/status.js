// fleetd's status page: polls /api/overview and renders it. Every value goes in as text (never as
// HTML): task ids and errors come from clients.
"use strict";

const params = new URLSearchParams(location.search);
const refreshMs = Math.max(200, Number(params.get("refresh")) || 1000);
let actionsEnabled = false;

function formatTime(ms) {
  if (!ms) return "–";
  const d = new Date(ms);
  const today = new Date();
  return d.toDateString() === today.toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

function formatDuration(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function percent(progress) {
  // Never show 100% before the batch is really done.
  const p = Math.floor(progress * 1000) / 10;
  return `${progress >= 1 ? 100 : Math.min(p, 99.9)}%`;
}

function renderStats(o) {
  const s = o.stats;
  const items = [
    ["Batches", s.total_batches],
    ["Tasks", s.total_tasks],
    ["Pending", s.pending_tasks],
    ["Running", s.running_tasks],
    ["Completed", s.completed_tasks],
    ["Failed", s.failed_tasks],
    ["Cancelled", s.cancelled_tasks],
    ["Retries", s.retries],
    ["Workers", `${s.active_workers} / ${s.max_concurrent_workers}`],
    ["Fleet", s.paused ? "paused" : "running"],
  ];
  document.getElementById("stats").replaceChildren(
    ...items.map(([k, v]) => el("div", { "data-stat": k.toLowerCase() }, el("dt", {}, k), el("dd", {}, v))));
}

async function act(path) {
  try {
    const res = await fetch(path, { method: "POST", headers: { "X-Fleetd-Action": "1" } });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
  } catch (e) {
    showBanner(`Action failed: ${e.message}`);
  }
  refresh();
}

function batchActions(b) {
  const cell = el("td", { class: "action-col" });
  if (!actionsEnabled) return cell;
  const finished = b.finished_at !== null;
  const button = (label, verb) =>
    el("button", { type: "button", onclick: () => act(`/api/batches/${encodeURIComponent(b.batch_id)}/${verb}`) }, label);
  if (!finished) {
    cell.append(b.paused ? button("Resume", "resume") : button("Pause", "pause"), button("Cancel", "cancel"));
  }
  return cell;
}

function batchRow(b) {
  // One segment per outcome: succeeded, failed, cancelled; the rest of the bar is still to run.
  const segment = (kind, n) => {
    const s = el("span", { class: `segment ${kind}` });
    s.style.width = `${b.total > 0 ? (100 * n) / b.total : 0}%`;
    return s;
  };
  const bar = el("div", { class: "bar", "data-status": b.status },
    el("div", { class: "segments" }, segment("succeeded", b.completed), segment("failed", b.failed),
      segment("cancelled", b.cancelled)),
    el("span", { class: "label" }, percent(b.progress)));
  const status = b.paused && b.finished_at === null ? `${b.status} (paused)` : b.status;
  const row = el("tr", { "data-batch-id": b.batch_id, "data-progress": String(b.progress), "data-status": b.status },
    el("td", {}, el("a", { href: `/batches/${encodeURIComponent(b.batch_id)}` }, b.batch_id)),
    el("td", { class: `status-${b.status}` }, status),
    el("td", {}, bar),
    el("td", {}, b.completed), el("td", {}, b.failed), el("td", {}, b.cancelled), el("td", {}, b.total),
    el("td", {}, formatTime(b.created_at)),
    batchActions(b));
  row.lastChild.hidden = !actionsEnabled;
  return row;
}

function fillTable(id, rows, emptyId) {
  document.querySelector(`#${id} tbody`).replaceChildren(...rows);
  if (emptyId) document.getElementById(emptyId).hidden = rows.length > 0;
}

function render(o) {
  actionsEnabled = o.actions;
  document.getElementById("fleet-actions").hidden = !actionsEnabled;
  document.querySelector("#batches th.action-col").hidden = !actionsEnabled;
  renderStats(o);
  fillTable("batches", o.batches.map(batchRow), "no-batches");
  fillTable("workers", o.workers.map(w => {
    const ran = (w.completed_at || o.at) - w.spawned_at;
    return el("tr", { "data-worker-id": w.worker_id },
      el("td", {}, w.worker_id), el("td", {}, w.batch_id), el("td", {}, w.task_id), el("td", {}, w.attempt),
      el("td", { class: `status-${w.status}` }, w.status), el("td", {}, w.node),
      el("td", {}, formatTime(w.spawned_at)), el("td", {}, formatDuration(Math.max(0, ran))),
      el("td", { class: "progress-note" },
        w.progress == null ? "" : `${Math.round(w.progress * 100)}%${w.note ? " " + w.note : ""}`));
  }), "no-workers");
  fillTable("failures", o.failures.map(f =>
    el("tr", {},
      el("td", {}, f.batch_id), el("td", {}, f.task_id), el("td", {}, f.type), el("td", {}, f.attempts),
      el("td", { class: "error" }, f.error), el("td", {}, formatTime(f.failed_at)))), "no-failures");
  fillTable("queues", (o.queues || []).map(q =>
    el("tr", { "data-queue": q.name },
      el("td", {}, q.name), el("td", {}, q.max_workers || "-"),
      el("td", {}, q.rate === "none" ? "-" : `${q.rate} (${q.tokens.toFixed(1)} now)`), el("td", {}, q.weight),
      el("td", {}, q.group_max_workers || "-"), el("td", {}, q.paused ? "paused" : "running"),
      el("td", {}, q.pending), el("td", {}, q.running), el("td", {}, q.groups_running), el("td", {}, q.started))));
  fillTable("nodes", o.nodes.map(n =>
    el("tr", {},
      el("td", {}, n.name), el("td", {}, n.types.join(", ")), el("td", {}, n.capacity == null || n.capacity < 0 ? "max-workers" : n.capacity),
      el("td", {}, n.running), el("td", {}, formatTime(n.last_heartbeat)))));
  if (o.storage_error) showBanner(`The database takes no writes: ${o.storage_error}. fleetd refuses new work until a write succeeds.`);
  else hideBanner();
  document.getElementById("updated").textContent = `fleetd ${o.version}, updated ${formatTime(o.at)}`;
}

function showBanner(text) {
  const banner = document.getElementById("banner");
  banner.textContent = text;
  banner.hidden = false;
}

function hideBanner() {
  document.getElementById("banner").hidden = true;
}

function setConnection(state, text) {
  const c = document.getElementById("connection");
  c.dataset.state = state;
  c.textContent = text;
}

let timer = null;

// The throughput chart: one polyline per series, hand-drawn in SVG (no library, no CDN).
function drawSeries(svg, samples, names) {
  const width = 900, height = 160, pad = 6;
  const max = Math.max(1, ...samples.flatMap(s => names.map(n => s[n] ?? 0)));
  const step = samples.length > 1 ? width / (samples.length - 1) : width;
  for (const name of names) {
    const points = samples.map((s, i) =>
      `${(i * step).toFixed(1)},${(height - pad - ((s[name] ?? 0) / max) * (height - 2 * pad)).toFixed(1)}`);
    svg.querySelector(`polyline[data-series="${name}"]`).setAttribute("points", points.join(" "));
  }
  return max;
}

async function refreshChart() {
  try {
    const res = await fetch("/api/throughput", { cache: "no-store", headers: authHeaders() });
    if (!res.ok) return;
    const h = await res.json();
    const rateMax = drawSeries(document.getElementById("rate-chart"), h.samples, ["succeeded", "failed", "retried"]);
    const queueMax = drawSeries(document.getElementById("queue-chart"), h.samples, ["queued"]);
    document.getElementById("rate-max").textContent = `(top: ${rateMax}/s)`;
    document.getElementById("queue-max").textContent = `(top: ${queueMax})`;
  } catch (e) {
    // The figures above say whether fleetd answers; the chart just stays as it was.
  }
}

async function refresh() {
  clearTimeout(timer);
  try {
    let res = await fetch("/api/overview", { cache: "no-store", headers: authHeaders() });
    if (res.status === 401) {
      const token = window.prompt("fleetd asks for a token (a read token of fleet.http-tokens-file):");
      if (token) {
        sessionStorage.setItem("fleetd-token", token.trim());
        res = await fetch("/api/overview", { cache: "no-store", headers: authHeaders() });
      }
    }
    const body = await res.json();
    if (!res.ok) throw new Error(typeof body.error === "object" ? body.error.message : body.error || res.statusText);
    render(body);
    setConnection("ok", "live");
    refreshChart();
  } catch (e) {
    setConnection("error", `not updating: ${e.message}`);
  }
  timer = setTimeout(refresh, refreshMs);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("fleet-pause").onclick = () => act("/api/fleet/pause");
  document.getElementById("fleet-resume").onclick = () => act("/api/fleet/resume");
  refresh();
});
