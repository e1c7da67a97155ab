// The designer console: plain JavaScript over the server endpoints (lint, simulate, replay,
// explain, overview). No build step: the service embeds this file as it is.
"use strict";

const base = location.pathname.replace(/\/console\/?$/, "");
const $ = (selector) => document.querySelector(selector);
const state = { overview: null, files: new Map(), edits: new Map(), current: null };

// ---------------------------------------------------------------- plumbing

const tokenInput = $("#token");
tokenInput.value = sessionStorage.getItem("challenge-console-token") || "";
tokenInput.addEventListener("change", () => {
  sessionStorage.setItem("challenge-console-token", tokenInput.value.trim());
  load();
});

async function api(method, path, body) {
  const headers = { "content-type": "application/json" };
  const token = tokenInput.value.trim();
  if (token) headers.authorization = "Bearer " + token.replace(/^Bearer\s+/i, "");
  const response = await fetch(base + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = (data && data.message) || response.statusText;
    if (response.status === 401 || response.status === 403) {
      notice(`${message}. Paste a token with the ADMIN:NAMESPACE:{namespace}:CHALLENGE permission above.`);
    }
    throw new Error(`${response.status}: ${message}`);
  }
  return data;
}

function notice(text) {
  const box = $("#notice");
  box.textContent = text || "";
  box.hidden = !text;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  // Children nest (a row of cells, a list of [term, definition] pairs): all levels flatten.
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function status(id, text, kind) {
  const node = $(id);
  node.textContent = text;
  node.className = "status" + (kind ? " " + kind : "");
}

function table(headers, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

const show = (value) => (value === null || value === undefined ? "–" : value);

/// Sends a request for a tab, showing `busy` in its status line, then `render`s the answer;
/// a failure goes to the status line.
async function request(statusId, busy, method, path, body, render) {
  status(statusId, busy);
  try {
    render(await api(method, path, body));
  } catch (err) {
    status(statusId, err.message, "bad");
  }
}

// ---------------------------------------------------------------- tabs

for (const button of document.querySelectorAll("#tabs button")) {
  button.addEventListener("click", () => openTab(button.dataset.tab));
}

function openTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const s of document.querySelectorAll(".tab")) s.classList.toggle("active", s.id === "tab-" + name);
  location.hash = name;
}

// ---------------------------------------------------------------- rules

function rewardText(reward) {
  if (!reward) return "–";
  return reward.type === "wallet"
    ? `${reward.amount} ${reward.currency}`
    : [`${reward.quantity} × item`, el("div", { class: "mono fields", title: "the item's id in AGS Platform" }, reward.itemId)];
}

// A goal's rewards: one, or every part of a bundle, a table's entries with their odds.
function rewardsText(goal) {
  const parts = goal.rewards || [];
  if (parts.length <= 1 && !(parts[0] && parts[0].odds)) return rewardText(goal.reward);
  const one = (r) => (r.type === "WALLET" ? `${r.quantity} ${r.rewardId}` : `${r.quantity} × ${r.rewardId}`);
  return parts.map((part) => part.odds
    ? el("div", { class: "reward-table" }, "one of:",
      ...part.odds.map((o) => el("div", { class: "fields", title: `weight ${o.weight}` }, `${o.percent} % · ${one(o)}`)))
    : el("div", {}, one(part)));
}

function rotationText(rotation) {
  const at = rotation.timezone && (rotation.timezone !== "UTC" || rotation.resetAt !== "00:00")
    ? ` at ${rotation.resetAt} ${rotation.timezone}` : "";
  return `rotates ${rotation.every}${at}, ${rotation.resetProgress ? "resets progress" : "keeps progress"}` +
    (rotation.allowReselection ? ", can be done again" : "");
}

// A schedule in a few words: its window (either end may be open) and its days.
function scheduleText(schedule) {
  const window = schedule.start || schedule.end ? `${schedule.start || "…"} → ${schedule.end || "…"}` : "";
  const days = (schedule.days || []).length ? `on ${schedule.days.join(", ")}` : "";
  return [window, days].filter(Boolean).join(" ");
}

function ruleText(goal) {
  const on = goal.on === "login" ? "login" : `stat ${goal.stats.join(", ")}`;
  return [
    el("div", { class: "mono" }, `on ${on} · count ${goal.count}${goal.relative ? " (relative)" : ""} · target ${goal.target}`),
    goal.when && el("div", { class: "mono fields" }, `when ${goal.when}`),
    goal.amount && el("div", { class: "mono fields" }, `amount ${goal.amount}`),
    goal.progress && el("div", { class: "mono fields" }, `progress ${goal.progress}`),
    goal.rotation && el("div", { class: "override" }, `own rotation: ${rotationText(goal.rotation)}`),
    goal.retired && el("div", { class: "override" }, `retired ${goal.retired}`),
  ];
}

