// The search page: calls the JSON API of this server (/indexes, /indexes/NAME/search, ...) and shows the
// answers. Text from the index is only ever set as text (never as HTML).
"use strict";

const STOP = new Set(("a an and are as at be by for from has have how in is it its of on or that the to was " +
  "were what when where which who why will with does do did").split(" "));
const SNIPPET = 320; // characters of a hit's text shown around the first query word

const $ = (id) => document.getElementById(id);
const state = { index: null, query: "" };

function element(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else if (name.startsWith("data-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(path, init) {
  const response = await fetch(path, init);
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `the server answered ${response.status}`;
    throw new Error(message);
  }
  return body;
}

function base() { return `/indexes/${encodeURIComponent(state.index)}`; }

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

// -- highlighting ---------------------------------------------------------------------------------

function queryTerms(query) {
  const words = query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
  return [...new Set(words.filter((w) => w.length > 1 && !STOP.has(w)))];
}

function matches(word, terms) {
  const lower = word.toLowerCase();
  return terms.some((t) => lower === t || (t.length >= 4 && lower.startsWith(t)) ||
                           (lower.length >= 4 && t.startsWith(lower)));
}

// The text as nodes, query words in <mark>.
function highlighted(text, terms) {
  const out = document.createDocumentFragment();
  const pattern = /[\p{L}\p{N}]+/gu;
  let last = 0;
  for (const found of text.matchAll(pattern)) {
    if (!matches(found[0], terms)) continue;
    out.append(text.slice(last, found.index), element("mark", {}, found[0]));
    last = found.index + found[0].length;
  }
  out.append(text.slice(last));
  return out;
}

// About SNIPPET characters of the text, around its first query word.
function snippet(text, terms) {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length <= SNIPPET) return flat;
  let first = 0;
  for (const found of flat.matchAll(/[\p{L}\p{N}]+/gu)) {
    if (matches(found[0], terms)) { first = found.index; break; }
  }
  let start = Math.max(0, first - SNIPPET / 4);
  if (start > 0) start = flat.indexOf(" ", start) + 1;
  let end = Math.min(flat.length, start + SNIPPET);
  if (end < flat.length) end = Math.max(flat.lastIndexOf(" ", end), start + 1);
  return (start > 0 ? "… " : "") + flat.slice(start, end) + (end < flat.length ? " …" : "");
}

// Where a hit carries an explanation (servers whose search takes explain=true), the window that scored
// is shown, with the spans BM25 matched marked: offsets are characters of the hit's text. Otherwise the
// snippet above is guessed from the query's words.
function explained(hit) {
  const explanation = hit.explanation;
  if (!explanation || !Array.isArray(explanation.window)) return null;
  const text = hit.text;
  const [start, end] = explanation.window;
  const spans = (explanation.bm25_terms || []).flatMap((term) => term.spans || [])
    .filter(([from, to]) => from >= start && to <= end && from < to).sort((a, b) => a[0] - b[0]);
  const out = document.createDocumentFragment();
  if (start > 0) out.append("… ");
  let last = start;
  for (const [from, to] of spans) {
    if (from < last) continue; // overlapping spans: the first one is marked
    out.append(text.slice(last, from), element("mark", { class: "matched" }, text.slice(from, to)));
    last = to;
  }
  out.append(text.slice(last, end));
  if (end < text.length) out.append(" …");
  return out;
}

// -- results ------------------------------------------------------------------------------------

function metaLine(metadata) {
  const shown = (v) => (Array.isArray(v) ? v.join(", ") : String(v));
  const parts = Object.entries(metadata || {})
    .filter(([, v]) => v !== null && (typeof v !== "object" || Array.isArray(v)))
    .slice(0, 6).map(([k, v]) => `${k}: ${shown(v)}`);
  return parts.join(" · ");
}

function hitItem(hit, terms) {
  const open = element("button", { type: "button", class: "hit-title", "data-id": hit.id }, hit.id);
  open.addEventListener("click", () => showDocument(hit.id, open));
  const item = element("li", { class: "hit" }, open, element("span", { class: "score" }, hit.score.toFixed(4)));
  const shown = explained(hit) || highlighted(snippet(hit.text, terms), terms);
  item.append(element("p", { class: hit.explanation ? "snippet explained" : "snippet" }, shown));
  const meta = [metaLine(hit.metadata), hit.label ? `label: ${hit.label}` : ""].filter(Boolean).join(" · ");
  if (meta) item.append(element("p", { class: "meta" }, meta));
  return item;
}

function hitList(hits, terms, start) {
  const list = element("ol", { class: "hits" });
  if (start) list.start = start;
  for (const hit of hits) list.append(hitItem(hit, terms));
  return list;
}

