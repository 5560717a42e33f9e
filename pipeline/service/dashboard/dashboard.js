// The reelpipe dashboard: polls /v1/jobs and /v1/summary, renders jobs (running first),
// shows a job's output and status, cancels. No framework, no build step, no CDN.
"use strict";

const POLL_MS = 1500;
const state = { user: "", state: "", detail: null, posters: new Map(), busy: false };

// A bearer token, when the API needs one: pass it once as #token=... (kept for the tab).
(function keepToken() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem("reelpipe-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
})();

function headers() {
  const token = sessionStorage.getItem("reelpipe-token");
  return token ? { Authorization: "Bearer " + token } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (!response.ok) {
    const text = await response.text();
    throw new Error(response.status + " " + text);
  }
  return response.json();
}

// el("div", {class: "x"}, child, "text"): DOM built from data with textContent only.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name in node && name !== "list") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function seconds(value) {
  if (value === null || value === undefined) return "";
  return value < 60 ? value.toFixed(1) + " s" : (value / 60).toFixed(1) + " min";
}

function usd(value) {
  return "$" + (value || 0).toFixed(value >= 1 ? 2 : 4);
}

function renderSummary(summary) {
  const items = [];
  for (const [name, count] of Object.entries(summary.unfinished)) items.push([name, count]);
  for (const [name, count] of Object.entries(summary.last_24h.by_state)) items.push([name + " 24 h", count]);
  items.push(["jobs/h", summary.per_hour_24h.toFixed(1)]);
  items.push(["GPU-s 24 h", summary.last_24h.gpu_seconds.toFixed(0)]);
  items.push(["cost 24 h", usd(summary.last_24h.cost_usd)]);
  items.push(["cost 7 d", usd(summary.last_7d.cost_usd)]);
  const strip = document.getElementById("summary");
  strip.replaceChildren(...items.map(([label, value]) => el("li", { title: label }, label + " ", el("b", {}, value))));
}

function stageRows(status) {
  const rows = [];
  for (const [name, stage] of Object.entries(status.stages)) {
    const label = stage.state === "running" ? stage.progress.toFixed(0) + "%" : stage.state;
    const detail = [seconds(stage.duration_s), stage.backend || ""].filter(Boolean).join(" · ");
    rows.push(
      el("span", {}, name),
      el("progress", { className: "stage-progress", max: 100, value: stage.progress, title: label }),
      el("span", { className: "muted" }, detail || label),
    );
  }
  return el("div", { className: "stages" }, rows);
}

function poster(item) {
  const id = item.status.job_id;
  if (item.poster_url && !state.posters.has(id)) state.posters.set(id, item.poster_url);
  const url = state.posters.get(id);
  if (!url) return el("div", { className: "thumb empty" }, "no poster");
  return el("img", { className: "thumb poster", src: url, alt: "poster of " + id, loading: "lazy" });
}

function jobCard(item) {
  const s = item.status;
  const finished = ["succeeded", "failed", "cancelled"].includes(s.state);
  const error = s.error ? el("div", { className: "error" }, el("b", {}, s.error.kind), ": ",
    el("span", { className: "error-message" }, s.error.message)) : null;
  return el("article", { className: "job", dataset: { jobId: s.job_id, state: s.state, user: s.user_id } },
    poster(item),
    el("div", {},
      el("div", { className: "title" },
        el("span", { className: "badge " + s.state }, s.state),
        el("code", {}, s.job_id),
        el("span", {}, s.user_id),
        el("span", { className: "muted" }, s.request_key || "")),
      el("progress", { className: "job-progress", max: 100, value: s.progress.percent }),
      el("div", { className: "muted" }, s.progress.percent.toFixed(1) + "% · " + s.progress.message +
        (s.duration_s ? " · " + seconds(s.duration_s) : "") + " · " + usd(s.cost_usd)),
      stageRows(s),
      error,
      el("div", { className: "actions" },
        el("button", { type: "button", className: "details", onclick: () => openDetail(s.user_id, s.job_id) }, "details"),
        finished ? null : el("button", { type: "button", className: "cancel", onclick: () => cancel(s.user_id, s.job_id) }, "cancel"))));
}