/// Everything a search matches a goal by: ids, names, descriptions, stat codes, expressions,
/// reward and tests.
function goalWords(challenge, goal) {
  return [challenge.id, challenge.name, ...challenge.tags, goal.id, goal.name, goal.description, ...goal.tags, goal.on, ...goal.stats,
    goal.when, goal.amount, goal.progress, goal.count, goal.assign, JSON.stringify(goal.reward),
    ...goal.requires, ...goal.tests.map((t) => t.name)].filter(Boolean).join(" ").toLowerCase();
}

function filterRules() {
  const words = $("#rules-search").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const challenge of state.overview.challenges) {
    let any = false;
    for (const goal of challenge.goals) {
      const row = document.querySelector(`#challenge-${CSS.escape(challenge.id)} tr[data-goal="${CSS.escape(goal.id)}"]`);
      const hit = words.every((w) => goalWords(challenge, goal).includes(w));
      row.hidden = !hit;
      any ||= hit;
      shown += hit ? 1 : 0;
    }
    $(`#challenge-${CSS.escape(challenge.id)}`).hidden = !any;
  }
  status("#rules-search-status", words.length ? `${shown} goal(s) match` : "");
}
$("#rules-search").addEventListener("input", filterRules);

/// A challenge's or goal's tags, as pills.
function tagPills(tags) {
  return (tags || []).map((tag) => el("span", { class: "pill tag" }, tag));
}

function renderRules() {
  const overview = state.overview;
  const goals = overview.challenges.reduce((n, c) => n + c.goals.length, 0);
  const tests = new Set(overview.challenges.flatMap((c) => c.goals.flatMap((g) => g.tests.map((t) => t.name))));
  const rejected = state.loaded && state.loaded.lastError;
  $("#rules-summary").textContent =
    `${overview.challenges.length} challenges, ${goals} goals, ${tests.size} rule tests ` +
    `(passing when these rules were deployed), from ${overview.files.length} files, loaded ${overview.loadedAt}.`;
  $("#reload-error").hidden = !rejected;
  if (rejected) {
    $("#reload-error").replaceChildren(
      el("strong", {}, `The files on disk were rejected at ${rejected.at}; the rules below are still the ones in use.`),
      el("div", {}, rejected.message),
      el("ul", { class: "mono" }, (rejected.diagnostics || []).map((d) => el("li", {},
        `${d.file || ""}${d.line ? `:${d.line}:${d.column}` : ""}: ${d.code}: ${d.message}`,
        d.hint ? el("div", { class: "fields" }, `hint: ${d.hint}`) : null))));
  }
  const root = $("#challenges");
  root.replaceChildren();
  for (const challenge of overview.challenges) {
    const when = [
      challenge.schedule && scheduleText(challenge.schedule),
      challenge.rotation && rotationText(challenge.rotation),
    ].filter(Boolean).join(" · ");
    root.append(el("div", { class: "card", id: "challenge-" + challenge.id },
      el("h2", {}, challenge.name, el("small", {}, challenge.id + (when ? " · " + when : "")), tagPills(challenge.tags)),
      challenge.description && el("p", { class: "hint", style: "padding: 0 .9rem" }, challenge.description),
      table(["goal", "rule", "assign", "reward", "prerequisites", "rule tests", ""], challenge.goals.map((goal) =>
        el("tr", { "data-goal": goal.id },
          el("td", {}, el("strong", {}, goal.name), tagPills(goal.tags), el("div", { class: "mono fields" }, goal.id),
            goal.description && el("div", { class: "fields" }, goal.description)),
          el("td", {}, ruleText(goal)),
          el("td", {}, goal.assign),
          el("td", {}, rewardsText(goal), goal.autoClaim
            ? el("div", { class: "fields", title: "claim: auto" }, "granted as it completes") : null),
          el("td", {}, goal.requires.length ? goal.requires.join(", ") : "–"),
          el("td", {}, goal.tests.length
            ? goal.tests.map((t) => el("div", {}, el("span", { class: "pill ok" }, "✓"), " ", t.name))
            : el("span", { class: "pill warn" }, "no test")),
          el("td", {}, el("button", { type: "button", class: "try", onclick: () => tryGoal(goal) }, "Try it"))))),
    ));
  }
  filterRules();
}

/// Opens the simulator with an event this goal listens to, ready to add.
function tryGoal(goal) {
  $("#ev-kind").value = goal.on;
  $("#ev-stat").value = goal.stats[0] || "";
  const fields = (goal.when || "").match(/event\.additional\.([A-Za-z_][A-Za-z0-9_]*)/g) || [];
  const payload = Object.fromEntries(fields.map((f) => [f.split(".")[2], ""]));
  $("#ev-additional").value = JSON.stringify(payload);
  openTab("simulate");
  status("#simulate-status", `an event for ${goal.id}: set its values, Add, then Simulate`);
}

