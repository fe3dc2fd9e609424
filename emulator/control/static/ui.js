// The emulator's dashboard: polls the control surface's JSON and draws it with DOM calls only.
// Every value from the emulator becomes text (textContent, createTextNode, setAttribute): never HTML.
"use strict";

(() => {
  // ---- where the control surface is: this page is /<prefix>/_emulator/ui --------------------------------
  const BASE = location.pathname.replace(/\/ui\/?$/, "/");
  // With --control-token the page is opened as /_emulator/ui#token=<token>: the token is kept for this tab
  // (sessionStorage) and taken out of the address bar; the fragment never reaches a server or a log.
  const TOKEN_KEY = "emulator.controlToken";
  function takeTokenFromUrl() {
    const found = /^#token=(.+)$/.exec(location.hash);
    if (!found) return false;
    try {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(found[1]));
    } catch (_) {
      // a malformed escape, or no storage: the calls go without a token, and the banner says why they fail
    }
    history.replaceState(null, "", location.pathname + location.search);
    return true;
  }
  takeTokenFromUrl();
  const PERIOD_MS = 1000;
  const JOURNAL_LIMIT = 200;
  const ROWS_PER_ENVIRONMENT = 3;
  const PIPELINES_PER_PROVIDER = 40; // a store of 100,000 deployments must not freeze the page
  const BUILDS_PER_PIPELINE = 5;
  const PIPELINE_OPTIONS = 300; // the pipeline filter lists this many; the text filters find the others
  const VIEWS = ["deployments", "builds"];
  const ENV_ORDER = ["development", "testing", "staging", "production", "unmapped"];
  const STATE_LABEL = {
    successful: "Successful", failed: "Failed", in_progress: "In progress", pending: "Pending",
    cancelled: "Cancelled", rolled_back: "Rolled back", unknown: "Unknown",
  };

  const ui = {
    live: true,
    timer: null,
    last: {},                // endpoint -> raw text last drawn, to redraw only what changed
    data: {},                // endpoint -> parsed JSON
    view: "deployments",     // the family listed: deployments or builds
    expandedEnvs: new Set(), // environments showing all their deployments
    expandedPipelines: new Set(), // build pipelines showing all their builds
    openBuilds: new Set(),   // builds whose stored JSON is open
    pipelines: [],           // the pipeline filter's choices, from the last read with no pipeline chosen
    openEntries: new Set(),  // journal ids whose bodies are open
    bodies: new Map(),       // journal id -> full entry (entries never change, so this cache is exact)
    journalRows: new Map(),  // journal id -> {row, detail}
    shownJournal: [],        // ids in the order drawn
  };

  const $ = (id) => document.getElementById(id);

  // ---- building DOM safely -----------------------------------------------------------------------------
  function safeUrl(value) {
    return typeof value === "string" && /^https?:\/\//i.test(value);
  }

  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    if (props) {
      for (const [name, value] of Object.entries(props)) {
        if (value === null || value === undefined || value === false) continue;
        if (name === "class") el.className = value;
        else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
        else if (name === "href") {
          if (!safeUrl(value)) continue; // no javascript: or data: links from data
          el.setAttribute("href", value);
          el.setAttribute("target", "_blank");
          el.setAttribute("rel", "noopener noreferrer");
        } else el.setAttribute(name, value === true ? "" : String(value));
      }
    }
    add(el, kids);
    return el;
  }

  function add(el, kids) {
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  function fill(el, ...kids) {
    el.replaceChildren();
    return add(el, kids);
  }

  const text = (value) => (value === null || value === undefined ? "" : String(value));
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many || one + "s"}`;
  const badge = (label, kind, title) => h("span", { class: `badge ${kind || ""}`, title }, label);
  const mono = (value, title) => h("code", { class: "mono", title }, text(value));
  const empty = (message) => h("p", { class: "empty" }, message);

  // ---- JSON, keeping int64s exact ------------------------------------------------------------------
  // A deploymentSequenceNumber may be any int64; JavaScript numbers stop being exact at 2^53.
  // Where the browser gives the reviver the number's source text, an unsafe integer stays a string, and
  // exactInts remembers which fields of which object were such numbers, so jsonText writes them as numbers.
  const exactInts = new WeakMap(); // object or array -> the names of its fields that were unsafe integers
  function parseJson(raw) {
    return JSON.parse(raw, function (key, value, context) {
      if (typeof value === "number" && !Number.isSafeInteger(value) && context && /^-?\d+$/.test(context.source)) {
        if (!exactInts.has(this)) exactInts.set(this, new Set());
        exactInts.get(this).add(key);
        return context.source;
      }
      return value;
    });
  }

  // a value read by parseJson as indented JSON, its int64s written as the numbers they were
  function jsonText(value, indent = "") {
    if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
    const inner = `${indent}  `;
    const exact = exactInts.get(value);
    const item = (name, v) => (exact && exact.has(String(name)) ? String(v) : jsonText(v, inner));
    if (Array.isArray(value)) {
      return value.length ? `[\n${value.map((v, i) => inner + item(i, v)).join(",\n")}\n${indent}]` : "[]";
    }
    const names = Object.keys(value);
    return names.length
      ? `{\n${names.map((name) => `${inner}${JSON.stringify(name)}: ${item(name, value[name])}`).join(",\n")}\n${indent}}`
      : "{}";
  }

  function controlHeaders(method) {
    const headers = { Accept: "application/json" };
    // the control surface refuses a call that changes something unless it says JSON, body or not
    if (method !== "GET" && method !== "HEAD") headers["Content-Type"] = "application/json";
    let token = null;
    try { token = sessionStorage.getItem(TOKEN_KEY); } catch (_) { token = null; }
    if (token) headers["X-Emulator-Control-Token"] = token;
    return headers;
  }

  async function call(method, path, body) {
    const init = { method, headers: controlHeaders(method), cache: "no-store" };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(BASE + path, init);
    const raw = await response.text();
    let json = null;
    try {
      json = raw ? parseJson(raw) : null;
    } catch (_) {
      json = null;
    }
    if (!response.ok) {
      const message = json && typeof json.error === "string" ? json.error : `${response.status} ${response.statusText}`;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return { raw, json };
  }

  // ---- times -------------------------------------------------------------------------------------------
  function relative(iso) {
    const when = Date.parse(iso);
    if (Number.isNaN(when)) return text(iso);
    const seconds = (when - Date.now()) / 1000;
    const abs = Math.abs(seconds);
    let span;
    if (abs < 1) return seconds > 0 ? "now" : "just now";
    if (abs < 60) span = `${abs < 10 ? abs.toFixed(1) : Math.round(abs)} s`;
    else if (abs < 3600) span = `${Math.round(abs / 60)} min`;
    else if (abs < 86400) span = `${Math.round(abs / 3600)} h`;
    else if (abs < 86400 * 60) span = `${Math.round(abs / 86400)} d`;
    else return new Date(when).toISOString().slice(0, 10);
    return seconds > 0 ? `in ${span}` : `${span} ago`;
  }

  function timeEl(iso, prefix) {
    return h("time", { datetime: text(iso), title: text(iso), "data-rel": "1", "data-prefix": prefix || "" },
      (prefix || "") + relative(iso));
  }

  function refreshTimes() {
    for (const el of document.querySelectorAll("time[data-rel]")) {
      el.textContent = el.dataset.prefix + relative(el.getAttribute("datetime"));
    }
  }

  function clock(iso) {
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return text(iso);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}.${pad(when.getMilliseconds(), 3)}`;
  }

  // ---- small vocabularies ---------------------------------------------------------------------------------
  function providerLabel(provider) {
    const [kind, ...rest] = text(provider).split(":");
    const id = rest.join(":");
    if (kind === "connect") return ["Connect app ", mono(id)];
    if (kind === "oauth") return ["OAuth client ", mono(id)];
    return [mono(provider || "—")];
  }

  const stateBadge = (state) =>
    badge(STATE_LABEL[state] || text(state || "unknown"), `state state-${/^[a-z_]+$/.test(state) ? state : "unknown"}`);
  const envTypeBadge = (type) =>
    badge(text(type || "unmapped"), `envtype envtype-${ENV_ORDER.includes(type) ? type : "unmapped"}`);
  const gateClass = (status) => (["allowed", "prevented", "awaiting", "invalid"].includes(status) ? status : "unknown");
  const gateBadge = (status) => badge(text(status), `gate gate-${gateClass(status)}`);

  function keyText(key) {
    if (key && "buildNumber" in key) return `${text(key.pipelineId)} #${text(key.buildNumber)}`;
    return `${text(key.pipelineId)} / ${text(key.environmentId)} #${text(key.deploymentSequenceNumber)}`;
  }

  function associationChips(data) {
    const chips = [];
    const push = (kind, value, title) => chips.push(h("span", { class: `assoc assoc-${kind}`, title: title || kind }, value));
    for (const group of Array.isArray(data.associations) ? data.associations : []) {
      const type = text(group && group.associationType);
      for (const value of Array.isArray(group && group.values) ? group.values : []) {
        if (typeof value === "string" || typeof value === "number") {
          push(type === "serviceIdOrKeys" ? "service" : /^issue(IdOr)?Keys$/.test(type) ? "issue" : "other", text(value));
        } else if (value && typeof value === "object" && "commitHash" in value) {
          push("commit", text(value.commitHash).slice(0, 7), `commit ${text(value.commitHash)} in ${text(value.repositoryId)}`);
        } else if (value && typeof value === "object" && "branchName" in value) {
          push("other", `${text(value.branchName)} @ ${text(value.repositoryId)}`);
        } else {
          push("other", JSON.stringify(value));
        }
      }
    }
    for (const key of Array.isArray(data.issueKeys) ? data.issueKeys : []) push("issue deprecated", text(key));
    if (!chips.length) return h("span", { class: "muted" }, "none");
    const shown = chips.slice(0, 6);
    if (chips.length > shown.length) shown.push(h("span", { class: "muted" }, ` +${chips.length - shown.length}`));
    return h("span", { class: "assocs" }, shown);
  }

  function filters() {
    return { site: $("f-site").value, provider: $("f-provider").value, pipeline: $("f-pipeline").value };
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
    const s = q.toString();
    return s ? `?${s}` : "";
  }

  // the pipeline filter applies to what has a key: a delete by properties may touch any pipeline
  const wanted = (item) => {
    const f = filters();
    return (!f.site || item.site === f.site) && (!f.provider || item.provider === f.provider)
      && (!f.pipeline || !item.key || item.key.pipelineId === f.pipeline);
  };

  // ---- header: version, sites, filters -------------------------------------------------------------------
  function drawHeader(ready, sites) {
    $("version").textContent = ready && ready.version ? `v${ready.version}` : "";
    const list = (ready && ready.sites) || [];
    const current = $("f-site").value;
    fill($("sites"), list.map((site) =>
      h("button", {
        type: "button",
        class: `site${site.name === current ? " site-on" : ""}`,
        title: `cloudId ${text(site.cloudId)} · click to show only this site`,
        onclick: () => { $("f-site").value = site.name === current ? "" : site.name; onFilter(); },
      }, h("span", { class: "site-name" }, text(site.name)), h("span", { class: "site-url" }, text(site.baseUrl)))));
    syncSelect($("f-site"), "all sites", list.map((s) => [s.name, s.name]));
    const providers = new Set();
    for (const site of (sites && sites.sites) || []) {
      for (const app of site.connectApps || []) providers.add(`connect:${app.key}`);
      for (const client of site.oauthClients || []) providers.add(`oauth:${client.clientId}`);
    }
    const stored = VIEWS.flatMap((family) => (ui.data.state && ui.data.state[family]) || []);
    for (const item of stored) providers.add(item.provider);
    syncSelect($("f-provider"), "all providers", [...providers].sort().map((p) => [p, p]));
    // with a pipeline chosen the state holds only that one: the choices stay those of the last wider read
    if (!$("f-pipeline").value) ui.pipelines = [...new Set(stored.map((item) => text(item.key.pipelineId)))].sort(cmp);
    syncSelect($("f-pipeline"), "all pipelines", ui.pipelines.slice(0, PIPELINE_OPTIONS).map((p) => [p, p]));
  }

  function syncSelect(select, allLabel, options) {
    const want = JSON.stringify(options);
    if (select.dataset.options === want) return;
    const value = select.value;
    fill(select, h("option", { value: "" }, allLabel), options.map(([v, label]) => h("option", { value: v }, label)));
    select.value = options.some(([v]) => v === value) ? value : "";
    select.dataset.options = want;
  }

  // ---- deployments ----------------------------------------------------------------------------------
  function drawDeployments(state, queue) {
    const body = $("deployments-body");
    const all = (state && state.deployments) || [];
    const needle = $("f-text").value.trim().toLowerCase();
    const deletes = pendingDeletes(queue, "deployments");
    const matches = (d) => {
      if (!needle) return true;
      const data = d.data || {};
      const hay = [d.key.pipelineId, d.key.environmentId, data.displayName, data.pipeline && data.pipeline.displayName,
        data.environment && data.environment.displayName, data.state, d.environmentType,
        JSON.stringify(data.associations || []), JSON.stringify(data.issueKeys || [])].map(text).join("\n").toLowerCase();
      return hay.includes(needle);
    };
    const items = all.filter(matches);
    if (!all.length) {
      fill(body, empty("No deployments yet. Submit some through the Jira API: they appear here as soon as they are accepted (pending), and again when they apply."));
      return;
    }
    if (!items.length) {
      fill(body, empty("No deployment matches the filter."));
      return;
    }
    fill(body, siteGroups(groupByPipeline(items), (site, provider, pipelines) => {
      const sorted = [...pipelines.entries()].map(([id, list]) => [id, deploymentPipeline(list)])
        .sort(([a, pa], [b, pb]) => cmp(pipeName(pa, a), pipeName(pb, b)));
      return capped(sorted, ([id, p]) => pipelineCard(site, provider, id, p, deletes));
    }));
  }

  // ---- what the deployments and builds views share ------------------------------------------------------
  // site -> provider -> pipeline id -> [entities], each list in the order given
  function groupByPipeline(items) {
    const tree = new Map();
    const at = (map, k, make) => { if (!map.has(k)) map.set(k, make()); return map.get(k); };
    for (const item of items) at(at(at(tree, item.site, () => new Map()), item.provider, () => new Map()), item.key.pipelineId, () => []).push(item);
    return tree;
  }

  // one group per site (in the order of the sites' list), one per provider in it; cards(site, provider,
  // pipelines) draws a provider's pipelines
  function siteGroups(tree, cards) {
    const sites = (ui.data.ready && ui.data.ready.sites) || [];
    const siteOrder = sites.map((s) => s.name);
    return [...tree.keys()].sort((a, b) => rank(siteOrder, a) - rank(siteOrder, b) || cmp(a, b)).map((siteName) => {
      const site = tree.get(siteName);
      const siteInfo = sites.find((s) => s.name === siteName);
      const groups = [...site.keys()].sort(cmp).map((providerName) => h("div", { class: "provider" },
        h("h4", { class: "provider-head" }, providerLabel(providerName),
          h("span", { class: "muted" }, ` · ${plural(site.get(providerName).size, "pipeline")}`)),
        cards(siteName, providerName, site.get(providerName))));
      return h("div", { class: "site-group" },
        h("h3", { class: "site-head" }, h("span", { class: "site-dot" }), "Site ", mono(siteName),
          siteInfo ? h("span", { class: "muted" }, ` ${text(siteInfo.baseUrl)} · cloudId ${text(siteInfo.cloudId)}`) : null),
        groups);
    });
  }

  // the first PIPELINES_PER_PROVIDER of [id, pipeline] pairs drawn by card, and how many more there are
  function capped(sorted, card) {
    const cards = sorted.slice(0, PIPELINES_PER_PROVIDER).map(card);
    if (sorted.length > PIPELINES_PER_PROVIDER) {
      cards.push(empty(`${sorted.length - PIPELINES_PER_PROVIDER} more pipelines: narrow them with the filter above.`));
    }
    return cards;
  }

  // the deletes of one family waiting in the apply queue
  const pendingDeletes = (queue, family) => ((queue && queue.pending) || [])
    .filter((p) => p.operation !== "upsert" && (p.family || "deployments") === family);

  // the pending delete that will remove an applied entity, if any
  function deleteOf(item, deletes) {
    if (item.status === "pending") return null;
    return deletes.find((op) => op.site === item.site && op.provider === item.provider && (
      op.operation === "deleteByKey"
        ? sameKey(op.key, item.key)
        : Object.entries(op.properties || {}).every(([k, v]) => item.properties && item.properties[k] === v))) || null;
  }

  // applied or pending (with its due time), a delete waiting for it, its updateSequenceNumber
  function storeCell(item, deleting) {
    const pending = item.status === "pending";
    const paused = Boolean(ui.data.queue && ui.data.queue.paused);
    const store = pending
      ? [badge("pending", "store store-pending", "accepted, waiting in the apply queue")]
      : [badge("applied", "store store-applied", `applied ${text(item.appliedAt)}`)];
    if (deleting) store.push(h("div", {}, badge("delete pending", "store store-deleting", `${deleting.operation} #${deleting.seq} waits in the queue`)));
    const when = pending ? [" · ", paused ? "held (paused)" : item.due ? timeEl(item.due, "due ") : null] : null;
    return h("td", { class: "c-store" }, store, h("div", { class: "muted small" }, `usn ${text(item.updateSequenceNumber)}`, when));
  }

  // a link to url (http or https only), or the bare text
  const linkOr = (url, label) => (safeUrl(url) ? h("a", { href: url }, label) : label);

  const rank = (order, value) => { const i = order.indexOf(value); return i < 0 ? order.length : i; };
  const cmp = (a, b) => text(a).localeCompare(text(b));
  const pipeName = (p, id) => (p.info && p.info.displayName) || id;
  const seqValue = (d) => { const n = Number(d.key.deploymentSequenceNumber); return Number.isFinite(n) ? n : 0; };

  // a deployments pipeline: its environments, and its name and link as its newest applied write gives them
  function deploymentPipeline(list) {
    const envs = new Map();
    let info = null;
    for (const d of list) {
      if (!info || d.status === "applied") info = (d.data && d.data.pipeline) || null;
      if (!envs.has(d.key.environmentId)) envs.set(d.key.environmentId, []);
      envs.get(d.key.environmentId).push(d);
    }
    return { envs, info };
  }

  function envOf(list) {
    const applied = list.find((d) => d.status === "applied") || list[0];
    const env = (applied.data && applied.data.environment) || {};
    return { name: env.displayName || applied.key.environmentId, type: applied.environmentType || env.type || "unmapped" };
  }

  function pipelineCard(site, provider, id, pipeline, deletes) {
    const envs = [...pipeline.envs.entries()].sort(([a, la], [b, lb]) => {
      const ea = envOf(la), eb = envOf(lb);
      return rank(ENV_ORDER, ea.type) - rank(ENV_ORDER, eb.type) || cmp(ea.name, eb.name) || cmp(a, b);
    });
    const info = pipeline.info || {};
    const count = envs.reduce((n, [, list]) => n + list.length, 0);
    const rows = [];
    for (const [envId, list] of envs) {
      list.sort((a, b) => seqValue(b) - seqValue(a) || cmp(b.key.deploymentSequenceNumber, a.key.deploymentSequenceNumber)
        || (a.status === "applied" ? -1 : 1));
      const envKey = JSON.stringify([site, provider, id, envId]);
      const open = ui.expandedEnvs.has(envKey);
      const shown = open ? list : list.slice(0, ROWS_PER_ENVIRONMENT);
      const env = envOf(list);
      const tbody = h("tbody", { class: "env" });
      shown.forEach((d, i) => {
        const row = deploymentRow(d, deletes);
        if (i === 0) {
          row.prepend(h("th", { class: "env-cell", rowspan: String(shown.length + (list.length > ROWS_PER_ENVIRONMENT ? 1 : 0)), scope: "rowgroup" },
            h("div", { class: "env-name" }, text(env.name)),
            h("div", { class: "env-meta" }, envTypeBadge(env.type), " ", mono(envId, "environment id"))));
        }
        tbody.append(row);
      });
      if (list.length > ROWS_PER_ENVIRONMENT) {
        tbody.append(h("tr", { class: "more" }, h("td", { colspan: "6" },
          h("button", {
            type: "button", class: "link",
            onclick: () => { if (open) ui.expandedEnvs.delete(envKey); else ui.expandedEnvs.add(envKey); redraw("deployments"); },
          }, open ? "show fewer" : `show ${list.length - ROWS_PER_ENVIRONMENT} older`))));
      }
      rows.push(tbody);
    }
    return h("article", { class: "pipeline" },
      h("header", { class: "pipeline-head" },
        h("span", { class: "pipeline-icon", "aria-hidden": "true" }),
        h("span", { class: "pipeline-name" }, info.url ? h("a", { href: info.url }, text(info.displayName || id)) : text(info.displayName || id)),
        h("span", { class: "muted" }, " id "), mono(id, "pipeline id"),
        h("span", { class: "pipeline-count muted" }, `${plural(envs.length, "environment")} · ${plural(count, "deployment")}`)),
      h("table", { class: "deployments" },
        h("thead", {}, h("tr", {},
          ["Environment", "#", "Deployment", "State", "Associations", "Last updated", "Store"].map((t) => h("th", {}, t)))),
        rows));
  }

  function deploymentRow(d, deletes) {
    const data = d.data || {};
    const pending = d.status === "pending";
    const gatingWanted = Array.isArray(data.commands) && data.commands.some((c) => c && c.command === "initiate_deployment_gating");
    let gate = null;
    if (d.gating) gate = badge(`gate ${text(d.gating.gatingStatus)}`, `gate gate-${gateClass(d.gating.gatingStatus)}`, "gating status");
    else if (gatingWanted) gate = badge("gate requested", "gate gate-requested", "gating starts when the write applies");
    return h("tr", { class: pending ? "row-pending" : "" },
      h("td", { class: "c-num" }, mono(d.key.deploymentSequenceNumber)),
      h("td", { class: "c-deployment" },
        data.url ? h("a", { href: data.url }, text(data.displayName || "(no name)")) : text(data.displayName || "(no name)"),
        data.description ? h("div", { class: "muted small clip", title: text(data.description) }, text(data.description)) : null),
      h("td", { class: "c-state" }, stateBadge(data.state), gate ? h("div", { class: "gate-line" }, gate) : null),
      h("td", { class: "c-assoc" }, associationChips(data)),
      h("td", { class: "nowrap" }, data.lastUpdated ? timeEl(data.lastUpdated) : h("span", { class: "muted" }, "—")),
      storeCell(d, deleteOf(d, deletes)));
  }

  // the same key of either family (numbers compared as text: an int64 may be a string)
  const sameKey = (a, b) => Boolean(a && b) && Object.keys(a).length === Object.keys(b).length
    && Object.keys(a).every((k) => String(a[k]) === String(b[k]));

  // ---- builds ------------------------------------------------------------------------------------------
  function drawBuilds(state, queue) {
    const body = $("builds-body");
    const all = (state && state.builds) || [];
    const needle = $("f-build-text").value.trim().toLowerCase();
    const items = needle ? all.filter((b) => buildText(b).includes(needle)) : all;
    if (!all.length) {
      fill(body, empty("No builds yet. Submit some through the Builds API (POST /rest/builds/0.1/bulk): they appear here as soon as they are accepted (pending), and again when they apply."));
      return;
    }
    if (!items.length) {
      fill(body, empty("No build matches the filter."));
      return;
    }
    const deletes = pendingDeletes(queue, "builds");
    fill(body, siteGroups(groupByPipeline(items), (site, provider, pipelines) =>
      capped([...pipelines.entries()].sort(([a], [b]) => cmp(a, b)), ([id, list]) => buildCard(site, provider, id, list, deletes))));
  }

  function buildText(b) {
    const data = b.data || {};
    return [b.key.pipelineId, b.key.buildNumber, data.displayName, data.label, data.description, data.state,
      JSON.stringify(data.references || []), JSON.stringify(data.associations || []), JSON.stringify(data.issueKeys || [])]
      .map(text).join("\n").toLowerCase();
  }

  const bigInt = (value) => { try { return BigInt(value); } catch (_) { return 0n; } };
  // newest first: the higher build number (an int64, compared exactly), then the applied build before a
  // pending write of the same number
  function newerBuild(a, b) {
    const x = bigInt(a.key.buildNumber), y = bigInt(b.key.buildNumber);
    if (x !== y) return y > x ? 1 : -1;
    return (a.status === "applied" ? 0 : 1) - (b.status === "applied" ? 0 : 1);
  }

  function buildCard(site, provider, id, list, deletes) {
    list.sort(newerBuild);
    const cardKey = JSON.stringify([site, provider, id]);
    const open = ui.expandedPipelines.has(cardKey);
    const shown = open ? list : list.slice(0, BUILDS_PER_PIPELINE);
    const latest = list.find((b) => b.status === "applied") || list[0];
    const rows = shown.flatMap((b) => buildRows(b, deletes));
    if (list.length > BUILDS_PER_PIPELINE) {
      rows.push(h("tr", { class: "more" }, h("td", { colspan: "8" },
        h("button", {
          type: "button", class: "link",
          onclick: () => { if (open) ui.expandedPipelines.delete(cardKey); else ui.expandedPipelines.add(cardKey); redraw("builds"); },
        }, open ? "show fewer" : `show ${list.length - BUILDS_PER_PIPELINE} older`))));
    }
    return h("article", { class: "pipeline build-pipeline" },
      h("header", { class: "pipeline-head" },
        h("span", { class: "pipeline-icon pipeline-icon-build", "aria-hidden": "true" }),
        h("span", { class: "pipeline-name", title: "pipeline id" }, text(id)),
        h("span", { class: "muted small" }, " latest "), stateBadge(latest.data && latest.data.state),
        h("span", { class: "pipeline-count muted" }, plural(list.length, "build"))),
      h("table", { class: "builds" },
        h("thead", {}, h("tr", {},
          ["#", "Build", "State", "Tests", "References", "Issues", "Last updated", "Store"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)));
  }

  // a build's row and, when it is open, the row of its stored JSON
  function buildRows(b, deletes) {
    const data = b.data || {};
    const id = JSON.stringify([b.site, b.provider, b.key.pipelineId, text(b.key.buildNumber), b.status]);
    const open = ui.openBuilds.has(id);
    const toggle = () => {
      if (open) ui.openBuilds.delete(id); else ui.openBuilds.add(id);
      redraw("builds");
      const again = [...document.querySelectorAll("#builds-body tr.build")].find((row) => row.dataset.id === id);
      if (again) again.focus();
    };
    const row = h("tr", {
      class: `build${b.status === "pending" ? " row-pending" : ""}`, tabindex: "0", "data-id": id, "aria-expanded": String(open),
      onclick: (event) => { if (!(event.target instanceof HTMLAnchorElement)) toggle(); },
      onkeydown: (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggle(); } },
    },
    h("td", { class: "c-num" }, h("span", { class: "caret", "aria-hidden": "true" }), mono(b.key.buildNumber)),
    h("td", { class: "c-deployment" }, linkOr(data.url, text(data.displayName || "(no name)")),
      data.label ? h("div", { class: "small build-label" }, text(data.label)) : null,
      data.description ? h("div", { class: "muted small clip", title: text(data.description) }, text(data.description)) : null),
    h("td", { class: "c-state" }, stateBadge(data.state)),
    h("td", { class: "c-tests" }, testSummary(data.testInfo)),
    h("td", { class: "c-refs" }, referenceChips(data.references)),
    h("td", { class: "c-assoc" }, associationChips(data)),
    h("td", { class: "nowrap" }, data.lastUpdated ? timeEl(data.lastUpdated) : h("span", { class: "muted" }, "—")),
    storeCell(b, deleteOf(b, deletes)));
    if (!open) return [row];
    return [row, h("tr", { class: "build-detail" }, h("td", { colspan: "8" }, buildDetail(b)))];
  }

  // passed, failed and skipped of the total, as a bar and as numbers
  function testSummary(info) {
    if (!info || typeof info !== "object") return h("span", { class: "muted" }, "—");
    const skipped = info.numberSkipped === undefined || info.numberSkipped === null ? 0 : info.numberSkipped;
    const parts = [["passed", info.numberPassed], ["failed", info.numberFailed], ["skipped", skipped]];
    const amount = (v) => { const n = Number(v); return Number.isFinite(n) && n > 0 ? n : 0; };
    const bar = h("span", { class: "tests-bar", "aria-hidden": "true" });
    for (const [kind, value] of parts) {
      if (!amount(value)) continue;
      const part = h("span", { class: `tests-${kind}` });
      part.style.flexGrow = String(amount(value)); // CSSOM, which the Content-Security-Policy allows
      bar.append(part);
    }
    return [bar, h("div", { class: "tests-text small" },
      parts.map(([kind, value], i) => [i ? " · " : "", h("span", { class: `tests-n${kind === "failed" && amount(value) ? " tests-n-failed" : ""}` },
        `${text(value)} ${kind}`)]),
      h("span", { class: "muted" }, ` of ${text(info.totalNumber)}`))];
  }

  // a reference's commit (its first 7 characters, the rest on hover) and ref (a link where it is http)
  function referenceChips(references) {
    const chips = [];
    for (const reference of Array.isArray(references) ? references : []) {
      const commit = reference && reference.commit, ref = reference && reference.ref;
      if (commit && typeof commit === "object") {
        chips.push(h("span", { class: "assoc assoc-commit", title: `commit ${text(commit.id)} in ${text(commit.repositoryUri)}` },
          text(commit.id).slice(0, 7)));
      }
      if (ref && typeof ref === "object") {
        chips.push(h("span", { class: "assoc assoc-ref", title: `ref ${text(ref.name)} · ${text(ref.uri)}` }, linkOr(ref.uri, text(ref.name))));
      }
    }
    return chips.length ? h("span", { class: "assocs" }, chips) : h("span", { class: "muted" }, "none");
  }

  function buildDetail(b) {
    const pending = b.status === "pending";
    return h("div", { class: "detail" },
      h("div", { class: "detail-line small" }, h("strong", {}, "Key "), mono(keyText(b.key)), " · ", providerLabel(b.provider),
        ` · site ${text(b.site)} · usn ${text(b.updateSequenceNumber)} · `,
        pending ? ["pending, due ", text(b.due)] : ["applied at ", text(b.appliedAt)]),
      h("div", { class: "bodies" },
        h("figure", { class: "body stored-json" }, h("figcaption", {}, pending ? "Accepted build (not applied yet)" : "Stored build"),
          h("pre", {}, jsonText(b.data))),
        h("figure", { class: "body stored-properties" }, h("figcaption", {}, "Properties (never returned by Jira's GET)"),
          h("pre", {}, jsonText(b.properties || {})))));
  }

  // ---- gating ----------------------------------------------------------------------------------------
  function drawGating(state) {
    const body = $("gating-body");
    const all = (state && state.deployments) || [];
    const gated = all.filter((d) => d.gating || (d.status === "pending" && Array.isArray(d.data && d.data.commands)
      && d.data.commands.some((c) => c && c.command === "initiate_deployment_gating")));
    const awaiting = gated.filter((d) => d.gating && d.gating.gatingStatus === "awaiting").length;
    const counter = $("n-gating");
    counter.textContent = awaiting ? `${awaiting} awaiting` : String(gated.length);
    counter.classList.toggle("count-alert", awaiting > 0);
    if (!gated.length) {
      fill(body, empty("No deployment asked for gating (commands: initiate_deployment_gating)."));
      return;
    }
    const order = { awaiting: 0, pending: 1, prevented: 2, invalid: 3, allowed: 4 };
    gated.sort((a, b) => (order[a.gating ? a.gating.gatingStatus : "pending"] ?? 5) - (order[b.gating ? b.gating.gatingStatus : "pending"] ?? 5)
      || cmp(b.gating && b.gating.updatedTimestamp, a.gating && a.gating.updatedTimestamp));
    fill(body, h("ul", { class: "gates" }, gated.map(gateItem)));
  }

  function gateItem(d) {
    const data = d.data || {};
    const env = data.environment || {};
    const status = d.gating ? d.gating.gatingStatus : null;
    const decide = (value, label, kind) => h("button", {
      type: "button",
      class: `btn btn-small ${kind}`,
      disabled: !d.gating || status === value,
      "data-decision": value,
      onclick: (event) => decideGating(d, value, event.currentTarget),
    }, label);
    const details = d.gating ? (d.gating.details || []).map((item) => item && item.issueLink
      ? h("a", { href: item.issueLink, class: "assoc assoc-issue" }, text(item.issueKey || item.issueLink))
      : h("span", { class: "assoc assoc-other" }, text(item && (item.issueKey || JSON.stringify(item))))) : [];
    return h("li", { class: `gate-card gate-item-${status || "pending"}` },
      h("div", { class: "gate-top" },
        status ? gateBadge(status) : badge("not applied yet", "gate gate-requested"),
        h("span", { class: "gate-key" },
          h("span", { class: "gate-pipe" }, text(d.key.pipelineId)), h("span", { class: "muted" }, " / "),
          h("span", { class: "gate-env" }, text(d.key.environmentId)), h("span", { class: "muted" }, " #"),
          text(d.key.deploymentSequenceNumber))),
      h("div", { class: "gate-meta muted small" },
        envTypeBadge(d.environmentType || env.type), " ", text(d.site), " · ", providerLabel(d.provider),
        d.gating ? [" · ", timeEl(d.gating.updatedTimestamp, status === "awaiting" ? "asked " : "decided "), ` · ${plural(d.gating.polls || 0, "poll")}`] : null),
      details.length ? h("div", { class: "gate-details" }, "change request ", details) : null,
      d.gating
        ? h("div", { class: "gate-actions" },
          decide("allowed", "Allow", "btn-ok"), decide("prevented", "Prevent", "btn-danger"), decide("invalid", "Invalidate", ""),
          status !== "awaiting" ? decide("awaiting", "Back to awaiting", "btn-subtle") : null)
        : h("div", { class: "muted small" }, "The write waits in the apply queue: flush it to gate."));
  }

  async function decideGating(d, status, button) {
    if (button) button.disabled = true;
    try {
      const { json } = await call("POST", "gating", {
        site: d.site, provider: d.provider, pipelineId: d.key.pipelineId, environmentId: d.key.environmentId,
        deploymentSequenceNumber: d.key.deploymentSequenceNumber, status,
      });
      toast(`${keyText(d.key)}: ${json.gatingStatus}`);
    } catch (error) {
      toast(`Gating decision refused: ${error.message}`, true);
    }
    await refresh();
  }

  // ---- queue and faults ---------------------------------------------------------------------------
  function drawQueue(queue) {
    const body = $("queue-body");
    if (!queue) return;
    const pending = (queue.pending || []).filter(wanted);
    $("n-queue").textContent = String((queue.pending || []).length);
    const mode = [queue.paused ? "paused" : "applying", `delay ${queue.applyDelay} s`];
    if (queue.jitter) mode.push(`jitter ${queue.jitter} s`);
    if (queue.outOfOrder) mode.push("out of order");
    for (const [site, delay] of Object.entries(queue.siteApplyDelays || {})) mode.push(`${site}: ${delay} s`);
    fill($("queue-mode"), queue.paused ? badge("paused", "gate gate-awaiting") : badge("applying", "gate gate-allowed"), " ", mode.slice(1).join(" · "));
    const pause = $("queue-pause");
    pause.textContent = queue.paused ? "Resume" : "Pause";
    pause.dataset.paused = queue.paused ? "1" : "0";
    $("queue-flush").textContent = pending.length ? `Flush now (${(queue.pending || []).length})` : "Flush now";
    if (!pending.length) {
      fill(body, empty(queue.paused ? "Nothing pending. The queue is paused: new writes wait until a flush or resume." : "Nothing pending: every accepted write has applied."));
      return;
    }
    fill(body, h("ul", { class: "ops" }, pending.map((p) => h("li", { class: "op" },
      h("div", { class: "op-main" },
        mono(`#${text(p.seq)}`, "queue sequence"), " ",
        badge(text(p.operation), `op op-${p.operation === "upsert" ? "upsert" : "delete"}`), " ",
        p.family ? [familyBadge(p.family), " "] : null,
        h("span", { class: "op-what" }, p.key ? keyText(p.key) : ["properties ", mono(JSON.stringify(p.properties || {}))]),
        p.updateSequenceNumber !== undefined ? h("span", { class: "muted" }, ` · usn ${text(p.updateSequenceNumber)}`) : null,
        p.maxUpdateSequenceNumber !== undefined && p.maxUpdateSequenceNumber !== null
          ? h("span", { class: "muted" }, ` · up to usn ${text(p.maxUpdateSequenceNumber)}`) : null),
      h("div", { class: "op-meta muted small" }, text(p.site), " · ", providerLabel(p.provider), " · ",
        queue.paused ? "held (paused)" : timeEl(p.due, "due "))))));
  }

  function drawFaults(faults) {
    const body = $("faults-body");
    const rules = (faults && faults.rules) || [];
    $("n-faults").textContent = String(rules.length);
    $("n-faults").classList.toggle("count-alert", rules.length > 0);
    $("faults-clear").disabled = !rules.length;
    if (!rules.length) {
      fill(body, empty("No fault rules: every call is answered normally."));
      return;
    }
    fill(body, h("ul", { class: "rules" }, rules.map((r) => {
      const match = ["operation", "method", "site", "provider"].filter((k) => r[k]).map((k) => `${k} ${text(r[k])}`);
      const effect = [];
      if (r.status) effect.push(`status ${r.status}`);
      if (r.latencyMs) effect.push(`+${r.latencyMs} ms`);
      if (r.dropConnection) effect.push("drop connection");
      if (r.retryAfter) effect.push(`Retry-After ${r.retryAfter}`);
      const odds = [];
      if (r.probability !== 1 && r.probability !== undefined) odds.push(`p ${r.probability}`);
      if (r.times !== null && r.times !== undefined) odds.push(`${r.times} left`);
      odds.push(plural(r.hits || 0, "hit"));
      return h("li", { class: "rule" },
        h("div", { class: "rule-main" }, mono(r.id), " ", h("strong", {}, effect.join(" · ") || "no effect"),
          h("span", { class: "muted" }, " on "), match.length ? match.join(", ") : "every call"),
        h("div", { class: "muted small" }, odds.join(" · ")),
        h("button", {
          type: "button", class: "btn btn-small btn-subtle rule-remove", title: "remove this rule",
          onclick: () => act("DELETE", `faults/${encodeURIComponent(r.id)}`, `Removed fault rule ${r.id}`),
        }, "Remove"));
    })));
  }

  // ---- journal -------------------------------------------------------------------------------------
  function journalRow(e) {
    const refused = e.status >= 400;
    const findings = e.findings || [];
    const classes = ["entry", refused ? "entry-refused" : "", findings.length ? "entry-findings" : "",
      findings.some((f) => f.class === "mistake") ? "entry-mistake" : ""].filter(Boolean).join(" ");
    const path = text(e.path) + (e.query ? `?${text(e.query)}` : "");
    const row = h("tr", { class: classes, "data-id": String(e.id), tabindex: "0", "aria-expanded": "false" },
      h("td", { class: "c-id" }, h("span", { class: "caret", "aria-hidden": "true" }), mono(e.id)),
      h("td", { class: "c-time nowrap", title: text(e.time) }, clock(e.time)),
      h("td", { class: "c-call" }, h("span", { class: `method method-${/^[A-Z]+$/.test(e.method) ? e.method : "X"}` }, text(e.method)), " ",
        h("span", { class: "path", title: path }, path),
        h("div", { class: "muted small" }, e.family ? [familyBadge(e.family), " "] : null, e.operation ? text(e.operation) : "no operation")),
      h("td", { class: "c-who small" }, e.provider ? mono(e.provider) : h("span", { class: "muted" }, "unauthenticated"),
        e.site ? h("div", { class: "muted" }, `site ${text(e.site)}`) : null),
      h("td", { class: "c-status" }, badge(String(e.status), `status status-${Math.floor(e.status / 100)}xx`)),
      h("td", { class: "c-num muted" }, typeof e.latencyMs === "number" ? e.latencyMs.toFixed(1) : ""),
      h("td", { class: "c-why" },
        e.reason ? h("div", { class: "reason" }, text(e.reason)) : null,
        findings.length ? h("div", { class: "findings" }, findings.map((f) =>
          badge(text(f.rule), `finding finding-${f.class === "mistake" ? "mistake" : "risk"}`, `${text(f.class)}: ${text(f.detail)}`))) : null,
        !e.reason && !findings.length && e.touched && e.touched.length
          ? h("span", { class: "muted small" }, e.touched.slice(0, 3).map(keyText).join(", ") + (e.touched.length > 3 ? ` +${e.touched.length - 3}` : ""))
          : null));
    const detail = h("tr", { class: "entry-detail", hidden: true }, h("td", { colspan: "7" }));
    const toggle = () => toggleEntry(e.id);
    row.addEventListener("click", (event) => { if (!(event.target instanceof HTMLAnchorElement)) toggle(); });
    row.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggle(); } });
    return { row, detail };
  }

  async function toggleEntry(id) {
    const pair = ui.journalRows.get(id);
    if (!pair) return;
    if (ui.openEntries.has(id)) {
      ui.openEntries.delete(id);
      pair.detail.hidden = true;
      pair.row.setAttribute("aria-expanded", "false");
      return;
    }
    ui.openEntries.add(id);
    pair.row.setAttribute("aria-expanded", "true");
    pair.detail.hidden = false;
    await showEntry(id, pair);
  }

  async function showEntry(id, pair) {
    const cell = pair.detail.firstChild;
    if (!ui.bodies.has(id)) {
      fill(cell, h("p", { class: "muted" }, "loading…"));
      try {
        ui.bodies.set(id, (await call("GET", `journal/${encodeURIComponent(id)}`)).json);
      } catch (error) {
        fill(cell, h("p", { class: "reason" }, `Could not load entry ${id}: ${error.message}`));
        return;
      }
    }
    const e = ui.bodies.get(id);
    const findings = e.findings || [];
    fill(cell, h("div", { class: "detail" },
      h("div", { class: "detail-line" }, h("strong", {}, `${text(e.method)} `), mono(text(e.path) + (e.query ? `?${text(e.query)}` : "")),
        " → ", badge(String(e.status), `status status-${Math.floor(e.status / 100)}xx`), ` at ${text(e.time)}`),
      e.reason ? h("div", { class: "detail-reason" }, h("strong", {}, "Refused: "), text(e.reason)) : null,
      findings.length ? h("ul", { class: "detail-findings" }, findings.map((f) => h("li", {},
        badge(text(f.class), `finding finding-${f.class === "mistake" ? "mistake" : "risk"}`), " ", h("strong", {}, text(f.rule)), " ",
        text(f.detail), f.fix ? h("div", { class: "muted small" }, `Fix: ${text(f.fix)}`) : null))) : null,
      e.touched && e.touched.length ? h("div", { class: "small" }, h("strong", {}, "Touched: "), e.touched.map(keyText).join(", ")) : null,
      headersBlock(e.requestHeaders),
      h("div", { class: "bodies" },
        bodyBlock("Request body", e.requestBody, "request-body"),
        bodyBlock("Response body", e.responseBody, "response-body"))));
  }

  const familyBadge = (family) =>
    badge(text(family), `family family-${family === "builds" ? "builds" : "deployments"}`, "the API family of the call's operation");

  // the request's headers as the journal shows them: a credential as its scheme and a JWT's decoded parts
  function headersBlock(headers) {
    const rows = (Array.isArray(headers) ? headers : []).map((pair) => {
      const [name, value] = Array.isArray(pair) ? pair : [pair, ""];
      const credential = /^(proxy-)?authorization$/i.test(text(name)) ? credentialParts(text(value)) : null;
      return h("tr", { "data-header": text(name).toLowerCase() },
        h("th", { scope: "row", class: "mono" }, text(name)),
        h("td", { class: "header-value" }, credential ? credentialView(credential) : mono(value)));
    });
    return h("figure", { class: "body request-headers" }, h("figcaption", {}, "Request headers"),
      rows.length ? h("table", { class: "compact headers" }, h("tbody", {}, rows)) : h("p", { class: "muted" }, "(none recorded)"));
  }

  // "JWT {header} {claims} (signature not kept)", as emulator/redaction.py shows a token: its parts, or null
  function credentialParts(value) {
    const found = /^(\S+) (\{.*\}) \(signature not kept\)$/s.exec(value);
    if (!found) return null;
    const both = found[2];
    for (let at = both.indexOf("} {"); at >= 0; at = both.indexOf("} {", at + 1)) {
      try {
        const header = parseJson(both.slice(0, at + 1)), claims = parseJson(both.slice(at + 2));
        if (header && claims && typeof header === "object" && typeof claims === "object") return { scheme: found[1], header, claims };
      } catch (_) {
        // this "} {" is inside a string: the next one may be the boundary
      }
    }
    return null;
  }

  const TIME_CLAIMS = new Set(["exp", "iat", "nbf"]);
  const claimText = (value) => (typeof value === "string" ? value : jsonText(value));

  function credentialView({ scheme, header, claims }) {
    return h("div", { class: "credential" },
      h("div", {}, h("strong", {}, text(scheme)), " ",
        h("span", { class: "muted small" }, Object.entries(header).map(([k, v]) => `${k} ${claimText(v)}`).join(" · "), " · signature not kept")),
      h("table", { class: "compact claims" }, h("tbody", {}, Object.entries(claims).map(([k, v]) => h("tr", { "data-claim": k },
        h("th", { scope: "row", class: "mono" }, k),
        h("td", {}, mono(claimText(v)),
          TIME_CLAIMS.has(k) ? epochNote(v) : null))))));
  }

  // an exp, iat or nbf claim (seconds since 1970) as a time, and how far from now
  function epochNote(seconds) {
    const when = typeof seconds === "number" ? new Date(seconds * 1000) : null;
    if (!when || Number.isNaN(when.getTime())) return null;
    const iso = when.toISOString();
    return h("span", { class: "muted small" }, ` ${iso} (${relative(iso)})`);
  }

  function bodyBlock(title, raw, kind) {
    return h("figure", { class: `body ${kind}` }, h("figcaption", {}, title),
      raw === null || raw === undefined || raw === ""
        ? h("p", { class: "muted" }, "(none recorded)")
        : h("pre", {}, pretty(raw)));
  }

  function pretty(raw) {
    let exact = true;
    try {
      const value = JSON.parse(raw, function (key, v, context) {
        if (typeof v === "number" && !Number.isSafeInteger(v) && Number.isInteger(v)) exact = false;
        return v;
      });
      return exact ? JSON.stringify(value, null, 2) : raw;
    } catch (_) {
      return raw;
    }
  }

  function drawJournal(journal) {
    if (!journal) return;
    const withFindings = $("f-findings").checked;
    const entries = (journal.entries || []).filter((e) => !withFindings || (e.findings && e.findings.length));
    const refused = (journal.entries || []).filter((e) => e.status >= 400).length;
    const counter = $("n-journal");
    counter.textContent = refused ? `${refused} refused` : String((journal.entries || []).length);
    counter.classList.toggle("count-alert", refused > 0);
    fill($("journal-info"), `newest first · ${plural(entries.length, "call")} shown · ring of ${journal.capacity}`,
      journal.dropped ? h("span", { class: "warn" }, ` · ${journal.dropped} dropped`) : null);
    $("journal-empty").hidden = entries.length > 0;
    const ids = entries.map((e) => e.id);
    const tbody = $("journal-rows");
    const byId = new Map(entries.map((e) => [e.id, e]));
    for (const id of ui.journalRows.keys()) if (!byId.has(id)) { ui.journalRows.delete(id); ui.openEntries.delete(id); }
    const fresh = [];
    for (const e of entries) if (!ui.journalRows.has(e.id)) { ui.journalRows.set(e.id, journalRow(e)); fresh.push(e.id); }
    const old = ui.shownJournal;
    const kept = ids.slice(fresh.length);
    const prepend = fresh.every((id, i) => ids[i] === id) && kept.every((id, i) => old[i] === id);
    if (prepend && old.length) {
      // only new calls at the top: keep the rows already drawn (and any text selected in an open body)
      const first = tbody.firstChild;
      for (const id of fresh) {
        const pair = ui.journalRows.get(id);
        tbody.insertBefore(pair.row, first);
        tbody.insertBefore(pair.detail, first);
      }
      while (tbody.children.length > ids.length * 2) tbody.lastChild.remove();
    } else {
      tbody.replaceChildren(...ids.flatMap((id) => { const p = ui.journalRows.get(id); return [p.row, p.detail]; }));
    }
    ui.shownJournal = ids;
  }

  // ---- contract report -----------------------------------------------------------------------------
  function drawContract(report) {
    const body = $("contract-body");
    if (!report) return;
    const groups = (report.providers || []).filter(wanted);
    const total = groups.reduce((n, g) => n + (g.findings || []).reduce((m, f) => m + (f.count || 0), 0), 0);
    const mistakes = groups.some((g) => (g.findings || []).some((f) => f.class === "mistake"));
    $("n-contract").textContent = String(total);
    $("n-contract").classList.toggle("count-alert", mistakes);
    fill($("contract-mode"), report.strict
      ? badge("strict mode", "gate gate-prevented", "calls with a mistake are refused with a 400")
      : "mistakes are accepted, as Jira does; --strict refuses them");
    if (!groups.length) {
      fill(body, empty("No findings: every call so far follows the contract."));
      return;
    }
    fill(body, groups.map((g) => h("div", { class: "contract-group" },
      h("h4", { class: "provider-head" }, "Site ", mono(g.site), " · ", providerLabel(g.provider)),
      h("table", { class: "compact contract" },
        h("thead", {}, h("tr", {}, ["Class", "Rule", "Count", "What", "Fix", "Example"].map((t) => h("th", {}, t)))),
        h("tbody", {}, (g.findings || []).map((f) => h("tr", { class: f.class === "mistake" ? "finding-row-mistake" : "" },
          h("td", {}, badge(text(f.class), `finding finding-${f.class === "mistake" ? "mistake" : "risk"}`)),
          h("td", {}, mono(f.rule)),
          h("td", { class: "c-num" }, text(f.count)),
          h("td", {}, text(f.description)),
          h("td", { class: "small" }, text(f.fix)),
          h("td", { class: "small" }, f.example ? [mono(`${text(f.example.method)} ${text(f.example.path)}${f.example.query ? "?" + text(f.example.query) : ""}`),
            h("div", { class: "muted" }, text(f.example.detail))] : null))))))));
  }

  // ---- the loop ------------------------------------------------------------------------------------
  const SOURCES = {
    ready: () => "ready",
    sites: () => "sites",
    state: () => `state${query(filters())}`,
    queue: () => "queue",
    journal: () => `journal${query({ limit: JOURNAL_LIMIT, status: $("f-status").value, family: $("f-family").value, site: filters().site, provider: filters().provider })}`,
    faults: () => "faults",
    contract: () => `contract-report${query({ provider: filters().provider })}`,
  };

  function redraw(which) {
    const d = ui.data;
    if (which === "header") drawHeader(d.ready, d.sites);
    if (VIEWS.includes(which)) {
      drawCounts(d.state);
      // nothing is drawn before the first read: "no deployments yet" would not be known yet
      if (ui.view === which && "state" in d) (which === "builds" ? drawBuilds : drawDeployments)(d.state, d.queue);
    }
    if (which === "gating") drawGating(d.state);
    if (which === "queue") drawQueue(d.queue);
    if (which === "faults") drawFaults(d.faults);
    if (which === "journal") drawJournal(d.journal);
    if (which === "contract") drawContract(d.contract);
    refreshTimes();
  }

  // one read at a time: the poll and the reads after a button click queue up behind each other
  let chain = Promise.resolve();
  function refresh() {
    chain = chain.then(readAll, readAll);
    return chain;
  }

  async function readAll() {
    try {
      const names = Object.keys(SOURCES);
      const results = await Promise.all(names.map((name) =>
        name === "ready" // 503 while starting: still JSON, still worth showing
          ? fetch(BASE + SOURCES.ready(), { cache: "no-store" }).then(async (r) => ({ raw: await r.text() }))
          : call("GET", SOURCES[name]())));
      const changed = new Set();
      names.forEach((name, i) => {
        const { raw } = results[i];
        if (ui.last[name] !== raw) {
          ui.last[name] = raw;
          try { ui.data[name] = parseJson(raw); } catch (_) { ui.data[name] = null; }
          changed.add(name);
        }
      });
      const any = (...names) => names.some((n) => changed.has(n));
      if (any("ready", "sites", "state")) redraw("header");
      if (any("ready", "state", "queue")) VIEWS.forEach(redraw);
      if (any("state")) redraw("gating");
      if (any("queue")) redraw("queue");
      if (any("faults")) redraw("faults");
      if (any("journal")) redraw("journal");
      if (any("contract")) redraw("contract");
      refreshTimes();
      const ready = ui.data.ready && ui.data.ready.status === "ready";
      setConn(ready ? "ok" : "wait", ready ? "live" : "starting…");
      $("banner").hidden = true;
    } catch (error) {
      setConn("down", "unreachable");
      const banner = $("banner");
      banner.textContent = `Cannot read the control surface (${error.message}). Retrying every second…`;
      banner.hidden = false;
    }
  }

  // ---- deployments or builds ------------------------------------------------------------------------
  function drawCounts(state) {
    for (const family of VIEWS) {
      const count = String(((state && state[family]) || []).length);
      $(`n-${family}`).textContent = count;
      $(`t-${family}`).textContent = count;
    }
  }

  // list the family named (deployments or builds): its tab selected, its panel shown and drawn
  function showView(name, scroll) {
    if (!VIEWS.includes(name)) return;
    ui.view = name;
    for (const family of VIEWS) {
      const on = family === name;
      $(family).hidden = !on;
      const tab = $(`tab-${family}`);
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      document.querySelector(`.tabs a[data-view="${family}"]`).classList.toggle("tab-on", on);
    }
    redraw(name);
    if (scroll) $("views").scrollIntoView({ block: "start" });
  }

  // a tab or a link chose a view: shown, and kept in the address so that a reload shows it again
  function chooseView(name, scroll) {
    showView(name, scroll);
    history.replaceState(null, "", `${location.pathname}${location.search}#${name}`);
  }

  function setConn(kind, label) {
    const el = $("conn");
    el.className = `conn conn-${ui.live ? kind : "paused"}`;
    el.textContent = ui.live ? label : "updates paused";
    el.title = `last read ${new Date().toLocaleTimeString()}`;
  }

  function schedule() {
    clearTimeout(ui.timer);
    if (ui.live) ui.timer = setTimeout(async () => { await refresh(); schedule(); }, PERIOD_MS);
  }

  function setLive(on) {
    ui.live = on;
    const button = $("live-toggle");
    button.textContent = on ? "Pause updates" : "Resume updates";
    button.setAttribute("aria-pressed", on ? "false" : "true");
    setConn(on ? "wait" : "paused", on ? "live" : "updates paused");
    if (on) refresh().then(schedule);
    else clearTimeout(ui.timer);
  }

  async function act(method, path, done) {
    try {
      const { json } = await call(method, path);
      toast(typeof done === "function" ? done(json) : done);
    } catch (error) {
      toast(`${method} ${path} failed: ${error.message}`, true);
    }
    await refresh();
  }

  let toastTimer = null;
  function toast(message, bad) {
    const el = $("toast");
    el.textContent = message;
    el.className = `toast${bad ? " toast-bad" : ""}`;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, bad ? 6000 : 2500);
  }

  function onFilter() {
    ui.last = {};
    refresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("live-toggle").addEventListener("click", () => setLive(!ui.live));
    $("refresh").addEventListener("click", () => refresh());
    $("queue-flush").addEventListener("click", () => act("POST", "queue/flush", (r) => `Flushed: ${plural(r.applied, "operation")} applied`));
    $("queue-pause").addEventListener("click", (event) => {
      const paused = event.currentTarget.dataset.paused === "1";
      act("POST", paused ? "queue/resume" : "queue/pause", paused ? "Queue resumed" : "Queue paused");
    });
    $("faults-clear").addEventListener("click", () => act("DELETE", "faults", "All fault rules cleared"));
    $("journal-clear").addEventListener("click", () => act("DELETE", "journal", "Journal cleared"));
    for (const id of ["f-site", "f-provider", "f-pipeline", "f-status", "f-family"]) $(id).addEventListener("change", onFilter);
    $("f-findings").addEventListener("change", () => redraw("journal"));
    $("f-text").addEventListener("input", () => redraw("deployments"));
    $("f-build-text").addEventListener("input", () => redraw("builds"));
    for (const el of document.querySelectorAll("[data-view]")) {
      el.addEventListener("click", (event) => { event.preventDefault(); chooseView(el.dataset.view, el.tagName === "A"); });
    }
    // the tabs as a tab list: the arrow keys move to the other tab and show it
    document.querySelector(".view-tabs").addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = VIEWS[(VIEWS.indexOf(ui.view) + step + VIEWS.length) % VIEWS.length];
      chooseView(next, false);
      $(`tab-${next}`).focus();
    });
    document.addEventListener("visibilitychange", () => { if (!document.hidden && ui.live) refresh(); });
    // the token pasted into the address bar of a page already open; or #builds, #deployments typed there
    window.addEventListener("hashchange", () => {
      if (takeTokenFromUrl()) onFilter();
      else showView(location.hash.slice(1), true);
    });
    showView(location.hash === "#builds" ? "builds" : "deployments", false);
    refresh().then(schedule);
  });
})();
