// Brook console: a single page over the broker's /api/. Plain JS, no
// libraries; the chart is drawn on a <canvas>. Routes live in the hash
// (#/topics/NAME), so a reload or a shared link opens the same view.
"use strict";

const view = document.getElementById("view");
let timer = null; // the current page's refresh timer, stopped on navigation

// ---- helpers ---------------------------------------------------------------

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch("/api/" + path, init);
  let data = null;
  try { data = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const err = new Error(data ? `${data.error}: ${data.message}` : `HTTP ${response.status}`);
    err.data = data;
    throw err;
  }
  return data;
}

// el("td", {class: "num"}, "text", child, ...): attributes starting with "on" are listeners.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function table(headers, rows, attrs) {
  return el("table", attrs,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { class: h.num ? "num" : null }, h.label || h)))),
    el("tbody", {}, rows));
}

const num = (v) => el("td", { class: "num" }, v === null || v === undefined ? "–" : v);
const badge = (text, kind, testid) => el("span", { class: "badge " + (kind || ""), "data-testid": testid }, text);
const enc = encodeURIComponent;

// Replaces a node's children; null ones (optional parts) are left out.
function show(target, ...children) {
  target.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
}

function toast(message, bad) {
  const t = document.getElementById("toast");
  t.textContent = message;
  t.className = bad ? "bad" : "";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

function showError(where, e) {
  show(where, el("p", { class: "error", "data-testid": "error" }, e.message));
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// ---- bytes: base64 from the API, shown as text, JSON or hex ----------------

function decodeBytes(b) {
  if (!b) return null;
  const bin = atob(b.base64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function renderBytes(b, format) {
  if (!b) return el("span", { class: "muted" }, "null");
  const bytes = decodeBytes(b);
  const hex = () => Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join(" ");
  if (format === "hex" || !b.utf8) {
    return el("pre", { title: b.utf8 ? null : "not UTF-8: shown as hex" }, hex());
  }
  const text = new TextDecoder().decode(bytes);
  if (format === "json") {
    try { return el("pre", {}, JSON.stringify(JSON.parse(text), null, 2)); }
    catch (_) { return el("pre", { title: "not JSON: shown as text" }, text); }
  }
  return el("pre", {}, text);
}

// ---- overview --------------------------------------------------------------

async function overview() {
  const c = await api("GET", "cluster");
  document.getElementById("cluster-id").textContent = `cluster ${c.cluster_id} · Brook ${c.version}`;
  const brokers = c.brokers.map((b) => el("tr", { "data-testid": "broker-row", "data-broker-id": b.id },
    num(b.id), el("td", {}, `${b.host}:${b.port}`),
    el("td", {},
      b.fenced ? badge("fenced", "bad", "broker-fenced") : badge("active", "ok", "broker-active"),
      b.is_controller ? badge("controller", "info", "broker-controller") : null,
      b.id === c.node_id ? badge("this node", "") : null),
    el("td", {}, b.endpoints.map((e) => `${e.listener} ${e.host}:${e.port}`).join(", ") || "–")));
  const q = c.quorum;
  const quorum = q
    ? [el("p", {}, `Leader ${q.leader}, epoch ${q.epoch}, high watermark ${q.high_watermark}`),
       table(["Voter", { label: "Log end offset", num: true }, { label: "Lag", num: true }],
         q.voters.map((v) => el("tr", { "data-testid": "voter-row" }, num(v.id), num(v.log_end_offset), num(v.lag))),
         { id: "quorum-table" })]
    : [el("p", { class: "error" }, `quorum unavailable: ${c.quorum_error}`)];
  show(view,
    el("h1", {}, "Cluster overview"),
    el("div", { class: "stats" },
      el("div", { class: "stat" }, el("b", { "data-testid": "broker-count" }, c.brokers.length), "brokers"),
      el("div", { class: "stat" }, el("b", {}, c.topics), "topics"),
      el("div", { class: "stat" }, el("b", {}, c.partitions), "partitions"),
      el("div", { class: "stat" }, el("b", {}, c.under_replicated_partitions), "under-replicated"),
      el("div", { class: "stat" }, el("b", {}, c.offline_partitions), "offline"),
      el("div", { class: "stat" }, el("b", {}, c.version), "version")),
    el("h2", {}, "Brokers"),
    table(["Id", "Address", "Status", "Listeners"], brokers, { id: "brokers-table" }),
    el("h2", {}, "Metadata quorum"), ...quorum,
    el("p", { class: "muted" }, `Answered by node ${c.node_id}; metadata offset ${c.metadata_offset}.`));
}

// ---- topics ----------------------------------------------------------------

async function topicsPage() {
  const { topics } = await api("GET", "topics");
  const rows = topics.map((t) => el("tr", { "data-testid": "topic-row", "data-topic": t.name },
    el("td", {}, el("a", { href: `#/topics/${enc(t.name)}` }, t.name), t.internal ? badge("internal") : null),
    num(t.partitions), num(t.replication_factor),
    el("td", {}, t.under_replicated ? badge(`${t.under_replicated} under-replicated`, "bad") : badge("ok", "ok")),
    el("td", {},
      el("a", { href: `#/messages?topic=${enc(t.name)}` }, "messages"), " ",
      el("button", { class: "danger", "data-testid": "delete-topic", onclick: () => deleteTopic(t.name) }, "Delete"))));
  const status = el("span", { id: "create-topic-status", "data-testid": "create-topic-status" });
  const form = el("form", { class: "inline", id: "create-topic-form", onsubmit: (e) => { e.preventDefault(); createTopic(form, status); } },
    el("label", {}, "Name", el("input", { id: "topic-name", name: "topicname", required: true, placeholder: "orders" })),
    el("label", {}, "Partitions", el("input", { id: "topic-partitions", name: "partitions", type: "number", value: "3", min: "1" })),
    el("label", {}, "Replication factor", el("input", { id: "topic-rf", name: "rf", type: "number", value: "3", min: "1" })),
    el("label", {}, "Configs (name=value per line)", el("textarea", { id: "topic-configs", name: "configs", placeholder: "retention.ms=86400000" })),
    el("button", { id: "create-topic-btn", type: "submit" }, "Create topic"), status);
  show(view,
    el("h1", {}, "Topics"),
    el("section", { class: "card" }, el("h2", {}, "Create a topic"), form),
    table(["Name", { label: "Partitions", num: true }, { label: "RF", num: true }, "Health", ""], rows, { id: "topics-table" }));
}

async function createTopic(form, status) {
  const configs = {};
  for (const line of form.configs.value.split("\n")) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf("=");
    if (i < 1) { show(status, el("span", { class: "error" }, `bad config line: ${t}`)); return; }
    configs[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  const name = form.topicname.value.trim();
  try {
    await api("POST", "topics", {
      name, partitions: Number(form.partitions.value), replication_factor: Number(form.rf.value), configs,
    });
    toast(`Created topic ${name}`);
    await topicsPage();
    document.getElementById("create-topic-status").textContent = `created ${name}`;
  } catch (e) {
    show(status, el("span", { class: "error" }, e.message));
  }
}

async function deleteTopic(name) {
  if (!confirm(`Delete topic "${name}" and all its messages?`)) return;
  try {
    await api("DELETE", `topics/${enc(name)}`);
    toast(`Deleted topic ${name}`);
  } catch (e) {
    toast(e.message, true);
  }
  await topicsPage();
}

async function topicDetail(name) {
  const t = await api("GET", `topics/${enc(name)}`);
  const parts = t.partitions.map((p) => el("tr", { "data-testid": "partition-row" },
    num(p.partition), num(p.leader), el("td", {}, p.replicas.join(", ")),
    el("td", {}, p.isr.join(", "), p.isr.length < p.replicas.length ? badge("under-replicated", "bad") : null),
    num(p.log_start_offset), num(p.high_watermark), num(p.messages), num(p.size_bytes === null ? null : fmtBytes(p.size_bytes))));
  // Overrides first: they are what makes this topic differ from the defaults.
  const sorted = [...t.configs].sort((a, b) => (b.is_override - a.is_override) || a.name.localeCompare(b.name));
  const configs = sorted.map((c) => el("tr", { "data-testid": "config-row" },
    el("td", {}, c.name), el("td", {}, c.value === null ? el("span", { class: "muted" }, "(sensitive or unset)") : c.value),
    el("td", {}, c.is_override ? badge("topic override", "info") : el("span", { class: "muted" }, "default"))));
  show(view,
    el("h1", {}, "Topic ", el("span", { "data-testid": "topic-title" }, t.name)),
    el("p", {}, el("a", { href: `#/messages?topic=${enc(t.name)}` }, "Browse messages"), " · ",
      el("button", { class: "danger", "data-testid": "delete-topic", onclick: async () => { await deleteTopic(t.name); location.hash = "#/topics"; } }, "Delete topic")),
    t.offsets_error ? el("p", { class: "error" }, `watermarks unavailable: ${t.offsets_error}`) : null,
    el("h2", {}, "Partitions"),
    table([{ label: "Partition", num: true }, { label: "Leader", num: true }, "Replicas", "ISR",
      { label: "Log start", num: true }, { label: "High watermark", num: true }, { label: "Messages", num: true }, { label: "Size here", num: true }],
      parts, { id: "partitions-table" }),
    el("p", { class: "muted" }, "Size: this broker's replica, from its metrics, when it exports log sizes."),
    el("h2", {}, "Configs"),
    table(["Name", "Value", "Source"], configs, { id: "configs-table" }));
}

// ---- consumer groups -------------------------------------------------------

async function groupsPage() {
  const { groups, errors } = await api("GET", "groups");
  const rows = groups.map((g) => el("tr", { "data-testid": "group-row", "data-group": g.group_id },
    el("td", {}, el("a", { href: `#/groups/${enc(g.group_id)}` }, g.group_id)),
    el("td", {}, g.state), el("td", {}, g.protocol_type || "–")));
  show(view, el("h1", {}, "Consumer groups"),
    errors.length ? el("p", { class: "error" }, "Some brokers did not answer: " + errors.join("; ")) : null,
    rows.length ? table(["Group", "State", "Protocol type"], rows, { id: "groups-table" })
      : el("p", { class: "muted" }, "No consumer groups."));
}

async function groupDetail(id) {
  const holder = el("div", { id: "group-detail" });
  const status = el("span", { id: "reset-status", "data-testid": "reset-status" });
  const form = el("form", { class: "inline", id: "reset-form", onsubmit: (e) => { e.preventDefault(); resetGroup(id, form, status); } },
    el("label", {}, "Topic", el("input", { id: "reset-topic", name: "topic", required: true })),
    el("label", {}, "To", el("select", { id: "reset-to", name: "to" },
      ["earliest", "latest", "offset", "timestamp"].map((v) => el("option", { value: v }, v)))),
    el("label", {}, "Offset or timestamp (ms)", el("input", { id: "reset-value", name: "value", type: "number" })),
    el("button", { id: "reset-btn", type: "submit" }, "Reset offsets"), status);
  show(view, el("h1", {}, "Group ", el("span", { "data-testid": "group-title" }, id)), holder,
    el("section", { class: "card" }, el("h2", {}, "Reset offsets"),
      el("p", { class: "muted" }, "Only while the group has no members (stop its consumers first)."), form));
  const refresh = async () => {
    try { renderGroup(holder, await api("GET", `groups/${enc(id)}`)); }
    catch (e) { showError(holder, e); }
  };
  await refresh();
  timer = setInterval(refresh, 2000); // lag changes as consumers read
}

function renderGroup(holder, g) {
  const members = g.members.map((m) => el("tr", { "data-testid": "member-row" },
    el("td", {}, m.member_id), el("td", {}, m.client_id), el("td", {}, m.host),
    el("td", {}, m.assignment.map((a) => `${a.topic}-${a.partition}`).join(", ") || "–")));
  const parts = g.partitions.map((p) => el("tr", { "data-testid": "group-lag-row", "data-topic": p.topic, "data-partition": p.partition },
    el("td", {}, p.topic), num(p.partition), num(p.committed_offset), num(p.log_end_offset),
    el("td", { class: "num", "data-testid": "partition-lag" }, p.lag === null ? "–" : p.lag),
    el("td", {}, p.member_id || el("span", { class: "muted" }, "unassigned"))));
  show(holder,
    el("div", { class: "stats" },
      el("div", { class: "stat" }, el("b", { "data-testid": "group-state" }, g.state), "state"),
      el("div", { class: "stat" }, el("b", {}, g.members.length), "members"),
      el("div", { class: "stat" }, el("b", { id: "group-total-lag", "data-testid": "group-total-lag" }, g.total_lag), "total lag"),
      el("div", { class: "stat" }, el("b", {}, g.protocol || "–"), "assignor")),
    g.offsets_error ? el("p", { class: "error" }, `log end offsets unavailable: ${g.offsets_error}`) : null,
    el("h2", {}, "Members"),
    members.length ? table(["Member", "Client id", "Host", "Assignment"], members, { id: "members-table" })
      : el("p", { class: "muted" }, "No members."),
    el("h2", {}, "Offsets and lag"),
    table(["Topic", { label: "Partition", num: true }, { label: "Committed", num: true }, { label: "Log end", num: true },
      { label: "Lag", num: true }, "Member"], parts, { id: "lag-table" }),
    el("p", { class: "muted" }, `Refreshed ${new Date().toLocaleTimeString()}`));
}

async function resetGroup(id, form, status) {
  const body = { topic: form.topic.value.trim(), to: form.to.value };
  if (body.to === "offset") body.offset = Number(form.value.value);
  if (body.to === "timestamp") body.timestamp = Number(form.value.value);
  try {
    const r = await api("POST", `groups/${enc(id)}/reset`, body);
    status.textContent = "reset: " + r.offsets.map((o) => `p${o.partition}→${o.offset}`).join(", ");
  } catch (e) {
    show(status, el("span", { class: "error" }, e.message));
  }
}

// ---- messages --------------------------------------------------------------

async function messagesPage(params) {
  const { topics } = await api("GET", "topics");
  const topic = params.get("topic") || (topics.find((t) => !t.internal) || topics[0] || {}).name || "";
  const results = el("div", { id: "messages" });
  const browse = el("form", { class: "inline", id: "browse-form", onsubmit: (e) => { e.preventDefault(); browseMessages(browse, results); } },
    el("label", {}, "Topic", el("select", { id: "browse-topic", name: "topic" },
      topics.map((t) => el("option", { value: t.name, selected: t.name === topic }, t.name)))),
    el("label", {}, "Partition", el("input", { id: "browse-partition", name: "partition", type: "number", value: params.get("partition") || "0", min: "0" })),
    el("label", {}, "From", el("select", { id: "browse-mode", name: "mode" },
      el("option", { value: "newest" }, "newest"), el("option", { value: "offset" }, "offset"), el("option", { value: "timestamp" }, "timestamp (ms)"))),
    el("label", {}, "Offset / timestamp", el("input", { id: "browse-position", name: "position", type: "number" })),
    el("label", {}, "Limit", el("input", { id: "browse-limit", name: "limit", type: "number", value: "20", min: "1", max: "500" })),
    el("label", {}, "Show as", el("select", { id: "browse-format", name: "format" },
      ["text", "json", "hex"].map((f) => el("option", { value: f }, f)))),
    el("button", { id: "browse-btn", type: "submit" }, "Read"));
  browse.format.addEventListener("change", () => { if (lastBrowse) renderMessages(results, lastBrowse, browse.format.value); });
  const status = el("span", { id: "produce-status", "data-testid": "produce-status" });
  const headers = el("div", { id: "produce-headers" });
  const addHeader = () => headers.append(el("div", { class: "inline header-pair" },
    el("input", { class: "produce-header-key", placeholder: "header key" }), " ",
    el("input", { class: "produce-header-value", placeholder: "header value" })));
  addHeader();
  const produce = el("form", { id: "produce-form", onsubmit: (e) => { e.preventDefault(); produceMessage(browse, produce, headers, status, results); } },
    el("div", { class: "inline" },
      el("label", {}, "Partition (empty: partitioner)", el("input", { id: "produce-partition", name: "partition", type: "number", min: "0" })),
      el("label", {}, "Key", el("input", { id: "produce-key", name: "key" })),
      el("label", {}, "Value", el("textarea", { id: "produce-value", name: "value" }))),
    el("p", {}, "Headers ", el("button", { type: "button", class: "plain", id: "add-header-btn", onclick: addHeader }, "+ header")),
    headers,
    el("p", {}, el("button", { id: "produce-btn", type: "submit" }, "Produce"), " ", status));
  show(view, el("h1", {}, "Messages"),
    el("section", { class: "card" }, el("h2", {}, "Read"), browse), results,
    el("section", { class: "card" }, el("h2", {}, "Produce a test message to the selected topic"), produce));
  if (topic) await browseMessages(browse, results);
}

let lastBrowse = null;

async function browseMessages(form, results) {
  const q = new URLSearchParams({ partition: form.partition.value || "0", limit: form.limit.value || "20" });
  if (form.mode.value !== "newest") q.set(form.mode.value, form.position.value || "0");
  try {
    lastBrowse = await api("GET", `topics/${enc(form.topic.value)}/messages?${q}`);
    renderMessages(results, lastBrowse, form.format.value);
  } catch (e) {
    showError(results, e);
  }
}

function renderMessages(results, r, format) {
  const rows = r.messages.map((m) => el("tr", { "data-testid": "message-row", "data-offset": m.offset },
    num(m.offset), el("td", {}, new Date(m.timestamp).toISOString()),
    el("td", { "data-testid": "message-key" }, renderBytes(m.key, format)),
    el("td", { "data-testid": "message-value" }, renderBytes(m.value, format)),
    el("td", { "data-testid": "message-headers" }, m.headers.map((h) =>
      el("div", { "data-testid": "message-header" }, el("b", {}, h.key), ": ", renderBytes(h.value, format))))));
  show(results,
    el("p", { class: "muted", id: "browse-summary" },
      `${r.topic}-${r.partition}: log start ${r.log_start_offset}, high watermark ${r.high_watermark}; ` +
      `${r.messages.length} message(s) from offset ${r.from_offset}`),
    rows.length ? table([{ label: "Offset", num: true }, "Timestamp", "Key", "Value", "Headers"], rows, { id: "messages-table" })
      : el("p", { class: "muted", "data-testid": "no-messages" }, "No messages there."));
}

async function produceMessage(browse, form, headers, status, results) {
  const hs = [];
  for (const pair of headers.querySelectorAll(".header-pair")) {
    const key = pair.querySelector(".produce-header-key").value.trim();
    if (key) hs.push({ key, value: pair.querySelector(".produce-header-value").value });
  }
  const body = { key: form.key.value || null, value: form.value.value, headers: hs };
  if (form.partition.value !== "") body.partition = Number(form.partition.value);
  try {
    const r = await api("POST", `topics/${enc(browse.topic.value)}/messages`, body);
    status.textContent = `produced to partition ${r.partition} at offset ${r.offset}`;
    browse.partition.value = r.partition;
    browse.mode.value = "newest";
    await browseMessages(browse, results);
  } catch (e) {
    show(status, el("span", { class: "error" }, e.message));
  }
}

// ---- throughput ------------------------------------------------------------

const SERIES = [
  { key: "bytes_in", label: "bytes in/s", color: "#2563eb", fmt: (v) => fmtBytes(v) + "/s" },
  { key: "bytes_out", label: "bytes out/s", color: "#16a34a", fmt: (v) => fmtBytes(v) + "/s" },
  { key: "messages_in", label: "messages in/s", color: "#d97706", fmt: (v) => v.toFixed(1) + "/s" },
  { key: "connections", label: "open connections", color: "#7c3aed", fmt: (v) => String(v), gauge: true },
];

// Charts with one scale each, so lines on one chart compare directly.
const CHARTS = [
  { id: "throughput-chart", title: "Bytes per second", series: ["bytes_in", "bytes_out"], fmt: (v) => fmtBytes(v) + "/s" },
  { id: "messages-chart", title: "Messages in per second", series: ["messages_in"], fmt: (v) => v.toFixed(1) + "/s" },
  { id: "connections-chart", title: "Open connections", series: ["connections"], fmt: (v) => String(Math.round(v)) },
];

async function throughputPage() {
  const legend = el("div", { class: "legend", id: "throughput-legend" });
  const note = el("p", { class: "muted", id: "throughput-note" });
  const canvases = CHARTS.map((c) => el("canvas", { id: c.id, "data-testid": c.id, width: 1100, height: 180 }));
  show(view, el("h1", {}, "Throughput (this broker)"), legend, note,
    CHARTS.map((c, i) => [el("h2", {}, c.title), canvases[i]]));
  const points = []; // {t, rates: {key: value|null}}
  let previous = null;
  const tick = async () => {
    let s;
    try { s = await api("GET", "metrics/summary"); } catch (e) { note.textContent = e.message; return; }
    if (previous) {
      const dt = (s.time_ms - previous.time_ms) / 1000;
      const rates = {};
      for (const x of SERIES) {
        if (x.gauge) rates[x.key] = s[x.key]; // a level, not a counter
        else rates[x.key] = s[x.key] === null || previous[x.key] === null || dt <= 0 ? null : Math.max(0, (s[x.key] - previous[x.key]) / dt);
      }
      points.push({ t: s.time_ms, rates });
      if (points.length > 120) points.shift();
    }
    previous = s;
    const missing = SERIES.filter((x) => s[x.key] === null).map((x) => x.label);
    note.textContent = (missing.length
      ? `Not exported by this broker's metrics yet: ${missing.join(", ")}.` : "From this broker's /metrics, polled every second; the last two minutes.");
    show(legend, ...SERIES.map((x) => {
      const last = points.length ? points[points.length - 1].rates[x.key] : null;
      return el("span", { "data-testid": `rate-${x.key}` }, el("i", { style: `background:${x.color}` }), `${x.label}: ${last === null ? "–" : x.fmt(last)}`);
    }));
    CHARTS.forEach((c, i) => drawChart(canvases[i], points, SERIES.filter((x) => c.series.includes(x.key)), c.fmt));
  };
  await tick();
  timer = setInterval(tick, 1000);
}

// Lines of `series` over time, on one scale from 0 to the peak (labelled).
function drawChart(canvas, points, series, fmt) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 90, pad = 14;
  ctx.clearRect(0, 0, w, h);
  const values = points.flatMap((p) => series.map((s) => p.rates[s.key])).filter((v) => v !== null);
  const max = Math.max(1, ...values);
  ctx.strokeStyle = "#e5e7eb";
  ctx.fillStyle = "#6b7385";
  ctx.font = "12px system-ui";
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad + (i * (h - 2 * pad)) / 4;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w - pad, y); ctx.stroke();
    ctx.fillText(fmt((max * (4 - i)) / 4), 4, y + 4);
  }
  if (points.length < 2) return;
  const t0 = points[0].t, span = Math.max(1, points[points.length - 1].t - t0);
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let started = false;
    for (const p of points) {
      const v = p.rates[s.key];
      if (v === null) continue;
      const x = left + ((p.t - t0) / span) * (w - left - pad);
      const y = h - pad - (v / max) * (h - 2 * pad);
      if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
    }
    ctx.stroke();
  }
}

// ---- router ----------------------------------------------------------------

async function route() {
  clearInterval(timer);
  timer = null;
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === "#/" + (parts[0] || ""));
  }
  show(view, el("p", { class: "muted" }, "Loading…"));
  try {
    if (parts.length === 0) await overview();
    else if (parts[0] === "topics" && parts.length === 1) await topicsPage();
    else if (parts[0] === "topics") await topicDetail(parts[1]);
    else if (parts[0] === "groups" && parts.length === 1) await groupsPage();
    else if (parts[0] === "groups") await groupDetail(parts[1]);
    else if (parts[0] === "messages") await messagesPage(params);
    else if (parts[0] === "throughput") await throughputPage();
    else show(view, el("p", { class: "error" }, `No page ${hash}`));
  } catch (e) {
    showError(view, e);
  }
}

window.addEventListener("hashchange", route);
route();