// ---------------------------------------------------------------- editor

const source = $("#source");
const gutter = $("#gutter");
let lintTimer = null;

function fillFiles() {
  const select = $("#file");
  select.replaceChildren(...[...state.files.keys()].map((name) => el("option", { value: name }, name)));
  if (!state.current || !state.files.has(state.current)) state.current = select.options[0]?.value || null;
  select.value = state.current;
  openFile(state.current);
}

function openFile(name) {
  state.current = name;
  source.value = state.edits.get(name) ?? state.files.get(name) ?? "";
  drawGutter([]);
  lint();
}

$("#file").addEventListener("change", (e) => openFile(e.target.value));
$("#new-file").addEventListener("click", () => {
  const name = prompt("File name (ending in .yaml):", "new-challenge.yaml");
  if (!name) return;
  if (!state.files.has(name)) {
    state.files.set(name, "");
    state.edits.set(name, "version: 1\nchallenges:\n  - id: my-challenge\n    name: My challenge\n    goals:\n      - id: my-goal\n        name: My goal\n        on: stat\n        stat: matches_played\n        count: events\n        target: 3\n");
  }
  state.current = name;
  fillFiles();
});

$("#download").addEventListener("click", () => {
  const link = el("a", {
    href: URL.createObjectURL(new Blob([editedText()], { type: "application/yaml" })),
    download: state.current,
  });
  document.body.append(link);
  link.click();
  link.remove();
});

$("#revert").addEventListener("click", () => {
  if (!state.current || !confirm(`Drop your changes to ${state.current}?`)) return;
  state.edits.delete(state.current);
  openFile(state.current);
});

window.addEventListener("beforeunload", (event) => {
  if (isEdited()) event.preventDefault();
});

source.addEventListener("input", () => {
  state.edits.set(state.current, source.value);
  clearTimeout(lintTimer);
  lintTimer = setTimeout(lint, 300);
  drawGutter(lastDiagnostics);
});
source.addEventListener("scroll", () => { gutter.scrollTop = source.scrollTop; });

let lastDiagnostics = [];

function drawGutter(diagnostics) {
  const lines = source.value.split("\n").length;
  const marks = new Map();
  for (const d of diagnostics) {
    if (d.line && sameFile(d.file)) marks.set(d.line, d.severity === "error" ? "err" : marks.get(d.line) || "warn");
  }
  gutter.replaceChildren(...Array.from({ length: lines }, (_, i) => {
    const mark = marks.get(i + 1);
    return el("span", { class: mark, "data-line": i + 1 }, String(i + 1) + "\n");
  }));
  gutter.scrollTop = source.scrollTop;
}

function sameFile(file) {
  return !file || file === state.current || file.endsWith("/" + state.current);
}

function editedText() {
  return state.edits.get(state.current) ?? state.files.get(state.current) ?? "";
}

function isEdited() {
  return [...state.edits.entries()].some(([name, text]) => state.files.get(name) !== text);
}

async function lint() {
  if (!state.current) return;
  status("#lint-status", "checking…");
  try {
    const report = await api("POST", "/v1/admin/rules/lint",
      { rules: editedText(), fileName: state.current, withDeployed: true });
    lastDiagnostics = report.diagnostics;
    drawGutter(report.diagnostics);
    renderDiagnostics(report);
  } catch (err) {
    status("#lint-status", err.message, "bad");
  }
}

function renderDiagnostics(report) {
  const list = $("#diagnostics");
  const mine = report.diagnostics.filter((d) => sameFile(d.file));
  const elsewhere = report.diagnostics.length - mine.length;
  status("#lint-status", report.errors
    ? `${report.errors} error(s), ${report.warnings} warning(s)`
    : `no errors${report.warnings ? `, ${report.warnings} warning(s)` : ""}`, report.errors ? "bad" : "ok");
  if (!report.diagnostics.length) {
    list.replaceChildren(el("li", { class: "clean" }, "No problems: the rules compile and every rule test passes."));
    return;
  }
  const items = mine.map((d) => el("li", {
    class: d.severity, "data-line": d.line,
    onclick: () => d.line && goToLine(d.line),
  },
    el("span", { class: "where" }, d.line ? `line ${d.line}${d.column ? ":" + d.column : ""}` : state.current),
    el("strong", {}, d.code), " ", d.message,
    d.hint && el("span", { class: "hint" }, d.hint)));
  if (elsewhere) {
    items.push(el("li", { class: "warning" }, `${elsewhere} more in other files: ` +
      report.diagnostics.filter((d) => !sameFile(d.file)).map((d) => `${d.file}:${d.line} ${d.message}`).join("; ")));
  }
  list.replaceChildren(...items);
}

