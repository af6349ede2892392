// fleetd's batch page (/batches/ID): the batch's status, its tasks page by page with each task's
// attempts, the progress its running workers report, and (with actions on) replay of failed tasks.
// Every value goes in as text, never as HTML: ids, results and errors come from clients and workers.
"use strict";

const batchId = decodeURIComponent(location.pathname.replace(/^\/batches\//, ""));
const pageSize = 50;
let cursors = [0]; // the cursor of each page seen, for "first page"
let cursor = 0;
let nextCursor = 0;
let actionsEnabled = false;

function formatTime(ms) {
  return ms ? new Date(ms).toLocaleString() : "–";
}

function showBanner(text) {
  const b = document.getElementById("banner");
  b.textContent = text;
  b.hidden = !text;
}

async function getJson(path) {
  const res = await fetch(path, { cache: "no-store", headers: authHeaders() });
  const body = await res.json();
  if (!res.ok) throw new Error(typeof body.error === "object" ? body.error.message : body.error || res.statusText);
  return body;
}

async function replay(taskIds) {
  try {
    const res = await fetch(`/api/batches/${encodeURIComponent(batchId)}/replay`, {
      method: "POST",
      headers: { "X-Fleetd-Action": "1", "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify(taskIds ? { task_ids: taskIds } : {}),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    showBanner(`${body.replayed} task(s) replayed`);
  } catch (e) {
    showBanner(`Replay failed: ${e.message}`);
  }
  refresh();
}

function renderSummary(st) {
  const dl = document.getElementById("summary");
  dl.replaceChildren();
  const items = [["Status", st.paused && st.finished_at === null ? `${st.status} (paused)` : st.status],
    ["Total", st.total], ["Completed", st.completed], ["Failed", st.failed], ["Cancelled", st.cancelled],
    ["Blocked", st.blocked ?? 0],
    ["Progress", `${Math.floor(st.progress * 1000) / 10}%`], ["Created", formatTime(st.created_at)],
    ["Finished", formatTime(st.finished_at)]];
  for (const [k, v] of items) dl.append(el("div", {}, el("dt", {}, k), el("dd", {}, v)));
}

function renderTasks(page, progressByTask) {
  const body = document.querySelector("#tasks tbody");
  body.replaceChildren();
  for (const t of page.tasks) {
    const outcome = t.state === "succeeded" ? JSON.stringify(t.result) : t.error ?? "";
    // The running worker's report when there is one, else the latest stored with the task.
    const p = progressByTask.get(t.task_id) ?? (t.progress == null ? null : { progress: t.progress, note: t.note });
    const action = el("td", { class: "action-col" });
    action.hidden = !actionsEnabled;
    if (actionsEnabled && t.state === "failed")
      action.append(el("button", { type: "button", onclick: () => replay([t.task_id]) }, "Replay"));
    body.append(el("tr", { "data-task-id": t.task_id, "data-state": t.state },
      el("td", {}, t.task_id), el("td", {}, t.type),
      el("td", { class: `status-${t.state}` }, t.after && t.after.length > 0 ? `${t.state} (after ${t.after.join(", ")})` : t.state),
      el("td", {}, t.attempts), el("td", {}, t.duration_ms == null ? "–" : `${t.duration_ms} ms`),
      el("td", { class: "result" }, outcome),
      el("td", { class: "progress-note" }, p ? `${Math.round(p.progress * 100)}%${p.note ? " " + p.note : ""}` : ""),
      action));
    if (t.attempt_rows.length > 0) {
      const lines = t.attempt_rows.map(a =>
        `#${a.attempt} ${a.node} ${a.worker_id} ${formatTime(a.started_at)} → ` +
        `${a.finished_at ? formatTime(a.finished_at) : "running"} ${a.outcome ?? ""}${a.error ? ": " + a.error : ""}`);
      body.append(el("tr", { class: "attempts", "data-attempts-of": t.task_id },
        el("td", { colSpan: 8, class: "result" }, lines.join("\n"))));
    }
  }
  document.getElementById("no-tasks").hidden = page.tasks.length > 0;
  document.getElementById("next-page").disabled = page.done;
  document.getElementById("page-info").textContent = `page ${cursors.length}`;
}

async function refresh() {
  const c = document.getElementById("connection");
  try {
    const [st, page, ov] = await Promise.all([
      getJson(`/api/batches/${encodeURIComponent(batchId)}`),
      getJson(`/api/batches/${encodeURIComponent(batchId)}/tasks?cursor=${cursor}&limit=${pageSize}`),
      getJson("/api/overview?batches=0&failures=0"),
    ]);
    actionsEnabled = ov.actions;
    document.getElementById("batch-actions").hidden = !actionsEnabled || st.failed === 0;
    document.querySelector("#tasks th.action-col").hidden = !actionsEnabled;
    const progress = new Map(ov.workers.filter(w => w.batch_id === batchId && w.progress != null)
      .map(w => [w.task_id, w]));
    renderSummary(st);
    nextCursor = page.next_cursor;
    renderTasks(page, progress);
    c.dataset.state = "ok";
    c.textContent = "live";
  } catch (e) {
    c.dataset.state = "error";
    c.textContent = `not updating: ${e.message}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("batch-id").textContent = batchId;
  document.title = `fleetd batch ${batchId}`;
  document.getElementById("next-page").onclick = () => { cursor = nextCursor; cursors.push(cursor); refresh(); };
  document.getElementById("first-page").onclick = () => { cursor = 0; cursors = [0]; refresh(); };
  document.getElementById("replay-all").onclick = () => replay(null);
  refresh();
  setInterval(refresh, 2000);
});