// Each tick asks only for the unfinished jobs (the active index: cheap), merged into the
// last full page; a full page (and the summary) every FULL_EVERY ticks, on a filter
// change, and whenever a job leaves the unfinished set.
const FULL_EVERY = 10;
let tick = 0;
let lastPage = [];

function query(extra) {
  const params = new URLSearchParams({ limit: "50", ...extra });
  if (state.user) params.set("user", state.user);
  if (state.state) params.set("state", state.state);
  return params;
}

async function refresh(full = false) {
  if (state.busy) return;
  state.busy = true;
  try {
    let jobs;
    if (full || tick % FULL_EVERY === 0 || lastPage.length === 0) {
      const [page, summary] = await Promise.all([api("/v1/jobs?" + query({})), api("/v1/summary")]);
      renderSummary(summary);
      jobs = page.jobs;
    } else {
      const live = (await api("/v1/jobs?" + query({ unfinished: "true" }))).jobs;
      const liveIds = new Set(live.map((j) => j.status.job_id));
      const wasLive = lastPage.filter((j) => !["succeeded", "failed", "cancelled"].includes(j.status.state));
      if (wasLive.some((j) => !liveIds.has(j.status.job_id))) {
        state.busy = false;
        return refresh(true); // a job finished: show it where it now belongs
      }
      jobs = [...live, ...lastPage.filter((j) => !liveIds.has(j.status.job_id) &&
        ["succeeded", "failed", "cancelled"].includes(j.status.state))];
    }
    tick += 1;
    lastPage = jobs;
    const list = document.getElementById("jobs");
    list.replaceChildren(...(jobs.length ? jobs.map(jobCard) : [el("p", { className: "muted" }, "no jobs")]));
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    if (state.detail) {
      const shown = jobs.find((j) => j.status.job_id === state.detail.job);
      if (shown) document.getElementById("detail-json").textContent = JSON.stringify(shown.status, null, 2);
    }
  } catch (error) {
    document.getElementById("updated").textContent = "error: " + error.message;
  } finally {
    state.busy = false;
  }
}

async function openDetail(user, job) {
  state.detail = { user, job };
  const base = "/v1/jobs/" + encodeURIComponent(user) + "/" + encodeURIComponent(job);
  const [status, links] = await Promise.all([api(base), api(base + "/links")]);
  document.getElementById("detail").hidden = false;
  document.querySelector("main").classList.remove("no-detail");
  document.getElementById("detail-title").textContent = user + " / " + job;
  const video = document.getElementById("detail-video");
  video.hidden = !links.output_url;
  if (links.poster_url) video.poster = links.poster_url;
  if (links.output_url && video.dataset.job !== job) {
    video.dataset.job = job;
    video.src = links.output_url;
  }
  document.getElementById("detail-json").textContent = JSON.stringify(status, null, 2);
}

async function cancel(user, job) {
  const base = "/v1/jobs/" + encodeURIComponent(user) + "/" + encodeURIComponent(job);
  const answer = await api(base + "/cancel", { method: "POST" });
  document.getElementById("updated").textContent = answer.message;
  await refresh(true);
}

document.getElementById("filter-user").addEventListener("change", (e) => { state.user = e.target.value.trim(); refresh(true); });
document.getElementById("filter-state").addEventListener("change", (e) => { state.state = e.target.value; refresh(true); });
document.getElementById("detail-close").addEventListener("click", () => {
  state.detail = null;
  document.getElementById("detail").hidden = true;
  document.querySelector("main").classList.add("no-detail");
  const video = document.getElementById("detail-video");
  video.removeAttribute("src");
  delete video.dataset.job;
  video.load();
});
document.querySelector("main").classList.add("no-detail");
refresh(true);
setInterval(() => refresh(), POLL_MS);