function goToLine(line) {
  const lines = source.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  source.focus();
  source.setSelectionRange(start, start + (lines[line - 1] || "").length);
  source.scrollTop = Math.max(0, (line - 5) * parseFloat(getComputedStyle(source).lineHeight));
}

// ---------------------------------------------------------------- simulate

/// The events box as a list (one object is a list of one); null, with the reason shown, when
/// it is not JSON.
function readEvents() {
  try {
    const events = JSON.parse($("#events").value || "[]");
    return Array.isArray(events) ? events : [events];
  } catch (err) {
    status("#simulate-status", "the events are not valid JSON: " + err.message, "bad");
    return null;
  }
}

$("#add-event").addEventListener("click", () => {
  const events = readEvents();
  if (!events) return;
  let additional = {};
  try {
    additional = JSON.parse($("#ev-additional").value || "{}");
  } catch (err) {
    status("#simulate-status", "the payload is not valid JSON: " + err.message, "bad");
    return;
  }
  const kind = $("#ev-kind").value;
  const event = { kind, id: `sim-${events.length + 1}`, userId: $("#ev-user").value.trim() || "designer-1" };
  if (kind === "stat") {
    event.statCode = $("#ev-stat").value.trim();
    event.latestValue = Number($("#ev-value").value || 0);
    event.inc = Number($("#ev-inc").value || 0);
    if (Object.keys(additional).length) event.additional = additional;
  }
  const at = $("#ev-time").value.trim();
  if (at) event.timestamp = at;
  events.push(event);
  $("#events").value = JSON.stringify(events, null, 2);
  status("#simulate-status", "");
});

$("#run-simulate").addEventListener("click", simulate);

async function simulate() {
  const events = readEvents();
  if (!events) return;
  const useEdit = document.querySelector("input[name=sim-rules]:checked").value === "edit";
  const body = { events };
  if (useEdit && state.current) Object.assign(body, { rules: editedText(), fileName: state.current, withDeployed: true });
  await request("#simulate-status", "simulating…", "POST", "/v1/admin/rules/simulate", body, renderSimulation);
}

// An expected reward: `100 GOLD`, `~0.2 × rare-skin` (a table's share).
function grantText(r) {
  const n = Number.isInteger(r.amount) ? r.amount.toLocaleString("en") : "~" + r.amount.toLocaleString("en");
  return r.type === "WALLET" ? `${n} ${r.rewardId}` : `${n} × ${r.rewardId}`;
}

function renderSimulation(answer) {
  const root = $("#simulate-results");
  const errors = answer.diagnostics.filter((d) => d.severity === "error" && d.code !== "E040 test-failed");
  if (errors.length) {
    status("#simulate-status", `your edit has ${errors.length} error(s): see Edit`, "bad");
    root.replaceChildren(el("ul", {}, errors.map((d) => el("li", {}, `${d.file}:${d.line} ${d.message}`))));
    return;
  }
  const completed = answer.results.flatMap((r) => r.goals.filter((g) => g.statusBefore !== "completed" && g.statusAfter === "completed"));
  const granted = (answer.rewards || []).map(grantText).join(", ");
  status("#simulate-status", `${answer.results.length} event(s); ${completed.length} goal(s) completed` +
    (granted ? `; once claimed they grant ${granted}` : ""), "ok");
  root.replaceChildren(...answer.results.map((result) => el("div", { class: "card event", "data-event": result.eventId },
    el("h3", {}, `${result.eventId} `, el("small", { class: "fields" }, `player ${result.userId}`)),
    result.goals.length
      ? table(["goal", "matched", "when", "fields read", "progress", "status", "why"], result.goals.map((g) => {
        const moved = g.progressBefore !== g.progressAfter || g.statusBefore !== g.statusAfter;
        return el("tr", { "data-goal": g.goalId, class: moved ? "moved" : null },
          el("td", {}, g.goalId, el("div", { class: "fields" }, g.challengeId)),
          el("td", {}, el("span", { class: "pill " + (g.matched ? "ok" : "bad") }, g.matched ? "yes" : "no")),
          el("td", {}, g.when === null ? "–" : String(g.when)),
          el("td", { class: "mono fields" }, Object.entries(g.fields).map(([k, v]) => el("div", {}, `${k} = ${JSON.stringify(v)}`))),
          el("td", {}, `${g.progressBefore} → ${g.progressAfter}`),
          el("td", { class: g.statusAfter === "completed" ? "completed" : null }, `${g.statusBefore} → ${g.statusAfter}`,
            g.rewards ? el("div", { class: "fields grants" }, "grants " + g.rewards.map(grantText).join(", ")) : null),
          el("td", { class: "fields" }, show(g.reason)));
      }))
      : el("p", { class: "hint" }, "No goal listens to this event's kind and stat code."))));
}

