// The chat page of bitnet-server in a real browser: Debian's chromium, headless, driven by
// puppeteer-core (test_serve_browser.sh runs this against a server it started).
//   node serve_browser.cjs NODE_MODULES CHROMIUM URL API_KEY SCREENSHOT NAME
// The server wants API_KEY: the page must show its key field, which the test fills in.
// Prints "ok - NAME/case" / "not ok - NAME/case" lines; exits 0 unless it could not run.
"use strict";
const path = require("path");
const [nodeModules, chromium, url, apiKey, screenshot, name] = process.argv.slice(2);
const puppeteer = require(path.join(nodeModules, "puppeteer-core"));

const ok = (c) => console.log(`ok - ${name}/${c}`);
const notOk = (c, why) => console.log(`not ok - ${name}/${c}\n    ${why}`);
const check = (c, cond, why) => (cond ? ok(c) : notOk(c, why));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// In the page, before a message is sent: records in window.replyLengths the length of every
// text the assistant bubbles are given. A MutationObserver sees each update however fast the
// tokens come (polling every 10 ms missed all but the last of a small model's 40 tokens when
// they arrived within one interval).
function watchReplies() {
  window.replyLengths = [];
  const note = (records) => {
    for (const rec of records) {
      if (!rec.target.classList || !rec.target.classList.contains("assistant")) continue;
      for (const node of rec.addedNodes) if (node.nodeType === Node.TEXT_NODE) window.replyLengths.push(node.data.length);
    }
  };
  window.replyObserver = new MutationObserver(note);
  window.replyObserver.observe(document.body, { childList: true, subtree: true });
  window.replyObserverNote = note;
}

// In the page: waits until the stats line shows a speed and the last assistant bubble no
// longer streams (or timeoutMs); returns the lengths watchReplies saw and the stats text.
function sampleReply(timeoutMs) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const tick = () => {
      const bubbles = document.querySelectorAll(".msg.assistant");
      const last = bubbles[bubbles.length - 1];
      const stats = document.getElementById("stats").textContent;
      const streaming = last && last.classList.contains("streaming");
      if ((!streaming && /tokens\/s/.test(stats)) || performance.now() - t0 > timeoutMs) {
        window.replyObserverNote(window.replyObserver.takeRecords());
        window.replyObserver.disconnect();
        resolve({ lengths: window.replyLengths, stats });
      } else setTimeout(tick, 10);
    };
    tick();
  });
}

async function typeAndSend(page, text) {
  await page.click("#input");
  await page.type("#input", text);
  await page.click("#send");
}

async function firstReply(page, bodies) {
  await page.$eval("#system", (e) => { e.value = "You are terse."; });
  await page.$eval("#temperature", (e) => { e.value = "0"; });
  await page.$eval("#max_tokens", (e) => { e.value = "40"; });
  await page.evaluate(watchReplies);
  await typeAndSend(page, "Hello there");
  const { lengths, stats } = await page.evaluate(sampleReply, 30000);
  const text = await page.$eval(".msg.assistant", (e) => e.textContent);
  const distinct = new Set(lengths.filter((n) => n > 0));
  check("reply_appears", text.length > 0, `assistant bubble empty; stats '${stats}'`);
  check("reply_grows_while_streaming", distinct.size >= 2, `lengths seen: ${[...distinct].join(",")}`);
  check("tokens_per_second_shown", /[0-9.]+ tokens\/s/.test(stats) && /finish: (length|stop)/.test(stats), `stats line: '${stats}'`);
  const sent = bodies[0] || {};
  check("request_has_settings", sent.stream === true && sent.stream_options && sent.stream_options.include_usage === true &&
    sent.temperature === 0 && sent.max_tokens === 40 && sent.top_k === 40 && sent.top_p === 0.95 &&
    sent.messages[0].role === "system", JSON.stringify(sent));
  await page.screenshot({ path: screenshot, fullPage: true });
  ok("screenshot");
}

async function stoppedReply(page, bodies, base) {
  await page.$eval("#max_tokens", (e) => { e.value = "900"; });
  await page.$eval("#temperature", (e) => { e.value = "1"; });
  await page.$eval("#seed", (e) => { e.value = "7"; });
  await typeAndSend(page, "Tell me a very long story");
  await page.waitForFunction(() => {
    const b = document.querySelectorAll(".msg.assistant");
    return b.length === 2 && b[1].textContent.length > 0;
  }, { timeout: 20000 });
  await page.click("#stop");
  await page.waitForFunction(() => !document.querySelector(".msg.streaming"), { timeout: 5000 });
  const n1 = await page.$$eval(".msg.assistant", (b) => b[1].textContent.length);
  await sleep(700);
  const n2 = await page.$$eval(".msg.assistant", (b) => b[1].textContent.length);
  const note = await page.$$eval(".msg.assistant", (b) => b[1].textContent);
  const sendEnabled = await page.$eval("#send", (e) => !e.disabled);
  check("stop_ends_stream", n1 === n2 && /\(stopped\)/.test(note) && sendEnabled, `lengths ${n1} then ${n2}, send enabled ${sendEnabled}`);
  const msgs = (bodies[1] || {}).messages || [];
  check("conversation_kept", msgs.length === 4 && msgs[2].role === "assistant" && msgs[3].content === "Tell me a very long story",
    JSON.stringify(msgs.map((m) => m.role)));
  let idle = false;
  for (let i = 0; i < 50 && !idle; i++) {
    const slots = await (await fetch(base + "/slots", { headers: { Authorization: "Bearer " + apiKey } })).json();
    idle = slots.every((s) => !s.is_processing);
    if (!idle) await sleep(100);
  }
  check("stop_frees_slot", idle, "a slot still generates 5 s after the stop");
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true, // puppeteer passes --headless=new
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1100, height: 700 });
    const bodies = [];
    page.on("request", (r) => { if (r.url().endsWith("/v1/chat/completions")) bodies.push(JSON.parse(r.postData() || "{}")); });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const res = await page.goto(url + "/", { waitUntil: "load" });
    check("page_loads", res.status() === 200 && (await page.title()) === "bitnet chat", `status ${res.status()}`);
    await page.waitForFunction(() => document.getElementById("keybox").classList.contains("shown"), { timeout: 10000 });
    ok("key_field_shown");
    await page.type("#apikey", apiKey);
    await page.keyboard.press("Tab"); // "change": the page asks /v1/models again, with the key
    await page.waitForFunction(() => /^model: /.test(document.getElementById("model").textContent), { timeout: 10000 });
    ok("model_named_with_key");
    await firstReply(page, bodies);
    await stoppedReply(page, bodies, url);
    check("no_page_errors", errors.length === 0, errors.join("; "));
  } catch (e) {
    notOk("browser_run", String(e && e.stack || e).split("\n").slice(0, 4).join(" | "));
  } finally {
    await browser.close();
  }
})();
