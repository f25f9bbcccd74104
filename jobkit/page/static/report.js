// The HTML report of `jobkit scenarios run --html`: a table of the scenarios' outcomes, then each scenario with
// its detail and the timelines of its jobs (timeline.js). It reads the JSON the report carries and nothing else.
// Every value shown is the target's data (job ids, error messages, log lines): it goes in as text, never as HTML.
"use strict";

(() => {
  const { el, render } = window.JobkitTimeline;
  const data = JSON.parse(document.getElementById("jobkit-report-data").textContent);
  const scenarios = Array.isArray(data.scenarios) ? data.scenarios : [];

  // the pill's class: page.css colours passed and failed; an expected difference is a warning
  const KINDS = { passed: "passed", failed: "failed", "not run": "notrun" };
  const kind = (status) => KINDS[status] || (String(status).startsWith("passed") ? "difference" : "other");
  const pill = (status) => el("span", { class: `pill ${kind(status)}` }, status);
  const seconds = (value) => (typeof value === "number" && value > 0 ? `${value.toFixed(1)} s` : "");
  const anchor = (name) => `scenario-${name}`;

  function summary() {
    const counts = {};
    for (const s of scenarios) counts[s.status] = (counts[s.status] || 0) + 1;
    const parts = Object.entries(counts).map(([status, n]) => `${n} ${status}`);
    return `target ${data.target} · ${data.generated} · ${scenarios.length} scenarios: ${parts.join(", ")}`;
  }

  function outcomes() {
    return el("section", { id: "outcomes" }, el("h2", {}, "Outcomes"),
      el("table", { class: "list" },
        el("thead", {}, el("tr", {}, ["scenario", "outcome", "duration", "jobs", "detail"].map((h) => el("th", {}, h)))),
        el("tbody", {}, scenarios.map((s) => el("tr", { "data-scenario": s.name },
          el("td", {}, el("a", { href: `#${anchor(s.name)}`, class: "mono" }, s.name)),
          el("td", { class: "outcome" }, pill(s.status)),
          el("td", {}, seconds(s.duration)),
          el("td", {}, String(s.jobCount || 0)),
          el("td", { class: s.ok ? "" : "error-text" }, s.detail || ""))))));
  }

  function job(entry) {
    const box = el("div", { class: "job", "data-job": entry.jobId },
      el("h3", {}, "job ", el("code", {}, entry.jobId)));
    if (entry.trace) {
      const timeline = el("div", { class: "timeline" });
      box.append(timeline);
      render(timeline, entry.trace, { consumers: data.consumers });
    } else {
      box.append(el("p", { class: "error-text trace-error" }, entry.error || "no trace"));
    }
    return box;
  }

  function scenario(s) {
    const jobs = Array.isArray(s.jobs) ? s.jobs : [];
    const left = (s.jobCount || 0) - jobs.length;
    return el("details", { class: "scenario", id: anchor(s.name), "data-scenario": s.name, open: !s.ok },
      el("summary", {}, el("span", { class: "mono" }, s.name), " ", pill(s.status), " ",
        el("span", { class: "muted" }, seconds(s.duration))),
      el("p", { class: "muted" }, s.title || ""),
      s.detail ? el("pre", { class: s.ok ? "detail" : "detail error" }, s.detail) : null,
      jobs.length ? jobs.map(job) : el("p", { class: "muted" }, "no job submitted"),
      left > 0 ? el("p", { class: "muted jobs-left" },
        `${left} more job(s) not shown (${s.jobCount} in all; the first ${jobs.length} are)`) : null);
  }

  document.title = `jobkit scenarios · ${data.target}`;
  document.getElementById("summary").textContent = summary();
  document.getElementById("report").replaceChildren(outcomes(),
    el("section", { id: "scenarios" }, el("h2", {}, "Scenarios"), scenarios.map(scenario)));
})();