// ---------------------------------------------------------------- replay

$("#run-replay").addEventListener("click", replay);

async function replay() {
  if (!state.current) return;
  const body = { rules: editedText(), fileName: state.current };
  const from = $("#replay-from").value.trim();
  const to = $("#replay-to").value.trim();
  if (from) body.from = from;
  if (to) body.to = to;
  await request("#replay-status", "replaying the archive…", "POST", "/v1/admin/rules/replay", body, renderReplay);
}

function renderReplay(answer) {
  const root = $("#replay-results");
  if (!answer.report) {
    status("#replay-status", "your edit has errors: see Edit", "bad");
    root.replaceChildren();
    return;
  }
  const report = answer.report;
  // Rules whose only errors are failing rule tests are replayed, but cannot be deployed.
  const failing = (answer.diagnostics || []).filter((d) => /E040|test-failed/.test(d.code));
  status("#replay-status", `${report.players} player(s), ${report.events} archived event(s)` +
    (isEdited() ? "" : " (no edit yet: both sides are the deployed rules)") +
    (failing.length ? `; ${failing.length} rule test(s) fail under the edit: it cannot be deployed until they are updated` : ""),
    failing.length ? "bad" : "ok");
  const change = (g) => {
    if (g.completedBefore === null) return el("span", { class: "pill ok" }, "added");
    if (g.completedAfter === null) return el("span", { class: "pill bad" }, "removed");
    const diff = g.completedAfter - g.completedBefore;
    if (!diff) return "same";
    return el("span", { class: diff > 0 ? "change-up" : "change-down" }, (diff > 0 ? "+" : "") + diff +
      (g.completedBefore ? ` (${diff > 0 ? "+" : ""}${Math.round(diff * 100 / g.completedBefore)} %)` : ""));
  };
  const unreached = report.goals.filter((g) => g.completedAfter === 0);
  // Goals the edit changes first, the largest change first; the rest in file order.
  const moved = (g) => g.completedBefore === null || g.completedAfter === null ||
    g.completedBefore !== g.completedAfter || g.medianEventsBefore !== g.medianEventsAfter;
  const size = (g) => (g.completedBefore === null || g.completedAfter === null)
    ? Infinity : Math.abs(g.completedAfter - g.completedBefore);
  const goals = report.goals.map((g, at) => ({ g, at }))
    .sort((a, b) => (moved(b.g) - moved(a.g)) || (size(b.g) - size(a.g)) || (a.at - b.at))
    .map(({ g }) => g);
  root.replaceChildren(...[
    failing.length
      ? el("div", { class: "card failing-tests" }, el("h2", {}, "Rule tests failing under the edit"),
        el("ul", {}, failing.map((d) => el("li", {}, `${d.file || ""}${d.line ? ":" + d.line : ""} ${d.message}`))))
      : null,
    el("div", { class: "card" },
      table(["challenge", "goal", "completed: deployed → edit", "change", "median events to complete"],
        goals.map((g) => el("tr", { "data-goal": g.goalId, class: moved(g) ? "moved" : "" },
          el("td", {}, g.challengeId),
          el("td", {}, g.goalId, g.completedAfter === 0 && report.players ? el("span", { class: "pill warn" }, " no player completes") : null),
          el("td", {}, `${show(g.completedBefore)} → ${show(g.completedAfter)}`),
          el("td", {}, change(g)),
          el("td", {}, `${show(g.medianEventsBefore)} → ${show(g.medianEventsAfter)}`))))),
    unreached.length && report.players
      ? el("p", { class: "hint" }, "No player completes under the edit: " + unreached.map((g) => g.goalId).join(", "))
      : null,
    report.rewards && report.rewards.length
      ? el("div", { class: "card rewards" },
        el("h2", {}, `Rewards once claimed, over ${report.days} day(s) of traffic`),
        table(["reward", "deployed", "edit", "change", "per day"], report.rewards.map((r) =>
          el("tr", { "data-reward": r.rewardId, class: r.change ? "moved" : "" },
            el("td", {}, `${r.type} ${r.rewardId}`),
            el("td", {}, r.before.toLocaleString("en")),
            el("td", {}, r.after.toLocaleString("en")),
            el("td", {}, r.change ? el("span", { class: r.change > 0 ? "change-up" : "change-down" },
              (r.change > 0 ? "+" : "") + r.change.toLocaleString("en")) : "same"),
            el("td", {}, r.change ? `~${Math.abs(r.perDay).toLocaleString("en")} ${r.rewardId}/day ${r.change > 0 ? "more" : "less"}` : "–")))),
        el("p", { class: "hint" }, "What the goals' completions grant once their players claim them; a weighted table counts at its expected value."))
      : null,
  ].filter(Boolean));
}

