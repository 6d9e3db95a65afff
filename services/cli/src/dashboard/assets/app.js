// Meridian's dashboard: renders the samples the server pushes (server-sent
// events, one a second) and sends `meridian net` command lines, which the
// server checks and applies exactly as the CLI does. Everything shown is
// set as text, never parsed as HTML.
"use strict";

const WINDOW_MS = 5 * 60 * 1000;
const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#bc4c00", "#6e7781", "#e85aad"];

const $ = (id) => document.getElementById(id);
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : String(k));
  return e;
};
const fmt = (v, unit = "", digits = 1) => (v === null || v === undefined ? "–" : `${Number(v).toFixed(digits)}${unit}`);

// The admin token arrives in the URL's fragment (never sent to a server);
// it is kept for this tab and taken out of the address bar.
const token = (() => {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("meridian-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("meridian-token");
})();
$("token-state").textContent = token ? "actions enabled" : "read-only: open the URL `meridian up` printed to act";

let last = null; // the newest sample
let points = []; // plot points, oldest first
// Pulse points since the newest sample: the regions' counters pushed as
// they change (pending, conflicts), drawn after the samples' points.
let tail = [];
// What the plots last drew for each link's pending and latency and each
// region's conflicts, and when (Date.now()), for tests and measurements.
window.plotted = { pending: {}, lag: {}, conflicts: {} };
const log = (text) => {
  const ol = $("log");
  ol.prepend(el("li", {}, `${new Date().toLocaleTimeString()}  ${text}`));
  while (ol.children.length > 200) ol.lastChild.remove();
};
const say = (text, ok) => {
  const m = $("message");
  m.textContent = text;
  m.className = ok ? "ok" : "error";
};

async function run(args) {
  say(`meridian net ${args.join(" ")} …`, true);
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  let reply;
  try {
    const r = await fetch("/api/net", { method: "POST", headers, body: JSON.stringify({ args }) });
    reply = await r.json();
  } catch (e) {
    reply = { error: `the dashboard did not answer: ${e}` };
  }
  if (reply.error !== undefined) {
    say(reply.error, false);
    log(`refused: meridian net ${args.join(" ")}: ${reply.error.split("\n")[0]}`);
  } else {
    say(reply.ok, true);
    log(reply.ok);
  }
  return reply;
}

// ---------------------------------------------------------------- regions

// Cards and cells are built once and then updated in place, so a button
// or cell being clicked is never swapped out under the pointer.
const FIELDS = [
  ["process", "process"], ["hlc", "HLC now"], ["skew", "HLC − wall"], ["writes", "writes/s"],
  ["applies", "applies/s"], ["conflicts", "conflicts"], ["workers", "workers"],
  ["progress", "fills, removals"], ["data", "data"],
];

function regionCard(name) {
  const button = (label, args, confirmText) =>
    el("button", {
      class: `act-${label}`,
      onclick: () => {
        if (confirmText && !confirm(confirmText)) return;
        run(args);
      },
    }, label);
  const dl = el("dl", {});
  for (const [cls, label] of FIELDS) dl.append(el("dt", {}, label), el("dd", { class: cls }));
  return el("div", { class: "card", id: `region-${name}` },
    el("h3", {}, name, el("span", { class: "badge state" })),
    dl,
    el("div", { class: "actions" },
      button("crash", ["crash", name]),
      button("restart", ["restart", name]),
      el("button", { class: "act-wipe", onclick: () => wipe(name) }, "wipe"),
    ),
  );
}

// Wipe is crash (if it runs), wipe, restart: the region comes back empty
// and seeds from a peer. It asks first.
async function wipe(name) {
  if (!confirm(`Wipe ${name}'s data directory? It is crashed first if it runs, then restarted empty.`)) return;
  if (document.getElementById(`region-${name}`).dataset.process === "running") {
    if ((await run(["crash", name])).error !== undefined) return;
  }
  if ((await run(["wipe", name])).error !== undefined) return;
  await run(["restart", name]);
}

function updateCard(card, r) {
  const s = r.status || {};
  const state = r.up ? "up" : "down";
  card.dataset.state = state;
  card.dataset.process = r.process || "";
  const badge = card.querySelector(".state");
  badge.dataset.state = state;
  badge.textContent = state;
  const set = (cls, text) => { card.querySelector(`dd.${cls}`).textContent = text; };
  set("process", r.process ? `${r.process}${r.pid ? ` (pid ${r.pid})` : ""}` : "?");
  set("hlc", s.hlc || "–");
  set("skew", fmt(r.hlc_ahead_ms, " ms"));
  set("writes", fmt(r.writes_per_s));
  set("applies", fmt(r.applies_per_s));
  set("conflicts", r.conflicts ?? "–");
  set("progress", progressText(s));
  set("data", r.data_dir || "");
  // Workers by state; the ones in trouble by name, with their error.
  const workers = s.workers || [];
  const counts = {};
  for (const w of workers) counts[w.state] = (counts[w.state] || 0) + 1;
  const dd = card.querySelector("dd.workers");
  dd.title = workers.map((w) => `${w.name}: ${w.state}`).join("\n");
  dd.replaceChildren(
    Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ") || "–",
    ...workers.filter((w) => w.state === "erroring" || w.state === "stopped").map((w) =>
      el("div", { class: w.state }, `${w.name} ${w.state}${w.last_error ? `: ${w.last_error}` : ""}`)));
}

// The region's replica changes: those under way first (a fill with the
// peers it has pulled from, a removal not yet done), then those done since
// it started, and whether this run began by copying a peer's store.
function progressText(s) {
  const now = [], done = [];
  for (const f of s.filling || []) {
    now.push(`filling ${f.table}: ${f.done.length} of ${f.peers.length} peers (${f.peers.join(", ")}), ${f.items} items so far, ${fmt(f.micros / 1e6, " s")}${f.last_error ? `, retrying: ${f.last_error}` : ""}`);
  }
  for (const t of s.removing || []) now.push(`removing ${t}`);
  for (const f of s.fills || []) done.push(`filled ${f.table} from ${f.peers.join(", ")} (${f.items} items)`);
  for (const x of s.removals || []) done.push(`removed ${x.table}`);
  if (s.seeded) done.push(`seeded from ${s.seeded.peer} (${s.seeded.items} items)`);
  return now.concat(done).join("; ") || "none";
}

function renderRegions(sample) {
  const box = $("regions");
  for (const r of sample.regions) {
    let card = document.getElementById(`region-${r.name}`);
    if (!card) box.append(card = regionCard(r.name));
    updateCard(card, r);
  }
}

// ---------------------------------------------------------------- alarms

// The cluster file's alarms (`GET /meridian/alarms`, evaluated by
// `meridian up`): each one's state, since when and why, its metric,
// condition and newest period's value; every change of state goes to the
// events. Hidden without alarms; `null` when the control API did not say.
const alarmStates = {};
function renderAlarms(a) {
  $("alarms-section").hidden = a === undefined;
  if (a === undefined) return;
  const head = el("tr", {}, ...["alarm", "state", "since", "metric", "condition", "latest", "reason"].map((h) => el("th", {}, h)));
  if (!a) {
    $("alarms").replaceChildren(head, el("tr", {}, el("td", { colspan: 7 }, "the control API did not give the alarms' states")));
    return;
  }
  const at = (ms) => (ms ? new Date(ms).toLocaleTimeString() : "–");
  const rows = a.alarms.map((x) => {
    if (alarmStates[x.name] !== undefined && alarmStates[x.name] !== x.state) log(`alarm ${x.name}: ${alarmStates[x.name]} → ${x.state} (${x.reason})`);
    alarmStates[x.name] = x.state;
    return el("tr", { "data-alarm": x.name, "data-state": x.state },
      el("td", {}, x.name),
      el("td", { class: "alarm-state" }, x.state),
      el("td", {}, at(x.since_ms)),
      el("td", {}, x.metric),
      el("td", {}, x.condition),
      el("td", {}, x.value === null ? "no datapoint" : `${fmt(x.value, "", 2)} at ${at(x.value_at_ms)}`),
      el("td", {}, x.reason));
  });
  $("alarms").replaceChildren(head, ...rows);
}

// ---------------------------------------------------------------- failover

// The failover endpoint (`GET /meridian/failover`, docs/failover.md): where
// it forwards, each region's health, and every move with the requests that
// failed and the writes the new region lacked. Hidden without one.
let failoverMoves = 0;
function renderFailover(f) {
  $("failover-section").hidden = !f;
  if (!f) return;
  const s = f.settings;
  const health = f.health.map((h) => `${h.region} ${h.healthy ? "healthy" : "unhealthy"}${h.last_ok === false ? ` (${h.consecutive_failures} failed: ${h.last_error || "?"})` : ""}`);
  const rows = [
    ["endpoint", `http://${f.listen}`],
    ["active", f.active + (f.active === f.home ? " (home)" : ` (home ${f.home})`)],
    ["checks", `every ${s.interval_ms} ms, unhealthy after ${s.failure_threshold}, TTL ${s.ttl_ms} ms: moves within ${s.bound_ms} ms`],
    ["requests", `${f.requests.forwarded} forwarded, ${f.requests.failed} failed`],
    ["health", health.join("; ")],
  ];
  if (f.pending) rows.push(["moving", `clients leave ${f.pending.from} at ${f.pending.moves_at_ms} ms (declared at ${f.pending.declared_ms} ms)`]);
  $("failover").replaceChildren(el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  const head = el("tr", {}, ...["when", "from → to", "why", "failed requests", "writes missing", "came back", "superseded", "still missing"].map((h) => el("th", {}, h)));
  const body = f.moves.map((m) => {
    const x = m.missing;
    const n = (v) => (x.compared ? String(v) : x.error ? "not compared" : "comparing");
    return el("tr", {},
      el("td", {}, `${new Date(m.at_unix_ms).toLocaleTimeString()} (${m.at_ms} ms)`),
      el("td", {}, `${m.from} → ${m.to}`),
      el("td", {}, m.why === "health" ? `health (first failed check ${m.first_failed_check_ms} ms)` : "asked"),
      el("td", {}, String(m.failed_requests)),
      el("td", {}, n(x.count)), el("td", {}, n(x.came_back)), el("td", {}, n(x.superseded)), el("td", {}, n(x.still_missing)));
  });
  $("failover-moves").replaceChildren(head, ...body);
  for (const m of f.moves.slice(failoverMoves)) log(`failover endpoint moved ${m.from} → ${m.to} (${m.why}), ${m.failed_requests} requests failed`);
  failoverMoves = f.moves.length;
}

// ---------------------------------------------------------------- edge

// The edge (`GET /meridian/edge` on its own listener, docs/edge.md): the
// requests it sent to each region, the unsigned ones, and those it refused.
// Hidden without one.
function renderEdge(e) {
  $("edge-section").hidden = !e;
  if (!e) return;
  const rows = [
    ["address", `http://${e.listen} (AWS_ENDPOINT_URL)`],
    ...e.regions.map((r) => [r.region, `${r.forwarded} forwarded${r.unreachable ? `, ${r.unreachable} unreachable` : ""}`]),
    ["unsigned", `${e.unsigned}, sent to ${e.unsigned_to}`],
    ["refused", Object.entries(e.refused).map(([k, v]) => `${v} ${k.replace("_", " ")}`).join(", ")],
  ];
  $("edge").replaceChildren(el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
}

// ---------------------------------------------------------------- links

function linkTable(names) {
  const head = el("tr", {}, el("th", {}, "from ↓  to →"), ...names.map((n) => el("th", {}, n)));
  const rows = names.map((from) =>
    el("tr", {}, el("th", {}, from), ...names.map((to) => from === to
      ? el("td", { class: "link self" })
      : el("td", {
        class: "link", id: `link-${from}--${to}`,
        onclick: () => { $("f-from").value = from; $("f-to").value = to; },
      }, el("div", {}, el("span", { class: "pending" }), el("span", { class: "conn" })),
        el("div", { class: "lag" }), el("div", { class: "order" }), el("div", { class: "coalesced" }), el("div", { class: "units" }), el("div", { class: "faults" })))));
  $("links").replaceChildren(head, ...rows);
}

function renderLinks(sample) {
  const names = sample.regions.map((r) => r.name);
  if ($("links").dataset.names !== names.join(",")) {
    linkTable(names);
    $("links").dataset.names = names.join(",");
  }
  for (const l of sample.links) {
    const td = document.getElementById(`link-${l.from}--${l.to}`);
    if (!td) continue;
    const faults = l.faults ?? "?";
    const cut = /blackhole|refused|flapping/.test(faults);
    td.className = `link${cut ? " cut" : faults !== "-" && faults !== "?" ? " faulty" : ""}`;
    td.dataset.pending = l.pending ?? "";
    td.querySelector(".pending").textContent = `pending ${l.pending ?? "?"}`;
    td.querySelector(".conn").textContent = `  ${l.connected === true ? "connected" : l.connected === false ? "disconnected" : "connection ?"}`;
    const windowed = l.window_p50_ms !== null && l.window_p50_ms !== undefined;
    const [p50, p99] = windowed ? [l.window_p50_ms, l.window_p99_ms] : [l.lag_p50_ms, l.lag_p99_ms];
    td.querySelector(".lag").textContent = `p50 ${fmt(p50, " ms")}  p99 ${fmt(p99, " ms")}${windowed ? "" : " since start"}`;
    // Partition order's anomalies at the receiver since it started: writes
    // applied ahead of an earlier one, requests applied in part.
    td.querySelector(".order").textContent = l.reordered === null || l.reordered === undefined
      ? "" : `reordered ${l.reordered}  torn ${l.torn_units}`;
    // Coalescing at the sender since it started: versions of items a later
    // version in the same batch stood for, out of the entries shipped.
    td.querySelector(".coalesced").textContent = l.coalesced === null || l.coalesced === undefined
      ? "" : `shipped ${l.shipped}  coalesced ${l.coalesced}`;
    // Replicated write units the receiver's provisioned tables paid for
    // the sender's writes, and how long it waited for them: shown once any
    // were drawn.
    td.querySelector(".units").textContent = !l.replicated_write_units
      ? "" : `replicated units ${l.replicated_write_units}  throttled ${fmt(l.throttled_ms, " ms")}`;
    td.querySelector(".faults").textContent = faults === "-" ? "no faults" : faults;
  }
}

function fillSelects(names) {
  for (const id of ["f-from", "f-to"]) {
    const s = $(id);
    if (s.options.length === names.length) continue;
    s.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  }
  if ($("f-to").selectedIndex === $("f-from").selectedIndex && names.length > 1) $("f-to").selectedIndex = 1;
}

// What changed between two samples, in words: regions going down and
// up, faults that ended by themselves.
function diff(before, after) {
  if (!before) return;
  for (const r of after.regions) {
    const b = before.regions.find((x) => x.name === r.name);
    if (b && b.up !== r.up) log(`${r.name} is ${r.up ? "up" : "down"}${r.process ? ` (process ${r.process})` : ""}`);
  }
  for (const l of after.links) {
    const b = before.links.find((x) => x.from === l.from && x.to === l.to);
    if (!b || b.faults === l.faults) continue;
    if (l.faults === "-" && /ends in/.test(b.faults || "")) log(`${l.from} → ${l.to}: ${b.faults.replace(/ \(ends in [^)]*\)/g, "")} ended by itself: healed`);
    else log(`${l.from} → ${l.to}: ${l.faults === "-" ? "no faults" : l.faults}`);
  }
}

// ---------------------------------------------------------------- plots

function pointOf(sample) {
  return {
    t_ms: sample.t_ms,
    links: sample.links.map((l) => ({ from: l.from, to: l.to, pending: l.pending, p50: l.window_p50_ms, p99: l.window_p99_ms, lag_at: sample.t_ms })),
    regions: sample.regions.map((r) => ({ name: r.name, conflicts: r.conflicts })),
  };
}

// One line chart: `series` is [{name, color, values: [[t_ms, v]]}].
// The x axis spans the points there are, from 30 s up to five minutes.
// `ends` names the x axis' two ends (by default, how far back, and now).
function plot(svg, series, now, span, ends) {
  const W = 480, H = 180, L = 40, B = 18, T = 6;
  const all = series.flatMap((s) => s.values.map((p) => p[1])).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1, ...all);
  const x = (t) => L + ((t - (now - span)) / span) * (W - L - 4);
  const y = (v) => H - B - (v / max) * (H - B - T);
  const ns = "http://www.w3.org/2000/svg";
  const node = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const kids = [
    node("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }),
    node("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
    node("text", { x: 2, y: T + 8 }, max >= 100 ? max.toFixed(0) : max.toPrecision(3)),
    node("text", { x: 2, y: H - B }, "0"),
    node("text", { x: L, y: H - 4 }, ends ? ends[0] : span >= 60000 ? `−${(span / 60000).toFixed(1)} min` : `−${Math.round(span / 1000)} s`),
    node("text", { x: W - 30, y: H - 4 }, ends ? ends[1] : "now"),
  ];
  for (const s of series) {
    // A gap (null: unknown, or no write landed) breaks the line.
    let d = "";
    let pen = false;
    for (const [t, v] of s.values) {
      if (v === null || v === undefined || t < now - span) { pen = false; continue; }
      // A point that starts a stretch is also drawn as a dot, so a
      // value between two unknowns still shows.
      d += pen ? `L${x(t).toFixed(1)},${y(v).toFixed(1)}` : `M${x(t).toFixed(1)},${y(v).toFixed(1)}l0,0`;
      pen = true;
    }
    if (d) kids.push(node("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-linecap": "round", "data-series": s.name }));
  }
  svg.replaceChildren(...kids);
}

// A pulse: one region's counters, pushed when they changed. It makes a
// point of its own, the newest one with that region's links and conflicts
// replaced, drawn at once; the next sample supersedes it.
function pulse(p) {
  const base = tail.length ? tail[tail.length - 1] : points[points.length - 1];
  if (!base || p.t_ms <= base.t_ms) return;
  // Pending of the links out of the region; latency of those into it, of
  // what they delivered since the region's previous pulse.
  const lag = p.lag || {};
  const links = base.links.map((l) => {
    if (l.from === p.region && p.pending[l.to] !== undefined) return { ...l, pending: p.pending[l.to] };
    if (l.to === p.region && lag[l.from]) return { ...l, p50: lag[l.from].p50, p99: lag[l.from].p99, lag_at: p.t_ms };
    return l;
  });
  const regions = base.regions.map((r) => (r.name === p.region ? { ...r, conflicts: p.conflicts } : r));
  tail.push({ t_ms: p.t_ms, links, regions, pulse: true });
  for (const [to, n] of Object.entries(p.pending)) {
    const td = document.getElementById(`link-${p.region}--${to}`);
    if (!td) continue;
    td.dataset.pending = n;
    td.querySelector(".pending").textContent = `pending ${n}`;
  }
  const b = base.regions.find((r) => r.name === p.region);
  if (b && b.conflicts !== null && p.conflicts > b.conflicts) readConflicts(p.region);
  schedulePlots();
}

// Runs `draw` at the browser's next frame, once however many asked.
const framed = (draw) => {
  let asked = false;
  return () => {
    if (asked) return;
    asked = true;
    requestAnimationFrame(() => { asked = false; draw(); });
  };
};
// Draws at the browser's next frame, once however many pulses came.
const schedulePlots = framed(() => renderPlots());

function renderPlots() {
  if (!points.length) return;
  const all = points.concat(tail);
  const now = all[all.length - 1].t_ms;
  const span = Math.min(WINDOW_MS, Math.max(30000, now - all[0].t_ms));
  const links = points[points.length - 1].links.map((l) => `${l.from} → ${l.to}`);
  const color = (i) => COLORS[i % COLORS.length];
  const linkSeries = (key, from) => links.map((name, i) => ({
    name, color: color(i),
    values: from.map((p) => [p.t_ms, (p.links.find((l) => `${l.from} → ${l.to}` === name) || {})[key]]),
  }));
  const pending = linkSeries("pending", all);
  plot($("plot-pending"), pending, now, span);
  // A sample's latency is over its second; a pulse's over what arrived
  // since the region's previous pulse.
  const lag = linkSeries("p99", all);
  plot($("plot-lag"), lag, now, span);
  const regions = points[points.length - 1].regions.map((r) => r.name);
  // New conflicts per second: a sample's since the sample before, a
  // pulse's since the newest sample (the second so far).
  const conflictSeries = regions.map((name, i) => {
    const values = [];
    let before = all[0];
    for (const p of all.slice(1)) {
      const a = before.regions.find((r) => r.name === name);
      const b = p.regions.find((r) => r.name === name);
      const d = a && b && a.conflicts !== null && b.conflicts !== null ? b.conflicts - a.conflicts : null;
      values.push([p.t_ms, d !== null && d >= 0 ? d : null]);
      if (!p.pulse) before = p;
    }
    return { name, color: color(i), values };
  });
  plot($("plot-conflicts"), conflictSeries, now, span);
  const drawn = Date.now();
  const newest = (series, into) => {
    for (const s of series) {
      const v = s.values.length ? s.values[s.values.length - 1][1] : undefined;
      if (!into[s.name] || into[s.name].value !== v) into[s.name] = { value: v, at: drawn };
    }
  };
  newest(pending, window.plotted.pending);
  // The latency a sample or a pulse last brought for each link, and when
  // it was drawn.
  for (const l of all[all.length - 1].links) {
    const name = `${l.from} → ${l.to}`;
    const seen = window.plotted.lag[name];
    if (l.lag_at && (!seen || seen.t !== l.lag_at)) window.plotted.lag[name] = { value: l.p99, t: l.lag_at, at: drawn };
  }
  newest(conflictSeries, window.plotted.conflicts);
  $("legend").replaceChildren(
    ...links.map((n, i) => el("span", {}, el("i", { style: `background:${color(i)}` }), n)),
    el("span", {}, "· conflicts: "),
    ...regions.map((n, i) => el("span", {}, el("i", { style: `background:${color(i)}` }), n)),
  );
}

// ---------------------------------------------------------------- conflicts

const conflicts = new Map(); // region -> its newest records, newest first
const reading = new Set(); // regions whose records are being read
let chosen = null; // the record shown in detail

// Reads a region's newest records when its count of conflicts moved.
async function readConflicts(region) {
  if (reading.has(region)) return;
  reading.add(region);
  try {
    const r = await fetch(`/api/conflicts?region=${encodeURIComponent(region)}&limit=50`);
    const j = await r.json();
    if (j.error === undefined) conflicts.set(region, j.conflicts.map((c) => ({ ...c, Region: region })));
    else log(`conflicts of ${region}: ${j.error}`);
  } finally {
    reading.delete(region);
  }
  renderConflicts();
}

const origin = (version) => version.slice(version.lastIndexOf("@") + 1);
const conflictKey = (c) => `${c.Region}|${c.Winner}|${c.Loser}`;

function renderConflicts() {
  const all = [...conflicts.values()].flat().sort((a, b) => b.DetectedAtMicros - a.DetectedAtMicros).slice(0, 100);
  $("conflicts").replaceChildren(...all.map((c) => el("li", {
    class: chosen && conflictKey(chosen) === conflictKey(c) ? "chosen" : "",
    "data-key": conflictKey(c),
    onclick: () => {
      chosen = c;
      renderConflicts();
      $("s-table").value = c.Table;
    },
  }, `${new Date(c.DetectedAtMicros / 1000).toLocaleTimeString()}  ${c.Table} in ${c.Region}: ${origin(c.Winner)} beat ${origin(c.Loser)}`)));
  renderDetail();
}

function renderDetail() {
  const box = $("conflict-detail");
  if (!chosen) { box.replaceChildren(el("p", {}, "Pick a conflict to see both writes.")); return; }
  const c = chosen;
  const side = (cls, title, version, item) => el("div", { class: `side ${cls}` },
    el("strong", {}, title),
    el("div", {}, `version ${version}`),
    el("div", {}, `taken in ${origin(version)}`),
    el("pre", {}, typeof item === "string" ? item : JSON.stringify(item, null, 2)));
  box.replaceChildren(
    el("p", {}, `Table ${c.Table}, detected by ${c.DetectedBy} at ${new Date(c.DetectedAtMicros / 1000).toISOString()}. `,
      el("strong", {}, `${origin(c.Winner)}'s write won: ${c.Why}.`)),
    el("div", { class: "sides" },
      side("won", "winner", c.Winner, c.WinnerItem),
      side("lost", "lost", c.Loser, c.LostItem)));
}

function watchConflicts(before, after) {
  for (const r of after.regions) {
    const b = before && before.regions.find((x) => x.name === r.name);
    const moved = b ? r.conflicts !== null && b.conflicts !== null && r.conflicts > b.conflicts : r.conflicts > 0;
    if (moved) readConflicts(r.name);
  }
}

// ---------------------------------------------------------------- tables

async function loadTables() {
  let j;
  try {
    j = await (await fetch("/api/tables")).json();
  } catch (e) {
    say(`tables: the dashboard did not answer: ${e}`, false);
    return;
  }
  const byName = new Map();
  for (const r of j.regions) for (const t of r.tables || []) {
    if (!byName.has(t.name)) byName.set(t.name, { first: t, in: [] });
    byName.get(t.name).in.push({ region: r.region, ...t });
  }
  const down = j.regions.filter((r) => r.error !== undefined).map((r) => r.region);
  const head = el("tr", {}, ...["table", "key", "mode", "replicas", "indexes", "stream", "items", "conflicts"].map((h) => el("th", {}, h)));
  const rows = [...byName.values()].map(({ first: t, in: where }) => el("tr", { id: `table-${t.name}` },
    el("td", {}, t.name),
    el("td", {}, [t.partition_key, t.sort_key].filter(Boolean).join(", ")),
    el("td", { class: "mode" }, t.consistency),
    el("td", {}, t.replicas.join(", ") + (t.witness ? `; witness ${t.witness}` : "")),
    el("td", {}, t.indexes.map((i) => `${i.name} (${i.global ? "global" : "local"}, ${i.projection}${i.building ? ", building" : ""})`).join("; ") || "none"),
    el("td", {}, where.map((w) => `${w.region}: ${w.stream === null ? "?" : w.stream ? "on" : "off"}`).join(", ")),
    el("td", {}, where.map((w) => `${w.region}: ${w.items}`).join(", ")),
    el("td", { class: "table-conflicts" }, ...tableConflicts(t)),
  ));
  $("tables").replaceChildren(head, ...rows);
  if (down.length) log(`tables: no answer from ${down.join(", ")}`);
}
$("t-refresh").addEventListener("click", loadTables);

// From the newest sample's Status: the last-writer-wins conflicts each
// region recorded on the table (since it was created), and for a STRONG
// table beside them the writes each region answered with
// ReplicatedWriteConflictException (since the region started).
function tableConflicts(t) {
  const regions = last ? last.regions.filter((r) => r.status) : [];
  const lww = regions.map((r) => `${r.name}: ${(r.status.table_conflicts || {})[t.name] || 0}`);
  const lines = [el("div", { class: "lww" }, lww.length ? `last-writer-wins ${lww.join(", ")}` : "–")];
  if (t.consistency === "STRONG") {
    const counts = regions.flatMap((r) => {
      const s = (r.status.strong || []).find((x) => x.table === t.name);
      return s ? [`${r.name}: ${s.write_conflicts}`] : [];
    });
    lines.push(el("div", { class: "rwce" }, counts.length ? `ReplicatedWriteConflictException ${counts.join(", ")}` : "–"));
  }
  return lines;
}

// ---------------------------------------------------------------- drills

let drillRunning = false;

async function loadDrills() {
  let j;
  try {
    j = await (await fetch("/api/drills")).json();
  } catch (e) {
    return;
  }
  $("d-scenarios").replaceChildren(...j.scenarios.map((p) => el("option", { value: p })));
  const d = j.current;
  if (d) {
    const state = d.running ? "running" : d.summary && d.summary.verdict ? (d.summary.verdict.ok ? "passed" : "failed") : `ended (${d.exit})`;
    $("drill").replaceChildren(
      el("p", { id: "drill-state", "data-state": state },
        `drill ${d.scenario}${d.sim ? " (simulated)" : ""}: ${state}  `,
        d.running ? "" : el("a", { href: d.report, target: "_blank" }, "open its report")),
      el("pre", {}, d.lines.join("\n") || "…"));
    if (drillRunning && !d.running) log(`drill ${d.scenario} ${state}`);
    drillRunning = d.running;
    if (!watched || watched.id !== d.id) watchDrill(d);
  }
  const head = el("tr", {}, ...["report", "scenario", "mode", "verdict", "first problem", "written"].map((h) => el("th", {}, h)));
  $("reports").replaceChildren(head, ...j.reports.map((r) => el("tr", { "data-name": r.name },
    el("td", {}, el("a", { href: r.html, target: "_blank" }, r.name)),
    el("td", {}, r.scenario ?? "?"),
    el("td", {}, r.mode ?? "?"),
    el("td", { class: r.ok === true ? "ok" : "failed" }, r.ok === true ? "passed" : r.ok === false ? `failed (${r.problems} problems)` : "unreadable"),
    el("td", {}, r.first_problem ?? ""),
    el("td", {}, new Date(r.modified_ms).toLocaleString()))));
}

// The drill started from the page, watched while it runs: its progress
// file's lines (its timeline entries and the rows of its report's series,
// as the drill makes them), streamed by GET /api/drills/live.
let watched = null; // {id, report, start, events, samples, source}

function watchDrill(d) {
  if (watched && watched.source) watched.source.close();
  watched = { id: d.id, report: d.report, start: null, events: [], samples: [], source: new EventSource(d.live) };
  const w = watched;
  $("drill-live").hidden = false;
  $("drill-timeline").replaceChildren();
  $("drill-live-state").className = "";
  delete $("drill-live-state").dataset.state;
  $("drill-live-state").textContent = `drill ${d.scenario}: waiting for its first line…`;
  w.source.addEventListener("progress", (e) => {
    if (watched !== w) return;
    const line = JSON.parse(e.data);
    if (line.start) {
      w.start = line.start;
      $("drill-live-state").textContent = `drill ${line.start.scenario} (${line.start.mode}, seed ${line.start.seed}): running`;
    } else if (line.event) {
      w.events.push(line.event);
      $("drill-timeline").append(el("li", { "data-action": line.event.action }, `${(line.event.at_ms / 1000).toFixed(1)} s  ${line.event.label}`));
    } else if (line.sample) {
      w.samples.push(line.sample);
      scheduleDrillPlots();
    } else if (line.end) {
      const s = $("drill-live-state");
      const ok = line.end.ok === true;
      s.className = ok ? "ok" : "failed";
      s.dataset.state = ok ? "passed" : "failed";
      s.replaceChildren(`drill ${w.start ? w.start.scenario : ""}: ${ok ? "passed" : line.end.error ? `did not run: ${line.end.error}` : `failed: ${(line.end.problems || [])[0] || ""}`}  `,
        line.end.error ? "" : el("a", { id: "drill-live-report", href: w.report, target: "_blank" }, "open its report"));
    }
  });
  // The stream ends once the drill has; the page does not reconnect.
  w.source.addEventListener("end", () => { w.source.close(); loadDrills(); });
  w.source.onerror = () => w.source.close();
}

const scheduleDrillPlots = framed(() => renderDrillPlots());

function renderDrillPlots() {
  const w = watched;
  if (!w || !w.samples.length) return;
  const samples = w.samples;
  const now = samples[samples.length - 1].t_ms;
  const span = Math.max(now, w.start ? w.start.duration_ms : 0, 1000);
  const ends = ["0 s", `${(span / 1000).toFixed(0)} s`];
  const color = (i) => COLORS[i % COLORS.length];
  const links = samples[0].links.map((l) => `${l.from} → ${l.to}`);
  const linkSeries = (key) => links.map((name, i) => ({
    name, color: color(i),
    values: samples.map((s) => [s.t_ms, s.links[i] ? s.links[i][key] : null]),
  }));
  plot($("drill-plot-pending"), linkSeries("pending"), span, span, ends);
  plot($("drill-plot-lag"), linkSeries("p99_ms"), span, span, ends);
  const regions = Object.keys(samples[0].conflicts);
  plot($("drill-plot-conflicts"), regions.map((name, i) => ({
    name, color: color(i), values: samples.map((s) => [s.t_ms, s.conflicts[name]]),
  })), span, span, ends);
  $("drill-legend").replaceChildren(
    ...links.map((n, i) => el("span", {}, el("i", { style: `background:${color(i)}` }), n)),
    el("span", {}, "· conflicts: "),
    ...regions.map((n, i) => el("span", {}, el("i", { style: `background:${color(i)}` }), n)),
  );
}

$("drill-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const body = JSON.stringify({ scenario: $("d-path").value.trim(), sim: $("d-sim").checked });
  say(`meridian drill run ${$("d-path").value.trim()}${$("d-sim").checked ? " --sim" : ""} …`, true);
  let reply;
  try {
    reply = await (await fetch("/api/drills", { method: "POST", headers, body })).json();
  } catch (err) {
    reply = { error: `the dashboard did not answer: ${err}` };
  }
  if (reply.error !== undefined) say(reply.error, false);
  else {
    say(`drill ${reply.ok.scenario} started`, true);
    log(`drill ${reply.ok.scenario} started`);
    watchDrill(reply.ok);
  }
  loadDrills();
});

// ---------------------------------------------------------------- a key's story

// A version's physical time in µs ("1763683200.123456+0@eu-west-1").
const versionMicros = (v) => Math.round(parseFloat(v.slice(0, v.indexOf("+"))) * 1e6);
const clock = (micros) => new Date(micros / 1000).toISOString().slice(11, 23);

async function showStory() {
  const table = $("s-table").value.trim(), key = $("s-key").value.trim();
  let story;
  try {
    const r = await fetch(`/api/key?table=${encodeURIComponent(table)}&key=${encodeURIComponent(key)}`);
    story = await r.json();
  } catch (e) {
    story = { error: `the dashboard did not answer: ${e}` };
  }
  if (story.error !== undefined) {
    say(story.error, false);
    $("story").replaceChildren();
    return;
  }
  const differs = new Set(story.differs);
  const side = (r) => {
    if (r.error !== undefined) return el("div", { class: "side" }, el("strong", {}, r.region), el("pre", {}, r.error));
    const lines = r.item === null ? [el("div", {}, "no item")] : Object.entries(r.item).map(([k, v]) =>
      el("div", { class: differs.has(k) ? "differs" : "" }, `${k}: ${JSON.stringify(v)}`));
    return el("div", { class: "side", "data-region": r.region },
      el("strong", {}, r.region),
      el("div", { class: differs.has("version") ? "differs" : "" }, `version ${r.version ?? "–"}`),
      el("pre", {}, ...lines));
  };
  const stream = story.regions.some((r) => r.stream);
  $("story").replaceChildren(
    el("p", { id: "story-differs" }, story.differs.length ? `differs between regions: ${story.differs.join(", ")}` : "the same in every region"),
    el("div", { class: "sides" }, ...story.regions.map(side)),
    el("p", {}, stream ? "Writes, shipments and conflicts from each region's stream and conflict log, oldest first."
      : "The table has no stream, so only the versions held and the conflicts recorded are drawn; enable a stream to see every write and shipment."),
    diagram(story));
}

// The sequence diagram: one lane per region, time flowing down; a dot
// where each write was taken, an arrow per shipment to each peer (red and
// dashed when it lost on arrival, green when it overwrote a concurrent
// write), and each recorded conflict with its winner.
function diagram(story) {
  const regions = story.regions.map((r) => r.region);
  const rows = [];
  const writeRow = new Map();
  const write = (version, t, region, note) => {
    if (!version || writeRow.has(version)) return;
    const row = { t, kind: "write", region, version, note };
    writeRow.set(version, row);
    rows.push(row);
  };
  for (const r of story.regions) for (const c of r.changes || []) {
    if (origin(c.version) === r.region && c.event !== "DISCARDED") write(c.version, c.at_micros, r.region, c.event);
  }
  for (const r of story.regions) for (const c of r.changes || []) {
    const from = origin(c.version);
    if (from === r.region && c.event !== "DISCARDED") continue;
    rows.push({ t: c.at_micros, kind: "ship", from, to: r.region, version: c.version,
      lost: c.event === "DISCARDED", kept: c.kept, overwrote: c.overwrote });
  }
  // Versions known only from what is held and from the conflict log.
  for (const r of story.regions) {
    if (r.version) write(r.version, versionMicros(r.version), origin(r.version));
    for (const c of r.conflicts || []) {
      write(c.Winner, versionMicros(c.Winner), origin(c.Winner));
      write(c.Loser, versionMicros(c.Loser), origin(c.Loser));
      rows.push({ t: c.DetectedAtMicros, kind: "conflict", region: r.region, winner: c.Winner, loser: c.Loser, why: c.Why });
    }
  }
  rows.sort((a, b) => a.t - b.t);
  const shown = rows.slice(-60);
  const LANE = 190, ROW = 26, TOP = 34, LEFT = 110;
  const W = LEFT + LANE * regions.length + 380, H = TOP + ROW * (shown.length + 1);
  const x = (region) => LEFT + LANE * regions.indexOf(region) + LANE / 2;
  const y = (row) => TOP + ROW * (shown.indexOf(row) + 1);
  const ns = "http://www.w3.org/2000/svg";
  const node = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const svg = node("svg", { id: "story-diagram", viewBox: `0 0 ${W} ${H}`, width: W, height: H });
  const defs = node("defs", {});
  for (const [id, color] of [["arrow", "#57606a"], ["arrow-lost", "#cf222e"], ["arrow-won", "#1a7f37"]]) {
    const m = node("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
    m.append(node("path", { d: "M0,0 L10,5 L0,10 z", fill: color }));
    defs.append(m);
  }
  svg.append(defs);
  for (const r of regions) {
    svg.append(node("text", { class: "lane-name", x: x(r), y: 16, "text-anchor": "middle" }, r));
    svg.append(node("line", { class: "lane", x1: x(r), y1: 22, x2: x(r), y2: H - 4 }));
  }
  for (const row of shown) {
    const yy = y(row);
    svg.append(node("text", { x: 4, y: yy + 4 }, clock(row.t)));
    if (row.kind === "write") {
      svg.append(node("circle", { class: "write", cx: x(row.region), cy: yy, r: 5, "data-version": row.version }));
      svg.append(node("text", { x: x(row.region) + 8, y: yy - 6 }, `${row.note ? `${row.note} ` : "write "}${row.version.slice(row.version.indexOf(".") - 4)}`));
    } else if (row.kind === "ship") {
      const from = writeRow.get(row.version);
      const y1 = from && shown.includes(from) ? y(from) : TOP;
      const cls = row.lost ? "ship lost" : row.overwrote ? "ship won" : "ship";
      const marker = row.lost ? "arrow-lost" : row.overwrote ? "arrow-won" : "arrow";
      if (regions.includes(row.from)) {
        svg.append(node("line", { class: cls, x1: x(row.from), y1, x2: x(row.to), y2: yy, "marker-end": `url(#${marker})` }));
      }
      const label = row.lost ? `✕ lost on arrival to ${origin(row.kept || "")}'s write`
        : row.overwrote ? `overwrote ${origin(row.overwrote)}'s concurrent write` : "";
      if (label) svg.append(node("text", { x: x(row.to) + 8, y: yy + 4, class: row.lost ? "conflict" : "" }, label));
    } else {
      svg.append(node("text", { class: "conflict", x: x(row.region) + 8, y: yy + 4 },
        `⚡ conflict in ${row.region}: ${origin(row.winner)} won over ${origin(row.loser)} (${row.why})`));
    }
  }
  return svg;
}

$("story-form").addEventListener("submit", (e) => { e.preventDefault(); showStory(); });

// ---------------------------------------------------------------- samples

function render(sample) {
  if (!sample) return;
  diff(last, sample);
  watchConflicts(last, sample);
  last = sample;
  $("cluster").textContent = sample.cluster || "";
  $("sampled").textContent = `sampled ${new Date(sample.t_ms).toLocaleTimeString()} in ${fmt(sample.sample_ms, " ms")}`;
  if (sample.faults_error) say(`faults unknown: ${sample.faults_error}`, false);
  fillSelects(sample.regions.map((r) => r.name));
  renderRegions(sample);
  renderAlarms(sample.alarms);
  renderFailover(sample.failover);
  renderEdge(sample.edge);
  renderLinks(sample);
  // When the page first showed the cluster, for its first-paint figure
  // (docs/performance.md): the navigation's clock, as the paint entries.
  if (!performance.getEntriesByName("regions-drawn").length) performance.mark("regions-drawn");
  points.push(pointOf(sample));
  tail = tail.filter((p) => p.t_ms > sample.t_ms);
  if (points.length % 10 === 0) loadTables();
  if (drillRunning || points.length % 10 === 0) loadDrills();
  while (points.length && points[0].t_ms < sample.t_ms - WINDOW_MS) points.shift();
  renderPlots();
}

function connect() {
  const live = $("live");
  const events = new EventSource("/api/events");
  events.addEventListener("sample", (e) => {
    live.textContent = "live";
    live.dataset.state = "live";
    render(JSON.parse(e.data));
  });
  events.addEventListener("pulse", (e) => pulse(JSON.parse(e.data)));
  events.onerror = () => {
    live.textContent = "reconnecting";
    live.dataset.state = "reconnecting";
  };
}

// ---------------------------------------------------------------- forms

// The fields each fault takes, and its command line.
function faultArgs() {
  const kind = $("f-kind").value, from = $("f-from").value, to = $("f-to").value;
  const value = $("f-value").value.trim(), extra = $("f-extra").value.trim(), dur = $("f-for").value.trim();
  let args;
  switch (kind) {
    case "lag": case "jitter": case "loss": case "bandwidth": args = [kind, from, to, value]; break;
    case "flap": args = ["flap", from, to, "--period", value, "--down", extra]; break;
    case "isolate": args = ["isolate", from]; break;
    case "skew": args = ["skew", from, value]; break;
    // AWS FIS's pause-replication: the table (extra) at the replica (from),
    // for the duration (value); it ends by itself, so no "for".
    case "pause": return ["pause-replication", extra, from, value];
    case "heal": case "clear": args = [kind, from, to]; break;
    default: args = ["partition", from, to];
  }
  if ($("f-both").checked && !["isolate", "skew", "heal", "clear"].includes(kind)) args.push("--both");
  if (dur) args.push("--for", dur);
  return args;
}

function fieldsFor(kind) {
  const value = { lag: "40ms", jitter: "5ms", loss: "2%", bandwidth: "100", flap: "2s", skew: "+300ms", pause: "30s" }[kind];
  $("l-value").hidden = value === undefined;
  $("f-value").placeholder = value || "";
  $("l-extra").hidden = kind !== "flap" && kind !== "pause";
  $("l-extra-name").textContent = kind === "pause" ? "table" : "down";
  $("f-extra").placeholder = kind === "pause" ? "demo" : "500ms";
}

$("f-kind").addEventListener("change", (e) => fieldsFor(e.target.value));
fieldsFor($("f-kind").value);
$("fault").addEventListener("submit", (e) => { e.preventDefault(); run(faultArgs()); });
$("line").addEventListener("submit", (e) => {
  e.preventDefault();
  const args = $("l-args").value.trim().split(/\s+/).filter(Boolean);
  run(args);
});

(async () => {
  try {
    const [history, snapshot] = await Promise.all([
      fetch("/api/history").then((r) => r.json()),
      fetch("/api/snapshot").then((r) => r.json()),
    ]);
    points = history.slice(0, -1);
    renderDetail();
    loadTables();
    loadDrills();
    render(snapshot);
  } catch (e) {
    say(`could not read the cluster: ${e}`, false);
  }
  connect();
})();
