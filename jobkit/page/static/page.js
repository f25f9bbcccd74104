// The embedded engine's page: the recent jobs (live), a job's timeline, the failed events, the archive and its
// replays, the fault plans. It reads the engine's own endpoints under /_jobkit/ on the page's own origin and
// nothing else. Every value shown is the sandbox's data: it goes in as text (JobkitTimeline.el), never as HTML.
"use strict";

(() => {
  const { el, render } = window.JobkitTimeline;
  const PAGE = 50;
  const JOBS_EVERY = 1000;
  const OTHERS_EVERY = 3000;
  const $ = (id) => document.getElementById(id);
  const state = { cursors: [null], consumers: [], job: null, selected: null, traceKey: "", timers: [] };

  async function call(path, options) {
    const response = await fetch(path, { cache: "no-store", ...(options || {}),
      headers: { accept: "application/json", ...((options && options.headers) || {}) } });
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (!response.ok) {
      const message = body && typeof body.message === "string" ? body.message : `HTTP ${response.status}`;
      throw new Error(message);
    }
    return body;
  }

  function say(text, down) {
    $("status").textContent = text;
    $("status").classList.toggle("down", Boolean(down));
  }

  function pill(text) {
    return el("span", { class: `pill ${String(text).replace(/[^A-Za-z]/g, "")}` }, text);
  }

  function jobLink(id) {
    return el("a", { href: `#job=${encodeURIComponent(id)}`, class: "mono job-link", "data-job": id }, id);
  }

  function time(iso) {
    const at = new Date(iso);
    return Number.isNaN(at.getTime()) ? String(iso || "") : at.toLocaleTimeString([], { hour12: false }) +
      `.${String(at.getMilliseconds()).padStart(3, "0")}`;
  }

  // --- jobs ---------------------------------------------------------------------------------------------------
  async function loadJobs() {
    const before = state.cursors[state.cursors.length - 1];
    const query = `limit=${PAGE}` + (before ? `&before=${encodeURIComponent(before)}` : "");
    const document_ = await call(`jobs?${query}`);
    const jobs = document_.jobs || [];
    state.consumers = Array.isArray(document_.consumers) ? document_.consumers : [];  // the stack's, in order
    $("jobs-head").replaceChildren(el("th", {}, "job"), el("th", {}, "received"), el("th", {}, "hops"),
      ...state.consumers.map((c) => el("th", {}, c)));
    $("jobs-body").replaceChildren(...jobs.map((job) => el("tr", {
      "data-job": job.jobId, class: job.jobId === state.job ? "open" : "" },
    el("td", {}, jobLink(job.jobId)), el("td", { title: job.at }, time(job.at)), el("td", {}, job.hops),
    ...state.consumers.map((c) => el("td", { "data-consumer": c }, job.consumers && job.consumers[c]
      ? pill(job.consumers[c]) : "–")))));
    if (!jobs.length) {
      $("jobs-body").replaceChildren(el("tr", {}, el("td", { colspan: 3 + state.consumers.length, class: "muted" },
        "no job yet: POST /jobs, and it shows here")));
    }
    state.next = document_.next || null;
    $("older").disabled = !state.next;
    $("newer").disabled = state.cursors.length <= 1;
    $("page-note").textContent = `page ${state.cursors.length}`;
    $("jobs-note").textContent = state.cursors.length === 1 ? "newest first, live" : "newest first";
  }

  // --- a job's timeline -----------------------------------------------------------------------------------------
  async function loadTimeline() {
    if (!state.job) return;
    const trace = await call(`jobs/${encodeURIComponent(state.job)}/trace`);
    const key = JSON.stringify(trace.hops);
    if (key === state.traceKey) return;  // unchanged: keep the view (and the open hop) as it is
    state.traceKey = key;
    render($("timeline-body"), trace, { consumers: state.consumers, selected: state.selected,
      onSelect: (index) => { state.selected = index; } });
  }

  function openFromHash() {
    const match = /^#job=([^&]+)$/.exec(location.hash);
    const job = match ? decodeURIComponent(match[1]) : null;
    if (job !== state.job) { state.selected = null; state.traceKey = ""; }
    state.job = job;
    $("timeline").hidden = !job;
    $("timeline-job").textContent = job || "";
    document.querySelectorAll("#jobs-body tr").forEach((row) => row.classList.toggle("open",
      row.dataset.job === job));
    if (job) {
      $("timeline-body").replaceChildren(el("p", { class: "muted" }, "reading the trace…"));
      loadTimeline().catch((error) => $("timeline-body").replaceChildren(
        el("p", { class: "error-text" }, error.message)));
      $("timeline").scrollIntoView({ block: "nearest" });
    }
  }

  // --- failed events, archive and replays, fault plans ---------------------------------------------------------------
  async function loadFailed() {
    const found = await call("failed-events");
    const events = found.events || [];
    $("failed-note").textContent = `${events.length} shown, newest first`;
    $("failed-body").replaceChildren(...events.map((event) => el("tr", { "data-event": event.id },
      el("td", { title: event.time }, event.time), el("td", {}, event.job ? jobLink(event.job) : "?"),
      el("td", { class: "mono" }, event.function), el("td", { class: "error-text" }, event.error),
      el("td", {}, el("button", { type: "button", class: "small replay-one", "data-event": event.id,
        title: "replay the archive's events of this second",
        onclick: () => startReplay({ since: event.time, until: plusSecond(event.time) }) }, "replay")))));
    if (!events.length) {
      $("failed-body").replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no failed event")));
    }
  }

  function plusSecond(iso) {
    const at = Date.parse(iso);
    return Number.isNaN(at) ? undefined : new Date(at + 1000).toISOString();
  }

  async function loadArchive() {
    const found = await call("archive");
    const archive = found.archive || {};
    $("archive-note").textContent = archive.name || "";
    $("archive-facts").replaceChildren(...[["state", archive.state], ["events", archive.eventCount],
      ["bytes", archive.sizeBytes], ["created", archive.creationTime]].flatMap(([k, v]) => [el("dt", {}, k),
      el("dd", {}, v === undefined || v === null ? "–" : String(v))]));
    const replays = found.replays || [];
    $("replays-body").replaceChildren(...replays.map((replay) => el("tr", { "data-replay": replay.name },
      el("td", { class: "mono" }, replay.name), el("td", {}, pill(replay.state),
        replay.reason ? el("div", { class: "error-text" }, replay.reason) : null),
      el("td", {}, `${replay.start || ""} → ${replay.end || ""}`),
      el("td", {}, replay.events === undefined ? "–" : String(replay.events)),
      el("td", { class: "outcome" }, outcome(replay.outcomes)))));
    if (!replays.length) {
      $("replays-body").replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no replay yet")));
    }
  }

  function outcome(outcomes) {
    if (!outcomes) return "–";
    const jobs = Object.entries(outcomes);
    if (!jobs.length) return "no job re-driven";
    return el("ul", { class: "plain" }, jobs.map(([job, statuses]) => el("li", { "data-job": job }, jobLink(job),
      " ", Object.entries(statuses || {}).map(([consumer, seen]) => [` ${consumer} `,
        pill((seen && seen.status) || "–")]))));
  }

  async function startReplay(window_) {
    say("starting a replay…");
    try {
      const started = await call("replays", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify(Object.fromEntries(Object.entries(window_).filter(([, v]) => v))) });
      say(`replay ${started.name} started`);
      await loadArchive();
    } catch (error) {
      say(`the replay was refused: ${error.message}`, true);
    }
  }

  async function loadFaults() {
    const found = await call("faults");
    const plans = found.plans || [];
    $("faults-note").textContent = found.prefix ? `SSM parameters under ${found.prefix}` : "fault injection is off";
    $("faults-body").replaceChildren(...plans.map((plan) => el("tr", { "data-plan": plan.name },
      el("td", { class: "mono" }, plan.name),
      el("td", {}, el("pre", {}, plan.faults ? JSON.stringify(plan.faults, null, 1) : plan.raw)))));
    if (!plans.length) {
      $("faults-body").replaceChildren(el("tr", {}, el("td", { colspan: 2, class: "muted" }, "no fault plan")));
    }
  }

  // --- the loop: each part refreshed on its own, an error shown and retried ------------------------------------------
  function every(ms, load, live) {
    let running = false;
    const tick = async () => {
      if (running || document.hidden || (live && !live())) return;
      running = true;
      try {
        await load();
        say(`live · ${new Date().toLocaleTimeString([], { hour12: false })}`);
      } catch (error) {
        say(`the engine does not answer: ${error.message}`, true);
      } finally {
        running = false;
      }
    };
    tick();
    state.timers.push(setInterval(tick, ms));
    return tick;
  }

  const refreshJobs = every(JOBS_EVERY, loadJobs, () => state.cursors.length === 1);
  every(JOBS_EVERY, loadTimeline, () => Boolean(state.job));
  every(OTHERS_EVERY, loadFailed);
  const refreshArchive = every(OTHERS_EVERY / 3, loadArchive);
  every(OTHERS_EVERY, loadFaults);

  $("older").addEventListener("click", () => {
    if (!state.next) return;
    state.cursors.push(state.next);
    loadJobs().catch((error) => say(error.message, true));
  });
  $("newer").addEventListener("click", () => {
    if (state.cursors.length > 1) state.cursors.pop();
    refreshJobs();
    loadJobs().catch((error) => say(error.message, true));
  });
  $("replay-all").addEventListener("click", () => startReplay({}).then(refreshArchive));
  $("timeline-close").addEventListener("click", () => { location.hash = ""; });
  window.addEventListener("hashchange", openFromHash);
  openFromHash();
})();