// ---------------------------------------------------------------- explain

$("#run-explain").addEventListener("click", explain);

async function explain() {
  const user = $("#explain-user").value.trim();
  const [challenge, goal] = ($("#explain-goal").value || "/").split("/");
  if (!user) {
    status("#explain-status", "enter a player's user id", "bad");
    return;
  }
  const path = `/v1/admin/players/${encodeURIComponent(user)}/challenges/${encodeURIComponent(challenge)}/goals/${encodeURIComponent(goal)}/explain`;
  await request("#explain-status", "reading…", "GET", path, undefined, (e) => {
    status("#explain-status", "");
    renderExplain(e);
  });
}

/// Under which rules an event was applied, when not today's: their load time and what the
/// event did under them, so a support person sees why stored progress differs from the replay.
function appliedUnder(e, r) {
  if (!r.appliedUnder || r.appliedUnder === e.contentHash) return null;
  const version = (e.ruleSets || []).find((v) => v.contentHash === r.appliedUnder);
  const when = version ? version.loadedAt : r.appliedUnder.slice(0, 12);
  const then = r.appliedOutcome;
  return el("div", { class: "applied-under" },
    el("span", { class: "pill warn" }, `applied under the rules of ${when}`),
    then ? el("div", { class: "fields" },
      `then: ${then.matched ? "matched" : "not matched"}, ${then.progressBefore} → ${then.progressAfter}` + (then.reason ? ` (${then.reason})` : ""))
      : null);
}

function renderExplain(e) {
  const facts = [
    ["status", e.status], ["progress", `${e.progress} / ${e.target}`], ["assigned", e.assigned ? "yes" : "no"],
    ["active", e.isActive ? "yes" : "no"], ["locked", e.locked ? "by " + e.lockedBy.join(", ") : "no"],
    ["last matching event", e.lastMatchingEventAt || "–"],
    ["rule", `on ${e.rule.on} ${e.rule.statCodes.join(", ")} · count ${e.rule.count}` + (e.rule.when ? ` · when ${e.rule.when}` : "")],
    ["rotation", e.rotation ? `${e.rotation.every}, period ${e.rotation.periodStart} → ${e.rotation.periodEnd}` : "–"],
  ];
  $("#explain-results").replaceChildren(
    el("div", { class: "card" }, el("h2", {}, `${e.challengeId} / ${e.goalId}`),
      el("dl", { class: "kv" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))),
    el("div", { class: "card" }, el("h2", {}, "Recent events that reached this goal ", el("small", {}, "(archived players only, newest first)")),
      e.recentEvents.length
        ? table(["event", "time", "value / inc", "matched", "fields read", "progress", "why"], e.recentEvents.map((r) =>
          el("tr", {},
            el("td", {}, r.eventId, el("div", { class: "fields" }, r.kind + (r.statCode ? " " + r.statCode : ""))),
            el("td", {}, r.timestamp),
            el("td", {}, `${r.value} / ${r.inc}`),
            el("td", {}, el("span", { class: "pill " + (r.matched ? "ok" : "bad") }, r.matched ? "yes" : "no")),
            el("td", { class: "mono fields" }, Object.entries(r.fields).map(([k, v]) => el("div", {}, `${k} = ${JSON.stringify(v)}`))),
            el("td", {}, `${r.progressBefore} → ${r.progressAfter}`, appliedUnder(e, r)),
            el("td", { class: "fields" }, show(r.reason)))))
        : el("p", { class: "hint", style: "padding: 0 .9rem" }, "No archived event of this player reached the goal (or the player is not sampled by EVENT_ARCHIVE_SAMPLE).")));
}

// ---------------------------------------------------------------- player

$("#run-player").addEventListener("click", player);
$("#player-user").addEventListener("keydown", (e) => { if (e.key === "Enter") player(); });

/// A player's challenges as that player reads them, every goal with its stored progress,
/// status and locks; each goal's Explain opens the explain tab on it.
async function player() {
  const user = $("#player-user").value.trim();
  if (!user) {
    status("#player-status", "enter a player's user id", "bad");
    return;
  }
  await request("#player-status", "reading…", "GET", `/v1/admin/players/${encodeURIComponent(user)}/challenges`,
    undefined, (answer) => {
      const goals = answer.challenges.reduce((n, c) => n + c.goals.length, 0);
      status("#player-status", `${answer.userId}: ${answer.challenges.length} challenges, ${goals} goals`, "ok");
      renderPlayer(answer);
    });
}

