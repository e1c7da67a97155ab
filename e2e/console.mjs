// The designer console in a real browser (Debian's chromium, driven by playwright-core): the
// real `service` binary with the example challenges on a fresh embedded database, some archived
// traffic, then a designer's session: the rules list, a broken edit's diagnostic at its line, a
// simulated event completing a goal, a replay comparison and a player's explain; then support's:
// a player's goals, a fix and a grant with a reason, explain across two rule sets, the player's
// timeline, and a rejected reload. A screenshot of each step goes to the output folder (a CI
// artifact).
//
//   node e2e/console.mjs <bin dir> <screenshot dir>
//
// playwright-core comes from target/e2e-tools (installed by .ci/run), chromium from Debian.

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const require = createRequire(path.join(root, "target/e2e-tools/package.json"));
const { chromium } = require("playwright-core");

const [binDir = path.join(root, "target/debug"), shots = path.join(root, "target/console-screenshots")] =
  process.argv.slice(2);
fs.mkdirSync(shots, { recursive: true });

let failures = 0;
function check(ok, what) {
  console.log(`   ${ok ? "ok" : "FAILED"}: ${what}`);
  if (!ok) failures += 1;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitFor(url, log) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer:\n${log()}`);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "ce-console-"));
// The service watches a copy of the example challenges: a step breaks a file on disk.
const rules = path.join(work, "challenges");
fs.cpSync(path.join(root, "challenges"), rules, { recursive: true });
const [http, metrics] = [await freePort(), await freePort()];
const base = `http://127.0.0.1:${http}/challenge`;
let output = "";
const service = spawn(path.join(binDir, "service"), ["--migrate"], {
  env: {
    ...process.env,
    DATABASE_URL: `sqlite://${path.join(work, "console.db")}`,
    CHALLENGE_CONFIG_PATH: rules,
    HTTP_PORT: String(http),
    METRICS_PORT: String(metrics),
    SERVE_GRPC_EVENTS: "false",
    PLUGIN_GRPC_SERVER_AUTH_ENABLED: "false",
    REWARD_CLIENT_MODE: "mock",
    EVENT_ARCHIVE_SAMPLE: "1",
    LOG_LEVEL: "warn",
  },
  stdio: ["ignore", "pipe", "pipe"],
});
service.stdout.on("data", (d) => (output += d));
service.stderr.on("data", (d) => (output += d));

/// Every tab reads as text: no element shows `[object …]` (a node or array put where text goes),
/// and the page is no wider than the window.
async function readable(page, what) {
  const found = await page.evaluate(() => {
    const objects = [...document.querySelectorAll("body *")]
      .filter((node) => [...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.includes("[object")))
      .map((node) => node.tagName.toLowerCase() + ": " + node.textContent.slice(0, 80));
    return { objects, width: document.documentElement.scrollWidth, window: window.innerWidth };
  });
  check(found.objects.length === 0, `${what}: no element shows [object …] (${found.objects.join("; ")})`);
  check(found.width <= found.window, `${what}: the page is no wider than the window (${found.width} ≤ ${found.window} px)`);
}

let browser;
try {
  await waitFor(`${base}/healthz`, () => output);

  // Archived traffic: six players level up, to 8, 10, …, 18.
  const events = [];
  for (let p = 0; p < 6; p++) {
    for (const [n, level] of [[1, 4], [2, 8 + 2 * p]]) {
      events.push({ kind: "stat", id: `lvl-${p}-${n}`, userId: `player-${p}`, statCode: "player_level",
        latestValue: level, inc: 4 });
    }
  }
  const posted = await fetch(`${base}/v1/events`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(events),
  });
  check(posted.ok, `archived traffic posted (${posted.status})`);

  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on("pageerror", (err) => check(false, `no script error in the page (${err.message})`));

  console.log("console 1. the page loads and lists the example challenges");
  await page.goto(`${base}/console`);
  await page.waitForSelector("#challenge-achievements tr[data-goal=level-20]");
  for (const id of ["achievements", "daily-missions", "login-rewards", "weekly-missions", "winter-2026"]) {
    check(await page.isVisible(`#challenge-${id}`), `challenge ${id} is listed`);
  }
  check((await page.textContent("#challenge-achievements tr[data-goal=level-20]")).includes("50 GEMS"),
    "a goal shows its reward");
  const chest = await page.textContent("#challenge-treasure-chests tr[data-goal=bronze-chest]");
  check(chest.includes("100 GOLD") && chest.includes("one of:") && chest.includes("80 % · 1 × 1a2b3c4d") &&
    chest.includes("5 % · 1 × 3c4d5e6f"), `a bundle shows every part, a table its odds (${chest.trim().slice(0, 200)})`);
  check((await page.textContent("#challenge-treasure-chests tr[data-goal=gold-chest]")).includes("granted as it completes"),
    "a claim: auto goal says so");
  const veteran = await page.textContent("#challenge-weekly-missions tr[data-goal=weekly-veteran]");
  check(veteran.includes("own rotation: rotates weekly, keeps progress"),
    `a goal's own rotation shows (${veteran.trim().slice(0, 160)})`);
  check(veteran.includes("Progress carries over"), "a goal's description shows");
  const tags = await page.$$eval("#challenge-winter-2026 .pill.tag", (pills) => pills.map((p) => p.textContent));
  check(["seasonal", "winter", "combat"].every((t) => tags.includes(t)),
    `a challenge's and a goal's tags show (${tags.join(", ")})`);
  check((await page.textContent("#challenge-achievements tr[data-goal=ranked-points-1000]")).includes("progress progress + event.inc"),
    "a count: expr goal shows its progress expression");
  await page.fill("#rules-search", "headshot");
  check(await page.isVisible("#challenge-daily-missions tr[data-goal=daily-headshots]") &&
    !(await page.isVisible("#challenge-daily-missions tr[data-goal=daily-win-3]")) &&
    !(await page.isVisible("#challenge-achievements")), "the search keeps only the goals that match");
  await page.fill("#rules-search", "");
  check(await page.isVisible("#challenge-achievements"), "an empty search shows everything again");
  await readable(page, "rules");
  await page.screenshot({ path: path.join(shots, "1-rules.png"), fullPage: true });

  console.log("console 2. a broken edit shows its diagnostic at its line");
  await page.click("#tabs button[data-tab=editor]");
  await page.selectOption("#file", "achievements.yaml");
  await page.waitForFunction(() => document.querySelector("#source").value.includes("level-20"));
  const original = await page.inputValue("#source");
  const brokenLine = original.split("\n").findIndex((l) => l.includes("target: 20")) + 1;
  await page.fill("#source", original.replace("target: 20", "target: twenty"));
  await page.waitForSelector(`#diagnostics li.error[data-line="${brokenLine}"]`);
  check(true, `the diagnostic of \`target: twenty\` is at line ${brokenLine}`);
  check(await page.isVisible(`#gutter span.err[data-line="${brokenLine}"]`), "the gutter marks the line");
  check(!/\bnull\b|undefined/.test(await page.textContent("#diagnostics")), "the diagnostics read as text");
  await readable(page, "editor");
  await page.screenshot({ path: path.join(shots, "2-diagnostic.png"), fullPage: true });

  // The edit the next steps try: level 20 becomes level 10; the designer can take it away.
  await page.fill("#source", original.replace("target: 20", "target: 10"));
  await page.waitForSelector("#diagnostics li[data-line]");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
  const saved = fs.readFileSync(await download.path(), "utf8");
  check(download.suggestedFilename() === "achievements.yaml" && saved.includes("target: 10"),
    "Download saves the edited file under its name");

  console.log("console 3. a simulated event completes a goal");
  // From the goal's row: "Try it" opens the simulator with an event the goal listens to.
  await page.click("#tabs button[data-tab=rules]");
  await page.click("#challenge-achievements tr[data-goal=level-20] button.try");
  check(await page.isVisible("#tab-simulate"), "Try it opens the simulator");
  check((await page.inputValue("#ev-stat")) === "player_level", "with the goal's stat code");
  await page.check("input[name=sim-rules][value=edit]");
  await page.fill("#ev-user", "designer-1");
  await page.fill("#ev-value", "12");
  await page.fill("#ev-inc", "2");
  await page.click("#add-event");
  await page.click("#run-simulate");
  const completed = "#simulate-results tr[data-goal=level-20].moved td.completed";
  await page.waitForSelector(completed);
  check((await page.textContent(completed)).includes("not_started → completed"),
    "level 12 completes level-20 under the edit (target 10)");
  check((await page.textContent(completed)).includes("grants 50 GEMS") &&
    (await page.textContent("#simulate-status")).includes("once claimed they grant 50 GEMS"),
    "the completion says what it grants");
  await readable(page, "simulate");
  await page.screenshot({ path: path.join(shots, "3-simulate.png"), fullPage: true });

  console.log("console 4. the replay comparison renders");
  await page.click("#tabs button[data-tab=replay]");
  await page.click("#run-replay");
  const row = "#replay-results tr[data-goal=level-20]";
  await page.waitForSelector(row);
  const text = await page.textContent(row);
  // Deployed target 20: nobody (levels 8 to 18); edited target 10: levels 10 to 18.
  check(text.includes("0 → 5"), `level-20: 0 players before, 5 after (${text.trim()})`);
  const replayed = await page.textContent("#replay-status");
  check(replayed.includes("6 player(s)"), "six archived players replayed");
  check(replayed.includes("rule test(s) fail") && await page.isVisible("#replay-results .failing-tests"),
    `the edit's failing rule test is called out (${replayed})`);
  check((await page.getAttribute("#replay-results tbody tr:first-child", "data-goal")) === "level-20",
    "the changed goal is the first row");
  check(await page.getAttribute(row, "class") === "moved", "and it is highlighted");
  check(!/\bnull\b|undefined/.test(await page.textContent("#replay-results")), "the comparison reads as text");
  const gems = await page.textContent("#replay-results .rewards tr[data-reward=GEMS]");
  check(gems.includes("+250") && gems.includes("GEMS/day more"),
    `the edit's extra rewards per day show (${gems.trim()})`);
  await readable(page, "replay");
  await page.screenshot({ path: path.join(shots, "4-replay.png"), fullPage: true });

  console.log("console 5. a player's explain shows the events that reached the goal");
  await page.click("#tabs button[data-tab=explain]");
  await page.fill("#explain-user", "player-5");
  await page.selectOption("#explain-goal", "achievements/level-20");
  await page.click("#run-explain");
  await page.waitForSelector("#explain-results table");
  check((await page.textContent("#explain-results")).includes("lvl-5-2"), "the last event is listed");
  const summary = await page.textContent("#explain-results dl");
  check(summary.includes("progress") && summary.includes("18 / 20") && summary.includes("in_progress"),
    `the summary shows status, progress and target (${summary.trim().slice(0, 120)})`);
  await readable(page, "explain");
  await page.screenshot({ path: path.join(shots, "5-explain.png"), fullPage: true });

  console.log("console 6. support finds a player and sees every goal's stored progress");
  await page.click("#tabs button[data-tab=player]");
  await page.fill("#player-user", "player-5");
  await page.click("#run-player");
  const stored = "#player-achievements tr[data-goal=level-20]";
  await page.waitForSelector(stored);
  const storedText = await page.textContent(stored);
  check(storedText.includes("in_progress") && storedText.includes("18 / 20"),
    `level-20 of player-5: in_progress, 18 / 20 (${storedText.trim().slice(0, 100)})`);
  check((await page.textContent("#player-status")).includes("7 challenges"), "the player's seven challenges are listed");
  await readable(page, "player");
  await page.screenshot({ path: path.join(shots, "6-player.png"), fullPage: true });
  await page.click(`${stored} button.explain`);
  await page.waitForFunction(() => document.querySelector("#explain-results")?.textContent.includes("18 / 20"));
  check(await page.isVisible("#tab-explain"), "a goal's Explain opens the explain tab on it");

  console.log("console 7. support completes the goal, with a reason on record");
  await page.click("#tabs button[data-tab=player]");
  await page.click(`${stored} button.fix`);
  await page.waitForSelector("#fix-dialog[open]");
  await page.selectOption("#fix-action", "complete");
  check(await page.isDisabled("#fix-send"), "Apply waits for a reason");
  check((await page.textContent("#fix-status")).includes("reason is required"), "and says so");
  await page.fill("#fix-reason", "ticket 4411: level 20 reached in the old client");
  check(!(await page.isDisabled("#fix-send")), "a reason enables Apply");
  await page.click("#fix-send");
  await page.waitForFunction((sel) => document.querySelector(sel)?.textContent.includes("completed"), stored);
  const fixed = await page.textContent(stored);
  check(fixed.includes("completed") && fixed.includes("20 / 20"), `level-20 of player-5 is completed (${fixed.trim().slice(0, 80)})`);
  await page.waitForFunction(() => document.querySelector("#player-timeline")?.textContent.includes("ticket 4411"))
    .catch(() => {});
  const record = await page.textContent("#player-timeline");
  check(record.includes("ticket 4411") && record.includes("complete") && record.includes("18 in_progress → 20 completed"),
    `the audit log shows the action, its reason, before and after (${record.trim().slice(0, 200)})`);
  await readable(page, "player, after a fix");
  await page.screenshot({ path: path.join(shots, "7-fix.png"), fullPage: true });
  // Then its reward, on the player's behalf, through the same dialog and reason.
  await page.click(`${stored} button.fix`);
  await page.waitForSelector("#fix-dialog[open]");
  await page.selectOption("#fix-action", "grant");
  check(await page.isHidden("#fix-progress-label"), "a grant asks no progress");
  await page.fill("#fix-reason", "ticket 4411: reward for level 20");
  await page.click("#fix-send");
  await page.waitForFunction((sel) => document.querySelector(sel)?.textContent.includes("claimed"), stored);
  await page.waitForFunction(() => document.querySelector("#player-timeline")?.textContent.includes("granted"))
    .catch(() => {});
  const granted = await page.textContent("#player-timeline");
  check(granted.includes("grant") && granted.includes("granted 50 × GEMS"),
    `the grant is on record with its reward (${granted.trim().slice(0, 160)})`);

  console.log("console 8. a player with events under two rule sets: explain says which rules applied each");
  const achievements = path.join(rules, "achievements.yaml");
  const hashBefore = (await (await fetch(`${base}/v1/rules`)).json()).contentHash;
  fs.appendFileSync(achievements, "\n# reviewed for the winter season\n");
  for (let i = 0; i < 100; i++) {
    const loaded = await (await fetch(`${base}/v1/rules`)).json();
    if (loaded.contentHash !== hashBefore) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const later = await fetch(`${base}/v1/events`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify([{ kind: "stat", id: "lvl-5-3", userId: "player-5", statCode: "player_level", latestValue: 19, inc: 1 }]),
  });
  check(later.ok, `an event under the new rules (${later.status})`);
  await page.click("#tabs button[data-tab=explain]");
  await page.fill("#explain-user", "player-5");
  await page.selectOption("#explain-goal", "achievements/level-20");
  await page.click("#run-explain");
  await page.waitForFunction(() => document.querySelector("#explain-results")?.textContent.includes("lvl-5-3"));
  const older = await page.$$eval("#explain-results tbody tr", (rows) =>
    rows.map((r) => [r.textContent.includes("lvl-5-3"), !!r.querySelector(".applied-under")]));
  check(older.length >= 3 && older.every(([isNew, under]) => isNew !== under),
    `the two earlier events say "applied under the rules of …", the new one does not (${JSON.stringify(older)})`);
  check((await page.textContent("#explain-results")).includes("applied under the rules of 20"),
    "with the time those rules were loaded");
  await readable(page, "explain, two rule sets");
  await page.screenshot({ path: path.join(shots, "8-two-rule-sets.png"), fullPage: true });

  console.log("console 9. the player's timeline: events with what each did, both rule sets, the claim, support's actions");
  await page.click("#tabs button[data-tab=player]");
  await page.fill("#player-user", "player-5");
  await page.click("#run-player");
  await page.waitForFunction(() => document.querySelector("#player-timeline")?.textContent.includes("lvl-5-3"));
  const kinds = await page.$$eval("#player-timeline tbody tr", (rows) => rows.map((r) => r.dataset.type));
  check(kinds[0] === "event" && kinds.filter((k) => k === "rules").length === 2 && kinds.includes("claim") &&
    kinds.filter((k) => k === "support").length === 2 && kinds.filter((k) => k === "event").length === 3,
    `newest first: the new event, two rule sets, the claim, two support actions, three events (${kinds.join(", ")})`);
  const timeline = await page.textContent("#player-timeline");
  check(timeline.includes("applied under the rules of 20") && timeline.includes("rules in use") &&
    timeline.includes("granted") && timeline.includes("50 × GEMS") && timeline.includes("reason: ticket 4411") &&
    timeline.includes("achievements/level-20: "),
    `each entry says what it did (${timeline.trim().slice(0, 300)})`);
  await readable(page, "player timeline");
  await page.screenshot({ path: path.join(shots, "9-timeline.png"), fullPage: true });

  console.log("console 10. a reload rejected on disk shows in red, with its diagnostics");
  const file = path.join(rules, "achievements.yaml");
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("target: 20", "target: twenty"));
  for (let i = 0; i < 100; i++) {
    const loaded = await (await fetch(`${base}/v1/rules`)).json();
    if (loaded.lastError) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.reload();
  await page.waitForSelector("#reload-error");
  const rejected = await page.textContent("#reload-error");
  check(rejected.includes("rejected") && rejected.includes("achievements.yaml") && rejected.includes("twenty"),
    `the rejected reload names the file and the mistake (${rejected.trim().slice(0, 160)})`);
  check(await page.isVisible("#reload-error"), "on every tab (here: the one the page reopened on)");
  await page.click("#tabs button[data-tab=rules]");
  check(!(await page.textContent("#rules-summary")).includes("all passing"),
    "the summary does not call the rules on disk passing");
  check(await page.isVisible("#challenge-achievements tr[data-goal=level-20]"), "the deployed rules are still listed");
  await readable(page, "rules, after a rejected reload");
  await page.screenshot({ path: path.join(shots, "10-rejected-reload.png"), fullPage: true });
} catch (err) {
  console.error(err);
  console.error(`--- service output ---\n${output.slice(-4000)}`);
  failures += 1;
} finally {
  if (browser) await browser.close();
  service.kill("SIGTERM");
  fs.rmSync(work, { recursive: true, force: true });
}
if (failures) {
  console.error(`console: ${failures} check(s) failed; screenshots in ${shots}`);
  process.exit(1);
}
console.log(`console: all checks passed; screenshots in ${shots}`);