function render(result) {
  const results = $("results");
  results.replaceChildren();
  const terms = queryTerms(result.query);
  const byId = new Map(result.hits.map((h) => [h.id, h]));
  const count = result.hits.length;
  let summary = count ? `${count} result${count === 1 ? "" : "s"}` : "No results";
  for (const note of result.notes || []) summary += ` (note: ${note})`;
  if (result.ambiguous && result.senses.length) {
    setStatus(`${summary}; the query has ${result.senses.length} senses`);
    const placed = new Set();
    result.senses.forEach((sense, number) => {
      const hits = sense.hits.map((id) => byId.get(id)).filter(Boolean);
      hits.forEach((h) => placed.add(h.id));
      const heading = element("h2", { id: `sense-${number}` }, `Sense ${number + 1}: ${sense.label}`);
      const group = element("section", { class: "sense", "data-sense": String(number) }, heading, hitList(hits, terms));
      group.setAttribute("aria-labelledby", heading.id);
      results.append(group);
    });
    const rest = result.hits.filter((h) => !placed.has(h.id));
    if (rest.length) results.append(element("section", { class: "others" }, element("h2", {}, "Other results"), hitList(rest, terms)));
  } else {
    setStatus(result.ambiguous === false ? `${summary}; one sense: ranking unchanged` : summary);
    if (count) results.append(hitList(result.hits, terms));
  }
}

// -- the document view ----------------------------------------------------------------------------

async function showDocument(id, opener) {
  let doc;
  try {
    doc = await api(`${base()}/documents/${encodeURIComponent(id)}`);
  } catch (error) {
    setStatus(error.message, true);
    return;
  }
  const terms = queryTerms(state.query);
  $("doc-title").textContent = doc.id;
  const meta = $("doc-meta");
  meta.replaceChildren();
  for (const [name, value] of Object.entries(doc.metadata || {})) {
    meta.append(element("dt", {}, name), element("dd", {}, typeof value === "object" ? JSON.stringify(value) : String(value)));
  }
  $("doc-text").replaceChildren(highlighted(doc.text, terms));
  const dialog = $("doc");
  dialog.returnFocus = opener;
  dialog.showModal();
  $("doc-close").focus();
}

// -- the form -----------------------------------------------------------------------------------

function formParams() {
  const params = new URLSearchParams();
  params.set("q", $("q").value.trim());
  params.set("mode", $("mode").value);
  params.set("k", $("k").value || "10");
  if ($("where").value.trim()) params.set("where", $("where").value.trim());
  if ($("label").value) params.set("label", $("label").value);
  if ($("disambiguate").checked) params.set("disambiguate", "true");
  if ($("explain").checked) params.set("explain", "true");
  return params;
}

async function search() {
  const params = formParams();
  if (!params.get("q")) return;
  state.query = params.get("q");
  const shown = new URLSearchParams(params);
  shown.set("index", state.index);
  history.replaceState(null, "", `?${shown}`);
  setStatus("Searching…");
  try {
    render(await api(`${base()}/search?${params}`));
  } catch (error) {
    $("results").replaceChildren();
    setStatus(error.message, true);
  }
}

async function describe() {
  try {
    const info = await api(`${base()}/info`);
    const model = info.model.name === "default" ? "all-MiniLM-L6-v2" : info.model.name.split("/").pop();
    $("about").textContent = `${info.documents} documents · ${model} · ${info.precision}`;
    const fields = info.fields.map((f) => `${f.name} (${f.kind})`).join(", ");
    $("fields").textContent = fields ? `Filter fields: ${fields}, and id` : "This index has no metadata fields to filter on.";
    const labels = $("label");
    labels.replaceChildren(element("option", { value: "" }, "any"));
    for (const label of info.labels || []) labels.append(element("option", { value: label }, label));
    $("label-choice").hidden = !(info.labels || []).length;
  } catch (error) {
    setStatus(error.message, true);
  }
}

async function start() {
  const given = new URLSearchParams(location.search);
  try {
    const health = await api("/health");
    $("explain-choice").hidden = !health.explain;
    const indexes = await api("/indexes");
    const select = $("index");
    for (const entry of indexes) select.append(element("option", { value: entry.name }, entry.name));
    $("index-choice").hidden = indexes.length < 2;
    const wanted = indexes.find((e) => e.name === given.get("index")) || indexes.find((e) => e.default) || indexes[0];
    state.index = wanted.name;
    select.value = state.index;
    select.addEventListener("change", () => { state.index = select.value; describe(); if ($("q").value.trim()) search(); });
  } catch (error) {
    setStatus(error.message, true);
    return;
  }
  describe();
  if (given.get("q")) {
    $("q").value = given.get("q");
    if (given.get("mode")) $("mode").value = given.get("mode");
    if (given.get("k")) $("k").value = given.get("k");
    if (given.get("where")) $("where").value = given.get("where");
    if (given.get("label")) $("label").value = given.get("label");
    $("disambiguate").checked = given.get("disambiguate") === "true";
    $("explain").checked = !$("explain-choice").hidden && given.get("explain") === "true";
    search();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("search").addEventListener("submit", (event) => { event.preventDefault(); search(); });
  $("doc-close").addEventListener("click", () => $("doc").close());
  $("doc").addEventListener("close", () => { const back = $("doc").returnFocus; if (back) back.focus(); });
  document.addEventListener("keydown", (event) => {
    const active = document.activeElement;
    const typing = ["SELECT", "TEXTAREA"].includes(active.tagName) ||
      (active.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(active.type));
    if (event.key === "/" && !typing && !$("doc").open) { event.preventDefault(); $("q").focus(); $("q").select(); }
  });
  start();
});