function renderPlayer(answer) {
  $("#player-results").replaceChildren(...answer.challenges.map((c) =>
    el("div", { class: "card", id: "player-" + c.challengeId },
      el("h2", {}, c.name, el("small", {}, c.challengeId), tagPills(c.tags)),
      table(["goal", "status", "progress", "active", "locked by", "completed", "claimed", "expires", ""],
        c.goals.map((g) => el("tr", { "data-goal": g.goalId },
          el("td", {}, el("strong", {}, g.name), tagPills(g.tags), el("div", { class: "mono fields" }, g.goalId)),
          el("td", {}, el("span", { class: "pill " + (g.status === "not_started" ? "" : "ok") }, g.status)),
          el("td", {}, `${g.progress} / ${g.target}`),
          el("td", {}, g.isActive ? "yes" : "no"),
          el("td", {}, g.locked ? (g.prerequisites || []).join(", ") || "yes" : "–"),
          el("td", {}, g.completedAt || "–"),
          el("td", {}, g.claimedAt || "–"),
          el("td", {}, g.expiresAt || "–",
            g.opensAt ? el("div", { class: "mono fields" }, `closed until ${g.opensAt}`) : ""),
          el("td", {},
            el("button", { class: "explain", type: "button", onclick: () => {
              $("#explain-user").value = answer.userId;
              $("#explain-goal").value = `${c.challengeId}/${g.goalId}`;
              openTab("explain");
              explain();
            } }, "Explain"),
            " ",
            el("button", { class: "fix", type: "button", onclick: () => openFix(answer.userId, c.challengeId, g) }, "Fix…"))))))));
  renderTimeline(answer.userId);
}

/// What happened to the player, newest first: archived events with what each did to every goal
/// listening, the rule sets deployed, claims with their intent's state, and support's actions.
async function renderTimeline(user) {
  let t;
  try {
    t = await api("GET", `/v1/admin/players/${encodeURIComponent(user)}/timeline?limit=200`);
  } catch (err) {
    $("#player-timeline").replaceChildren(el("p", { class: "status bad" }, "Cannot read the player's timeline: " + err.message));
    return;
  }
  const loaded = new Map(t.entries.filter((e) => e.type === "rules").map((e) => [e.contentHash, e.at]));
  const state = (s) => (s ? `${s.progress} ${s.status}` : "no row");
  const reward = (r) => (Array.isArray(r) ? r.map(reward).join(" + ")
    : r && r.rewardId ? `${r.quantity} × ${r.rewardId}` : "no reward");
  const goals = (list) => list.map((g) => el("div", { class: g.progressAfter !== g.progressBefore || g.statusAfter !== g.statusBefore ? "moved" : "fields" },
    `${g.challengeId}/${g.goalId}: ` + (g.matched
      ? `${g.progressBefore} → ${g.progressAfter}` + (g.statusAfter !== g.statusBefore ? ` (${g.statusAfter})` : "")
      : "not matched") + (g.reason && g.matched ? ` (${g.reason})` : g.reason ? `: ${g.reason}` : "")));
  const row = (e) => {
    switch (e.type) {
      case "event": {
        const older = e.appliedUnder && e.appliedUnder !== t.contentHash;
        return [el("span", { class: "pill" }, "event"),
          el("div", {}, el("span", { class: "mono" }, e.eventId),
            el("div", { class: "fields" }, `${e.kind}${e.statCode ? " " + e.statCode : ""} · value ${e.value} · inc ${e.inc}`)),
          el("div", {}, e.goals.length ? goals(e.goals) : el("span", { class: "fields" }, "no goal listens to it"),
            older ? el("div", { class: "applied-under" },
              el("span", { class: "pill warn" }, `applied under the rules of ${loaded.get(e.appliedUnder) || e.appliedUnder.slice(0, 12)}`),
              e.appliedGoals ? el("div", { class: "fields" }, "then:", goals(e.appliedGoals)) : null) : null)];
      }
      case "rules":
        return [el("span", { class: "pill " + (e.current ? "ok" : "") }, e.current ? "rules in use" : "rules"),
          el("span", { class: "mono" }, e.contentHash.slice(0, 12)),
          el("span", { class: "fields" }, "events after this were applied under these rules")];
      case "claim":
        return [el("span", { class: "pill" }, "claim"),
          el("span", { class: "mono" }, `${e.challengeId || "?"}/${e.goalId}`),
          el("div", {}, el("span", { class: "pill " + ({ granted: "ok", refused: "bad", unknown: "bad" }[e.state] || "warn") }, e.state),
            ` ${reward(e.reward)} · ${e.attempts} attempt(s) · ${e.delivery}`,
            e.lastError ? el("div", { class: "fields" }, e.lastError) : null,
            el("div", { class: "fields mono" }, `transaction ${e.transactionId}, updated ${e.updatedAt}`))];
      default:
        return [el("span", { class: "pill warn" }, "support"),
          el("div", {}, el("strong", {}, e.action), ` by ${e.actor}`,
            el("div", { class: "mono fields" }, `${e.challengeId || ""}/${e.goalId || ""}`)),
          el("div", {}, e.detail.reward !== undefined ? `granted ${reward(e.detail.reward)}`
            : e.detail.entries !== undefined ? `${e.detail.entries} entries renamed`
            : `${state(e.before)} → ${state(e.after)}`,
            el("div", { class: "fields" }, `reason: ${e.reason}`))];
    }
  };
  const events = t.archivedEvents
    ? `${t.archivedEvents} archived event(s) replayed`
    : "no archived event: the player has none in the archive's window (EVENT_ARCHIVE_SAMPLE, EVENT_ARCHIVE_RETENTION)";
  $("#player-timeline").replaceChildren(el("div", { class: "card" },
    el("h2", {}, "Timeline ", el("small", {}, `(newest first; ${events})`)),
    t.entries.length
      ? table(["when", "", "what", "what it did"], t.entries.map((e) =>
        el("tr", { "data-type": e.type, ...(e.type === "support" ? { "data-audit": e.id } : {}) },
          el("td", {}, e.at), ...row(e).map((cell) => el("td", {}, cell)))))
      : el("p", { class: "hint", style: "padding: 0 .9rem" }, "Nothing on record for this player.")));
}

