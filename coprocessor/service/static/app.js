// The explorer: hash routes (#/jobs, #/job/ID, #/score/ID, #/subject/ADDR, #/models,
// #/bridge, #/ops), DOM built with textContent only (nothing from the API is parsed as HTML).
import { barPlot, linePlot } from "/explorer/plot.js";
import { decodeJournal, isDevSeal, verifyLeaf, verifySigned } from "/explorer/verify.js";

const KEY = "coproc-explorer-key";
const STATES = ["queued", "indexing", "scoring", "signing", "proving", "batching", "posting", "done", "failed"];
const main = document.getElementById("main");
const statusLine = document.getElementById("status");
let pageAbort = new AbortController();

// ---------------------------------------------------------------- helpers

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const code = (text) => h("code", {}, text ?? "—");
const link = (href, text) => h("a", { href }, text);
const time = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "—");
const short = (hex, n = 10) => (hex ? `${hex.slice(0, n)}…${hex.slice(-4)}` : "—");
const q16 = (v) => (v === null || v === undefined ? "—" : (v / 65536).toFixed(4));

function table(caption, headers, rows, attrs = {}) {
  return h("table", attrs, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

function kv(pairs, attrs = {}) {
  return h("dl", { class: "kv", ...attrs }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function say(text) { statusLine.textContent = text; }

class NeedsKey extends Error {}

function headers() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function api(path) {
  const res = await fetch(path, { headers: headers(), signal: pageAbort.signal });
  if (res.status === 401) throw new NeedsKey((await res.json()).error.message);
  const body = await res.json();
  if (!res.ok) throw new Error(`${path}: ${body.error ? body.error.message : res.status}`);
  return body;
}

function render(title, ...nodes) {
  document.title = `${title} · coproc explorer`;
  main.replaceChildren(h("h1", {}, title), ...nodes.filter((n) => n !== null && n !== undefined));
}

// ---------------------------------------------------------------- live feed (SSE over fetch:
// EventSource cannot send the API key header)

async function follow(onEvent, signal) {
  const res = await fetch("/v1/feed", { headers: headers(), signal });
  if (!res.ok) throw new Error(`feed: HTTP ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = { event: "message", data: "" };
      for (const line of block.split("\n")) {
        const m = /^(\w+): ?(.*)$/.exec(line);
        if (m) event[m[1]] = m[1] === "data" ? event.data + m[2] : m[2];
      }
      if (event.data) onEvent(event);
    }
  }
}

// ---------------------------------------------------------------- pages

async function jobsPage(params) {
  const filters = h("form", { class: "filters", id: "job-filters" },
    h("label", {}, "State", h("select", { name: "state" }, h("option", { value: "" }, "any"),
      STATES.map((s) => h("option", { value: s, selected: params.get("state") === s }, s)))),
    h("label", {}, "Subject", h("input", { name: "subject", value: params.get("subject") || "", size: 44 })),
    h("label", {}, "Model", h("input", { name: "model", value: params.get("model") || "" })),
    h("label", {}, "Mode", h("select", { name: "mode" }, ["", "signed", "proven", "both"].map((m) =>
      h("option", { value: m, selected: params.get("mode") === m }, m || "any")))),
    h("label", {}, "Destination", h("select", { name: "destination" }, ["", "none", "l1", "l2"].map((m) =>
      h("option", { value: m, selected: params.get("destination") === m }, m || "any")))),
    h("button", { type: "submit" }, "Filter"));
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams([...new FormData(filters)].filter(([, v]) => v));
    location.hash = `#/jobs?${q}`;
  });
  const live = h("p", { id: "live", role: "status" }, "live: connecting…");
  const holder = h("div", { id: "jobs" });
  render("Jobs", filters, live, holder);
  const query = new URLSearchParams([...params].filter(([k, v]) => v && k !== "key"));
  const refresh = async () => {
    const body = await api(`/v1/explorer/jobs?${query}`);
    const counts = Object.entries(body.counts).filter(([, n]) => n).map(([s, n]) => `${s} ${n}`).join(", ");
    holder.replaceChildren(table(`${body.jobs.length} jobs (${counts || "none"})`,
      ["job", "state", "subject", "model", "block", "mode", "destination", "score", "created", "timings (s)"],
      body.jobs.map((j) => [
        link(`#/job/${j.id}`, j.id),
        h("span", { class: j.state === "failed" ? "bad" : j.state === "done" ? "ok" : "" }, j.state,
          j.dev_mode ? " (dev-mode receipt)" : ""),
        link(`#/subject/${j.subject}`, short(j.subject, 12)),
        j.model, j.block ?? "—", j.mode, j.destination,
        j.score === null ? "—" : link(`#/score/${j.id}`, String(j.score)),
        time(j.created_at),
        Object.entries(j.durations).map(([s, d]) => `${s} ${d}`).join(", "),
      ]), { id: "jobs-table" }));
  };
  await refresh();
  const signal = pageAbort.signal;
  let pending = null;
  follow((event) => {
    live.textContent = `live: last event #${event.id} (${event.event})`;
    clearTimeout(pending);
    pending = setTimeout(() => refresh().catch(() => {}), 150);
  }, signal).catch((err) => { if (!signal.aborted) live.textContent = `live feed closed: ${err.message}`; });
  live.textContent = "live: following /v1/feed";
  // states between published results (queued → indexing …) are not feed events: poll too
  const timer = setInterval(() => refresh().catch(() => {}), 3000);
  signal.addEventListener("abort", () => clearInterval(timer));
}

async function jobPage(id) {
  const job = await api(`/v1/explorer/jobs/${id}`);
  const entered = Object.fromEntries(job.timeline.map((t) => [t.state, t.at]));
  const path = job.state === "failed" ? [...job.timeline.map((t) => t.state)] : job.path;
  const steps = h("ol", { class: "timeline", id: "timeline", "aria-label": "State timeline" },
    path.map((s) => h("li", {
      class: [entered[s] ? "entered" : "", s === job.state ? "current" : "", s === "failed" ? "failed" : ""].join(" "),
      "aria-current": s === job.state ? "step" : undefined,
    }, h("strong", {}, s), h("br"), entered[s] ? time(entered[s]) : "pending",
    job.summary.durations[s] !== undefined ? ` (${job.summary.durations[s]} s)` : "")));
  render(`Job ${id}`,
    kv([["state", job.state], ["subject", link(`#/subject/${job.request.subject}`, job.request.subject)],
      ["model", job.request.model], ["mode", job.request.mode], ["destination", job.request.destination],
      ["block", job.block ?? "—"], ["anchor", job.anchor ? `${job.anchor.number} ${job.anchor.hash}` : "—"],
      ["score", job.score === null ? "—" : link(`#/score/${id}`, `${job.score} bps (score page)`)],
      ["attempts", job.attempts], ["reorgs", job.reorgs], ["error", job.error || "—"],
      ["transaction", job.tx_hash ? code(job.tx_hash) : "—"]]),
    h("h2", {}, "State timeline"), steps);
}

function devBanner(result) {
  const dev = result.dev_mode || isDevSeal(result.seal);
  if (!dev) return null;
  return h("p", { class: "dev-banner", id: "dev-banner", role: "alert" },
    "DEV-MODE RECEIPT — no zero-knowledge proof: the seal is 0xFFFFFFFF ‖ claim digest. " +
    "Only a mock verifier accepts it; it proves nothing about the computation.");
}

function featureTable(rows) {
  const plots = [];
  const body = rows.map((f) => {
    let source = "—";
    if (f.kind === "combine") source = `${f.op}(${f.args.join(", ")})`;
    else if (f.source) {
      const s = f.source;
      source = h("div", {},
        h("div", {}, `${f.read} of `, code(s.address), ` at block ${s.block}`, f.block_offset ? ` (B − ${f.block_offset})` : ""),
        s.slot ? h("div", {}, "slot ", code(s.slot), " = path ", code(JSON.stringify(s.slot_path)),
          ", bits ", code(`${s.bits.offset}+${s.bits.size} bytes`)) : null,
        s.word ? h("div", {}, "proven word ", code(s.word)) : null,
        h("div", {}, "proven raw value ", code(s.raw), f.decimals ? ` (÷ 10^${f.decimals})` : ""),
        s.in_bundle ? null : h("div", { class: "bad" }, "not in the bundle"));
    }
    let series = "";
    if (f.series && f.series.length > 1) {
      const pts = f.series.filter((p) => p.block !== null && p.q16 !== null).map((p) => ({ x: p.block, y: p.q16 / 65536, label: `${p.name} @ ${p.block}` }));
      const svg = linePlot(pts, { title: `history of ${f.name}`, width: 220, height: 110 });
      svg.classList.add("feature-series");
      series = svg;
      plots.push(svg);
    }
    return [h("th", { scope: "row" }, f.name), h("span", { class: "num" }, q16(f.q16)), code(f.q16), source, series];
  });
  return h("table", { id: "features" }, h("caption", {}, "Features: value and where it came from"),
    h("thead", {}, h("tr", {}, ["feature", "value", "Q16", "source (verified bundle)", "history"].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, body.map((r) => h("tr", {}, r.map((c, i) => (i === 0 ? c : h("td", {}, c)))))));
}

async function scorePage(id) {
  const page = await api(`/v1/explorer/jobs/${id}/score`);
  const r = page.result;
  const sig = verifySigned(r);
  const sigNode = h("p", { id: "sig-status", class: sig.valid ? "ok" : "bad", dataset: { valid: String(sig.valid) } },
    sig.valid ? "✔ signature VALID (verified in this page with ethers)" : `✘ signature INVALID: ${sig.reason}`);
  const parts = [
    devBanner(r),
    h("h2", {}, "Subject and request"),
    kv([["subject", link(`#/subject/${r.subject}`, r.subject)], ["score", h("strong", { id: "score" }, `${r.score} bps`)],
      ["request block", r.block], ["source chain", r.chain_id],
      ["anchor", h("span", {}, `${r.anchor.number} `, code(r.anchor.hash))],
      ["anchor check on the destination", page.anchor_check],
      ["job", link(`#/job/${r.job_id}`, r.job_id)], ["request id", code(r.request_id)]]),
    h("h2", {}, "Model"),
    kv([["model", link(`#/models?model=${encodeURIComponent(r.model)}`, `${r.model} (model card)`)],
      ["model hash", code(r.model_hash)], ["feature spec hash", code(r.feature_spec_hash)]]),
    featureTable(page.features),
    page.bundle_verified ? null : h("p", { class: "notice" }, "The job's bundle file is gone: sources not shown."),
    h("h2", {}, "Signed result"),
    r.signature ? kv([["signer", code(r.signer)], ["signature", code(r.signature)],
      ["EIP-712 domain", `${"coproc SignedScores"} v1, chain ${r.signing_chain_id}, contract ${r.signed_scores}`],
      ["recovered", code(sig.recovered || "—")]]) : null,
    sigNode,
  ];
  const receipt = h("section", { id: "receipt", "aria-labelledby": "receipt-h" }, h("h2", { id: "receipt-h" }, "Receipt"));
  parts.push(receipt);
  const chain = h("section", { id: "onchain", "aria-labelledby": "onchain-h" }, h("h2", { id: "onchain-h" }, "On-chain status"), h("p", {}, "reading…"));
  parts.push(chain);
  render(`Score of ${short(r.subject, 12)} at block ${r.block}`, ...parts);
  let journal = null;
  if (r.journal && r.batch) {
    const b = r.batch;
    const check = verifyLeaf(b);
    journal = b.leaf;
    const expect = { blockNumber: r.block, subject: r.subject, modelHash: r.model_hash,
      featureSpecHash: r.feature_spec_hash, score: r.score, requestId: r.request_id };
    receipt.append(
      kv([["receipt kind", `${(r.proof && r.proof.receipt_kind) || "—"} (batch of ${b.size}; this is leaf ${b.leaf_index})`],
        ["image ID", code(r.image_id)], ["dev mode", r.dev_mode ? h("strong", { class: "bad" }, "YES (fake seal)") : "no"],
        ["results root", code(b.results_root)], ["seal", code(short(r.seal, 26))]]),
      table("Batch leaf (this subject's result in the batch journal)", ["field", "value", "= result"],
        Object.entries(b.leaf).map(([k, v]) => [k, h("span", { class: "mono", dataset: { field: k } }, String(v)),
          k in expect ? (String(expect[k]).toLowerCase() === String(v).toLowerCase() ? h("span", { class: "ok" }, "✔") : h("span", { class: "bad" }, "✘ differs")) : ""]),
        { id: "journal" }),
      h("p", { id: "leaf-status", class: check.leafOk && check.rootOk ? "ok" : "bad", dataset: { valid: String(check.leafOk && check.rootOk) } },
        check.leafOk && check.rootOk ? `✔ leaf hash and Merkle proof lead to the results root (verified in this page, ${b.proof.length} siblings)`
          : `✘ leaf proof does not reach the results root (computed ${check.root})`));
  } else if (r.journal) {
    journal = await decodeJournal(r.journal);
    const expect = { chainId: r.chain_id, anchorNumber: r.anchor.number, anchorHash: r.anchor.hash, blockNumber: r.block,
      subject: r.subject, modelHash: r.model_hash, featureSpecHash: r.feature_spec_hash, score: r.score, requestId: r.request_id };
    receipt.append(
      kv([["receipt kind", (r.proof && r.proof.receipt_kind) || "—"], ["image ID", code(r.image_id)],
        ["dev mode", r.dev_mode ? h("strong", { class: "bad" }, "YES (fake seal)") : "no"],
        ["cycles", r.proof && r.proof.cycles ? JSON.stringify(r.proof.cycles) : "—"], ["seal", code(short(r.seal, 26))]]),
      table("Journal fields (decoded in this page)", ["field", "value", "= result"],
        Object.entries(journal).map(([k, v]) => [k, h("span", { class: "mono", dataset: { field: k } }, String(v)),
          k in expect ? (String(expect[k]).toLowerCase() === String(v).toLowerCase() ? h("span", { class: "ok" }, "✔") : h("span", { class: "bad" }, "✘ differs")) : ""]),
        { id: "journal" }));
  } else receipt.append(h("p", {}, "No receipt yet (mode signed, or not proven yet)."));
  const on = await api(`/v1/explorer/jobs/${id}/onchain`);
  if (!on.available) { chain.replaceChildren(chain.firstChild, h("p", {}, on.reason)); return; }
  const same = journal && on.stored.score === journal.score && on.stored.block === journal.blockNumber;
  chain.replaceChildren(chain.firstChild,
    kv([["destination", `${on.destination} (chain ${on.chain_id}), head ${on.head}`], ["oracle", code(on.oracle)],
      ["transaction", h("span", {}, code(on.tx_hash), on.tx_block ? ` in block ${on.tx_block}` : "")],
      ["stored score (read now)", h("strong", { id: "onchain-score" }, String(on.stored.score))],
      ["stored block", on.stored.block], ["updated at", time(on.stored.updated_at)],
      on.anchor_on_destination ? ["anchor hash on L2", code(on.anchor_on_destination)] : ["", ""]]),
    h("p", { id: "onchain-match", class: same ? "ok" : "bad", dataset: { match: String(Boolean(same)) } },
      same ? "✔ on-chain value = journal's score and block" : "✘ on-chain value differs from the journal (a newer result may have replaced it)"));
}

async function subjectPage(subject) {
  const body = await api(`/v1/explorer/subjects/${subject}`);
  const byModel = {};
  for (const p of body.points) (byModel[p.model] ||= []).push(p);
  const sections = Object.entries(byModel).map(([model, pts]) => {
    const names = Object.keys(pts[0].features);
    return h("section", {}, h("h2", {}, model),
      h("figure", {}, linePlot(pts.map((p) => ({ x: p.block, y: p.score, label: `block ${p.block}: ${p.score} bps` })),
        { title: `score history of ${subject} under ${model}`, xLabel: "block", yLabel: "bps" }),
      h("figcaption", {}, "Score (bps) over request blocks")),
      h("div", { class: "grid" }, names.map((n) => h("figure", {},
        linePlot(pts.map((p) => ({ x: p.block, y: p.features[n] / 65536 })), { title: `${n} over blocks`, width: 260, height: 130 }),
        h("figcaption", {}, n)))),
      table("Results", ["block", "score", "job"], pts.map((p) => [p.block, p.score, link(`#/score/${p.job_id}`, p.job_id)])));
  });
  render(`Subject ${subject}`, ...(sections.length ? sections : [h("p", {}, "No scores for this subject yet.")]));
}

async function modelsPage(params) {
  const models = await api("/v1/explorer/models");
  const wanted = params.get("model");
  render("Models", ...models.filter((m) => !wanted || m.name === wanted).map((m) => h("article", { id: `model-${m.name}` },
    h("h2", {}, m.name),
    kv([["model hash", code(m.model_hash)], ["feature spec hash", code(m.feature_spec_hash)], ["input dim", m.input_dim],
      ["image ID (receipts of this service)", code(m.image_id)], ["layers", m.layers.map((l) => l.op + (l.out ? `(${l.in}→${l.out})` : "")).join(" → ")],
      ["source", m.source || "—"]]),
    m.evaluation ? table("Evaluation (model file meta)", ["metric", "value"], Object.entries(m.evaluation).map(([k, v]) => [k, String(v)])) : null,
    m.training ? table("Training", ["parameter", "value"], Object.entries(m.training).map(([k, v]) => [k, String(v)])) : null,
    table("Feature spec", ["#", "feature", "definition"], m.spec.features.map((f, i) => [i, f.name, code(JSON.stringify(f.read || f.combine))])))));
}

async function bridgePage() {
  const body = await api("/v1/explorer/bridge");
  if (!body.available) { render("Bridge", h("p", {}, "This service has no bridge store (no L2 destination).")); return; }
  const anchors = body.messages.filter((m) => String(m.id).includes("blockhash") || (m.data && m.data.block !== undefined));
  render("Bridge",
    table("Messages (retryable tickets, outbox messages)", ["id", "kind", "status", "updated", "history"],
      body.messages.map((m) => [code(m.id), m.kind, m.status, time(m.updated),
        h("ol", {}, m.history.map((e) => h("li", {}, `${e.status} · ${time(e.at)}${e.detail ? ` · ${e.detail}` : ""}`)))]),
      { id: "bridge-messages" }),
    h("h2", {}, "Anchors pushed to L2"),
    anchors.length ? h("ul", {}, anchors.map((m) => h("li", {}, code(m.id), ` ${m.status} `, code(JSON.stringify(m.data))))) : h("p", {}, "none"));
}

function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").slice(1, -1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function opsPage() {
  const depth = [];
  const holder = h("div", { class: "grid", id: "ops-plots" });
  render("Operations", h("p", {}, "From the open /metrics endpoint, sampled every 2 s while this page is open."), holder);
  const draw = async () => {
    const res = await fetch("/metrics", { signal: pageAbort.signal });
    const metrics = parseMetrics(await res.text());
    const jobs = metrics.filter((m) => m.name === "coproc_jobs");
    const stageSum = metrics.filter((m) => m.name === "coproc_stage_seconds_sum");
    const stageCount = Object.fromEntries(metrics.filter((m) => m.name === "coproc_stage_seconds_count").map((m) => [m.labels.stage, m.value]));
    const queued = jobs.filter((m) => !["done", "failed"].includes(m.labels.state)).reduce((a, m) => a + m.value, 0);
    depth.push({ x: depth.length * 2, y: queued });
    const figure = (svg, caption) => h("figure", {}, svg, h("figcaption", {}, caption));
    holder.replaceChildren(
      figure(barPlot(jobs.map((m) => ({ label: m.labels.state, value: m.value })), { title: "jobs per state", width: 520 }), "Jobs per state"),
      figure(barPlot(stageSum.map((m) => ({ label: m.labels.stage, value: stageCount[m.labels.stage] ? m.value / stageCount[m.labels.stage] : 0 })),
        { title: "mean stage time (s)" }), "Mean time per stage (s), proving included"),
      figure(linePlot(depth, { title: "queue depth", xLabel: "seconds on this page", yLabel: "jobs" }), "Queue depth (jobs not done or failed)"));
  };
  await draw();
  const timer = setInterval(() => draw().catch(() => {}), 2000);
  pageAbort.signal.addEventListener("abort", () => clearInterval(timer));
}

// ---------------------------------------------------------------- routing and the key

async function route() {
  pageAbort.abort();
  pageAbort = new AbortController();
  const [path, query] = (location.hash.slice(1) || "/jobs").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  say("");
  try {
    if (parts[0] === "job" && parts[1]) await jobPage(parts[1]);
    else if (parts[0] === "score" && parts[1]) await scorePage(parts[1]);
    else if (parts[0] === "subject" && parts[1]) await subjectPage(parts[1]);
    else if (parts[0] === "models") await modelsPage(params);
    else if (parts[0] === "bridge") await bridgePage();
    else if (parts[0] === "ops") await opsPage();
    else await jobsPage(params);
    main.dataset.ready = "true";
  } catch (err) {
    if (err.name === "AbortError") return;
    if (err instanceof NeedsKey) {
      render("API key needed", h("p", { class: "notice", id: "needs-key" },
        `This page reads /v1 routes, which need an API key: ${err.message}. Enter it above (it stays in this tab).`));
      document.getElementById("api-key").focus();
    } else render("Error", h("p", { class: "bad", role: "alert" }, err.message));
    main.dataset.ready = "true";
  }
}

function takeKeyFromUrl() {
  // coproc demo --keep prints …/#key=cpk_…: keep it in this tab and drop it from the address bar
  const m = /^#key=([!-~]+)$/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", "#/jobs");
  }
}

document.getElementById("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = document.getElementById("api-key");
  if (input.value.trim()) sessionStorage.setItem(KEY, input.value.trim());
  input.value = "";
  say("API key set for this tab.");
  route();
});
document.getElementById("forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  say("API key forgotten.");
  route();
});
window.addEventListener("hashchange", () => { main.dataset.ready = "false"; route().then(() => main.focus()); });
takeKeyFromUrl();
route();
