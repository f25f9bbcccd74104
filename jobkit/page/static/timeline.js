// A job's timeline: one lane per service of the pattern (API, table, stream, each consumer, SNS, error handler,
// bus, archive), one column per hop in the order they happened, the time between hops above them. Shared by the
// engine's page and the HTML report of `jobkit scenarios run --html`, which inlines this file.
// Every value shown is the target's data (job ids, error messages, log lines): it goes in as text, never as HTML.
"use strict";

window.JobkitTimeline = (() => {
  const BEFORE = ["API", "table", "stream"];
  const AFTER = ["SNS", "error handler", "bus", "archive"];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // A function's lane: the stack names its consumers Consumer<N> and their error handlers ErrorHandler<N>.
  function functionLane(name) {
    const text = String(name || "");
    if (/ErrorHandler/i.test(text)) return "error handler";
    const consumer = /Consumer(\d+)/i.exec(text);
    return consumer ? `consumer_${consumer[1]}` : text || "lambda";
  }

  function laneOf(hop) {
    const name = String(hop.hop || "");
    switch (hop.service) {
      case "apigateway": return "API";
      case "dynamodb": return name === "stream record" ? "stream" : "table";
      case "sns": return "SNS";
      case "events": return name === "archive" || name === "replay" ? "archive" : "bus";
      case "lambda":
        // the stream mapping's decisions and its on-failure record are the poller's, not the function's
        if (name.startsWith("mapping ") || name === "on-failure record") return "stream";
        return functionLane(hop.function);
      default: return String(hop.service || "other");
    }
  }

  // The lanes in the pattern's order: the fixed ones always (an empty lane says "never got here"), the
  // consumers named (or seen), then any other function or service that took part.
  function lanes(hops, consumers) {
    const seen = new Set(hops.map(laneOf));
    const named = [...new Set([...(consumers || []), ...[...seen].filter((l) => /^consumer_\d+$/.test(l))])]
      .sort((a, b) => Number(a.split("_")[1]) - Number(b.split("_")[1]));
    const fixed = [...BEFORE, ...named, ...AFTER];
    return [...fixed, ...[...seen].filter((l) => !fixed.includes(l)).sort()];
  }

  function tone(hop) {
    const name = String(hop.hop || "");
    if (hop.outcome === "error" || hop.error || name === "mapping discard" || name === "target failed"
        || (typeof hop.status === "number" && hop.status >= 400)) return "bad";
    if (name.startsWith("mapping ") || name === "on-failure record" || hop.replay) return "warn";
    return "ok";
  }

  function epoch(at) {
    const ms = Date.parse(at);
    return Number.isNaN(ms) ? null : ms;
  }

  function gap(ms) {
    if (ms === null) return "";
    if (ms < 1000) return `+${Math.round(ms)} ms`;
    if (ms < 60000) return `+${(ms / 1000).toFixed(1)} s`;
    if (ms < 3600000) return `+${(ms / 60000).toFixed(1)} min`;
    return `+${(ms / 3600000).toFixed(1)} h`;
  }

  // The fields of a hop worth a line of their own, in this order; the rest are shown as JSON.
  const FIELDS = ["function", "attempt", "duration_ms", "outcome", "status", "sequence_number", "replay"];

  function details(hop, lane) {
    const rows = [["time", hop.at], ["lane", lane], ["service", hop.service], ["hop", hop.hop],
      ["detail", hop.detail]];
    for (const name of FIELDS) if (hop[name] !== undefined) rows.push([name, hop[name]]);
    const box = el("div", { class: "hop-detail", "data-hop": hop.hop },
      el("dl", {}, rows.filter(([, v]) => v !== undefined && v !== "").map(([k, v]) => [el("dt", {}, k),
        el("dd", {}, String(v))])));
    if (hop.error) {
      const error = typeof hop.error === "object" ? `${hop.error.type || ""}: ${hop.error.message || ""}` : hop.error;
      box.append(el("h4", {}, "error"), el("pre", { class: "error" }, error));
    }
    if (hop.logs) box.append(el("h4", {}, "log lines"), el("pre", { class: "logs" }, hop.logs));
    if (hop.item) box.append(el("h4", {}, "item"), el("pre", {}, JSON.stringify(hop.item, null, 2)));
    return box;
  }

  // Draws `trace` ({jobId, hops}) into `container`; `options.consumers` names the consumer lanes to show even
  // when a job never reached them; `options.selected` is the index of the hop whose details are open.
  function render(container, trace, options) {
    const opts = options || {};
    const hops = Array.isArray(trace.hops) ? trace.hops : [];
    const order = lanes(hops, opts.consumers);
    const grid = el("div", { class: "tl-grid", role: "grid", "aria-label": `timeline of job ${trace.jobId}` });
    grid.style.gridTemplateColumns = `9rem repeat(${Math.max(hops.length, 1)}, minmax(6.5rem, max-content))`;
    grid.append(el("div", { class: "tl-corner" }, `${hops.length} hops`));
    let previous = null;
    hops.forEach((hop, index) => {
      const at = epoch(hop.at);
      const cell = el("div", { class: "tl-gap", title: hop.at }, index === 0 ? "0 ms" : gap(
        at !== null && previous !== null ? at - previous : null));
      cell.style.gridColumn = String(index + 2);
      grid.append(cell);
      if (at !== null) previous = at;
    });
    order.forEach((lane, row) => {
      const label = el("div", { class: "tl-lane", "data-lane": lane }, lane);
      label.style.gridRow = String(row + 2);
      grid.append(label);
    });
    const detail = el("div", { class: "tl-details" });
    const select = (index) => {
      grid.querySelectorAll(".hop.selected").forEach((b) => b.classList.remove("selected"));
      const button = grid.querySelector(`.hop[data-index="${index}"]`);
      if (button) button.classList.add("selected");
      detail.replaceChildren(details(hops[index], laneOf(hops[index])));
      if (opts.onSelect) opts.onSelect(index);
    };
    hops.forEach((hop, index) => {
      const lane = laneOf(hop);
      const button = el("button", { type: "button", class: `hop ${tone(hop)}`, "data-index": index,
        "data-lane": lane, title: `${hop.at} ${hop.detail || ""}`, onclick: () => select(index) },
      el("span", { class: "hop-name" }, hop.hop), el("span", { class: "hop-sub" }, hop.detail || ""));
      button.style.gridRow = String(order.indexOf(lane) + 2);
      button.style.gridColumn = String(index + 2);
      grid.append(button);
    });
    const band = (row) => {
      const stripe = el("div", { class: "tl-band" });
      stripe.style.gridRow = String(row + 2);
      stripe.style.gridColumn = `2 / span ${Math.max(hops.length, 1)}`;
      return stripe;
    };
    grid.prepend(...order.map((_, row) => band(row)).filter((_, row) => row % 2 === 0));
    container.replaceChildren(el("div", { class: "tl-scroll" }, grid), detail);
    if (hops.length && opts.selected !== undefined && opts.selected !== null && opts.selected < hops.length) {
      select(opts.selected);
    }
  }

  return { el, gap, laneOf, lanes, render };
})();