// ---------------------------------------------------------------- fix a goal (support)

let fixing = null;

function openFix(user, challengeId, goal) {
  fixing = { user, challengeId, goalId: goal.goalId };
  $("#fix-goal").textContent = `${user} · ${challengeId}/${goal.goalId}`;
  $("#fix-now").textContent = `Now: ${goal.status}, ${goal.progress} / ${goal.target}.`;
  $("#fix-action").value = "set";
  $("#fix-progress").value = goal.progress;
  $("#fix-reason").value = "";
  status("#fix-status", "");
  fixForm();
  $("#fix-dialog").showModal();
}

/// The form's state: progress only for `set`; Apply only with a reason.
function fixForm() {
  $("#fix-progress-label").hidden = $("#fix-action").value !== "set";
  const reason = $("#fix-reason").value.trim();
  $("#fix-send").disabled = !reason;
  if (!reason) status("#fix-status", "a reason is required: it goes in the audit log", "bad");
  else status("#fix-status", "");
}
for (const id of ["#fix-action", "#fix-reason", "#fix-progress"]) $(id).addEventListener("input", fixForm);
$("#fix-cancel").addEventListener("click", () => $("#fix-dialog").close());
$("#fix-send").addEventListener("click", async () => {
  const reason = $("#fix-reason").value.trim();
  if (!fixing || !reason) return fixForm();
  const action = $("#fix-action").value;
  const body = action === "grant" ? { reason } : { action, reason };
  if (action === "set") body.progress = Number($("#fix-progress").value);
  const { user, challengeId, goalId } = fixing;
  const path = `/v1/admin/players/${encodeURIComponent(user)}/challenges/${encodeURIComponent(challengeId)}` +
    `/goals/${encodeURIComponent(goalId)}/${action === "grant" ? "grant" : "progress"}`;
  status("#fix-status", "applying…");
  try {
    const done = await api("POST", path, body);
    $("#fix-dialog").close();
    await player();
    status("#player-status", action === "grant"
      ? `${goalId}: reward ${done.status === "pending" ? "on its way" : "granted"}`
      : `${goalId}: ${done.goal.status}, ${done.goal.progress} / ${done.goal.target} (audit ${done.auditId})`, "ok");
  } catch (err) {
    status("#fix-status", err.message, "bad");
  }
});

// ---------------------------------------------------------------- start

async function load() {
  notice("");
  try {
    [state.overview, state.loaded] = await Promise.all([
      api("GET", "/v1/admin/rules/overview"), api("GET", "/v1/rules")]);
  } catch (err) {
    $("#rules-summary").textContent = "Cannot load the deployed rules: " + err.message;
    return;
  }
  for (const file of state.overview.files) state.files.set(file.name, file.text);
  renderRules();
  fillFiles();
  const stats = new Set(state.overview.challenges.flatMap((c) => c.goals.flatMap((g) => g.stats)));
  $("#stat-codes").replaceChildren(...[...stats].sort().map((s) => el("option", { value: s })));
  $("#explain-goal").replaceChildren(...state.overview.challenges.flatMap((c) =>
    c.goals.map((g) => el("option", { value: `${c.id}/${g.id}` }, `${c.id} / ${g.id}`))));
}

openTab((location.hash || "#rules").slice(1));
load();
