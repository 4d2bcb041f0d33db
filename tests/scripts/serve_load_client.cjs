// serve_load_client: load and fail-over clients for bitnet-server, on Node's own http module
// (no packages). Prints "ok - LABEL/name" / "not ok - LABEL/name" lines (tests/scripts/lib.sh).
//
//   node serve_load_client.cjs reference URL OUT.json LABEL
//       runs every request of the reference set alone, one after the other (greedy, plain),
//       and writes the replies' texts to OUT.json.
//   node serve_load_client.cjs load URL REFS.json CLIENTS REQUESTS SEED LABEL
//       CLIENTS concurrent clients send REQUESTS mixed requests (chat and completions, plain and
//       streamed, some cancelled mid-stream by closing the socket, some malformed), drawn from a
//       PRNG seeded with SEED; a 503 (the queue is full, by design) is retried after 50 ms, up to
//       100 times. Passes when no reply has another 5xx status, every malformed request gets
//       400, every completed reply equals its reference text, the queue was full at least once,
//       and at least 3/4 of the greedy requests completed and were compared.
//   node serve_load_client.cjs failover LB_URL REPLICA_A_URL REPLICA_B_URL KILL_PID REQUESTS LABEL
//       2 clients send a steady stream of REQUESTS requests through the load balancer (which
//       names the replica that answered in an X-Bitnet-Upstream header); after a third of them,
//       while a stream on replica A is under way, the process KILL_PID (replica A) gets SIGKILL.
//       Passes when both replicas served requests before, the requests that fail (a 5xx or a
//       cut stream) were all in flight at the kill and are at most 2, and every other request
//       gets the reference reply.
//       First, a stream must come through token by token (its first event long before its end).
'use strict';
const http = require('http');
const fs = require('fs');

let label = 'client';
let failures = 0;
function check(name, cond, detail) {
    if (cond) {
        console.log(`ok - ${label}/${name}`);
        return;
    }
    failures++;
    console.log(`not ok - ${label}/${name}`);
    if (detail !== undefined) console.log(`    ${typeof detail === 'string' ? detail : JSON.stringify(detail).slice(0, 600)}`);
}

// ---- requests -------------------------------------------------------------------------------

const PROMPTS = ['Once upon a time', 'The capital of France is', 'List three colours:', 'def fibonacci(n):'];
const MAX_TOKENS = 8;
const BUSY_TRIES = 100, BUSY_PAUSE_MS = 50;
const SLOTS = 4; // the server's -np (test_serve_load.sh): a quarter of the complete requests ask for one (id_slot)
// Fail-over requests are long enough to be in flight on the killed replica.
const FAILOVER_TOKENS = 48;

// The reference set: chat and completion bodies, greedy, a fixed length.
function referenceBodies() {
    const out = [];
    PROMPTS.forEach((p, i) => {
        out.push({ path: '/v1/completions', body: { prompt: `${p} (${i})`, max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true } });
        out.push({ path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: `${p} (${i})` }],
            max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true } });
    });
    return out;
}

// Bodies that must get 400.
const MALFORMED = [
    ['/v1/chat/completions', '{"messages":[{"role":'],
    ['/v1/chat/completions', 'not json at all'],
    ['/v1/completions', '[1,2,3]'],
    ['/v1/chat/completions', '{"messages":[]}'],
    ['/v1/chat/completions', '{"messages":[{"role":"wizard","content":"Hi"}]}'],
    ['/v1/completions', '{"prompt":"Hi","max_tokens":-1}'],
    ['/v1/completions', '{"prompt":[1,2,999999999]}'],
    ['/v1/completions', '{"prompt":"Hi","temperature":"hot"}'],
];

// The text of a plain reply or of an SSE stream; done: the stream ended with [DONE].
function replyText(raw, streamed) {
    if (!streamed) {
        const j = JSON.parse(raw);
        const c = j.choices[0];
        return { text: c.message ? c.message.content : c.text, done: true, error: null };
    }
    let text = '', done = false, error = null;
    for (const line of raw.split('\n')) {
        if (line === 'data: [DONE]') done = true;
        else if (line.startsWith('data: ')) {
            const j = JSON.parse(line.slice(6));
            if (j.error) error = j.error.message;
            for (const c of j.choices || []) text += (c.delta ? c.delta.content : c.text) || '';
        }
    }
    return { text, done, error };
}

// POST one request. cancel: close the socket after the first data line; onFirstData(headers)
// is called when the first body bytes arrive. Resolves to
// {status, raw, streamed, cut (the connection failed or ended early), cancelled, error,
// firstAt and endAt (Date.now() of the first body bytes and of the end)}.
function post(base, path, body, { cancel = false, timeoutMs = 60000, onFirstData = null } = {}) {
    return new Promise((resolve) => {
        const u = new URL(path, base);
        const data = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
        const out = { status: 0, raw: '', streamed: false, cut: false, cancelled: false, error: null };
        let settled = false;
        const finish = () => { if (!settled) { settled = true; out.endAt = Date.now(); resolve(out); } };
        const req = http.request(u, { method: 'POST', agent: false, timeout: timeoutMs,
            headers: { 'Content-Type': 'application/json', 'Content-Length': data.length } }, (res) => {
            out.status = res.statusCode;
            out.streamed = /event-stream/.test(res.headers['content-type'] || '');
            res.setEncoding('utf8');
            res.on('data', (chunk) => {
                if (!out.raw) {
                    out.firstAt = Date.now();
                    if (onFirstData) onFirstData(res.headers);
                }
                out.raw += chunk;
                if (cancel && out.streamed && out.raw.includes('data: ')) {
                    out.cancelled = true;
                    req.destroy();
                    finish();
                }
            });
            res.on('end', finish);
            res.on('aborted', () => { if (!out.cancelled) out.cut = true; });
            res.on('error', (e) => { if (!out.cancelled) { out.cut = true; out.error = String(e); } finish(); });
            res.on('close', () => { if (!res.complete && !out.cancelled) out.cut = true; finish(); });
        });
        req.on('timeout', () => { out.error = 'timeout'; req.destroy(new Error('timeout')); });
        req.on('error', (e) => { if (!out.cancelled) { out.cut = true; out.error = out.error || String(e); } finish(); });
        req.end(data);
    });
}

function get(base, path) {
    return new Promise((resolve) => {
        http.get(new URL(path, base), { agent: false, timeout: 10000 }, (res) => {
            let raw = '';
            res.setEncoding('utf8');
            res.on('data', (c) => { raw += c; });
            res.on('end', () => resolve({ status: res.statusCode, raw }));
        }).on('error', (e) => resolve({ status: 0, raw: String(e) }));
    });
}

// A deterministic PRNG (mulberry32).
function prng(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6D2B79F5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// Runs tasks[i]() with `clients` at a time; resolves to their results in order.
async function pool(tasks, clients) {
    const results = new Array(tasks.length);
    let next = 0;
    const worker = async () => {
        while (next < tasks.length) {
            const i = next++;
            results[i] = await tasks[i]();
        }
    };
    await Promise.all(Array.from({ length: clients }, worker));
    return results;
}

// The reference text of one completed reply; the comparison's verdict as a string ('' = good).
function verdict(r, want) {
    if (r.status !== 200) return `status ${r.status}`;
    if (r.cut) return `cut: ${r.error}`;
    let got;
    try { got = replyText(r.raw, r.streamed); } catch (e) { return `unparsable reply: ${r.raw.slice(0, 200)}`; }
    if (got.error) return `error event: ${got.error}`;
    if (!got.done) return 'no [DONE]';
    return got.text === want ? '' : `text ${JSON.stringify(got.text)} != reference ${JSON.stringify(want)}`;
}

// ---- modes ----------------------------------------------------------------------------------

async function reference(base, outFile) {
    const refs = [];
    for (const { path, body } of referenceBodies()) {
        const r = await post(base, path, body);
        if (r.status !== 200) throw new Error(`reference request failed: ${r.status} ${r.raw.slice(0, 200)}`);
        refs.push(replyText(r.raw, false).text);
    }
    fs.writeFileSync(outFile, JSON.stringify(refs));
    check('reference_set', refs.length === referenceBodies().length && refs.every((t) => t.length > 0), refs);
}

// The plan of one load run: [{kind: 'complete'|'cancel'|'malformed', ...}].
function loadPlan(n, seed) {
    const rnd = prng(seed), refs = referenceBodies(), plan = [];
    for (let i = 0; i < n; i++) {
        const x = rnd(), ref = Math.floor(rnd() * refs.length);
        if (x < 0.15) plan.push({ kind: 'malformed', m: MALFORMED[Math.floor(rnd() * MALFORMED.length)] });
        else if (x < 0.3) plan.push({ kind: 'cancel', ref, body: { ...refs[ref].body, max_tokens: 64, stream: true } });
        else {
            const body = { ...refs[ref].body, stream: rnd() < 0.5 };
            if (rnd() < 0.25) body.id_slot = Math.floor(rnd() * SLOTS); // the same reply in any slot
            plan.push({ kind: 'complete', ref, body });
        }
    }
    return plan;
}

async function load(base, refsFile, clients, n, seed) {
    const refText = JSON.parse(fs.readFileSync(refsFile, 'utf8')), refs = referenceBodies(), plan = loadPlan(n, seed);
    const t0 = Date.now();
    const counts = { complete: 0, identical: 0, busy503: 0, gave_up: 0, cancelled: 0, malformed400: 0 };
    // A 503 (the queue is full) is retried after a pause, as a client that honours it would.
    const send = async (p) => {
        for (let tries = 1; ; tries++) {
            const r = p.kind === 'malformed' ? await post(base, p.m[0], p.m[1])
                : await post(base, refs[p.ref].path, p.body, { cancel: p.kind === 'cancel' });
            if (r.status !== 503 || tries === BUSY_TRIES) return r;
            counts.busy503++;
            await new Promise((resolve) => setTimeout(resolve, BUSY_PAUSE_MS));
        }
    };
    const results = await pool(plan.map((p) => () => send(p)), clients);
    const bad = [];
    results.forEach((r, i) => {
        const p = plan[i];
        if (r.status >= 500 && r.status !== 503) bad.push(`#${i} ${p.kind}: status ${r.status} ${r.raw.slice(0, 200)}`);
        else if (r.status === 503) counts.gave_up++;
        else if (p.kind === 'malformed') {
            if (r.status === 400) counts.malformed400++;
            else bad.push(`#${i} malformed ${p.m[1]}: status ${r.status}`);
        } else if (p.kind === 'cancel') {
            if (r.cancelled || (r.status === 200 && !r.cut)) counts.cancelled++;
            else bad.push(`#${i} cancel: status ${r.status} ${r.error}`);
        } else {
            counts.complete++;
            const v = verdict(r, refText[p.ref]);
            if (v) bad.push(`#${i} ${p.body.stream ? 'stream' : 'plain'} ${refs[p.ref].path}: ${v}`);
            else counts.identical++;
        }
    });
    const summary = `${n} requests in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(counts)}`;
    check(`load_${n}_requests (${summary})`, bad.length === 0, bad.slice(0, 5).join('\n    '));
    // Not vacuous: the queue filled up at times, and most greedy requests got through it (a
    // client gives up after BUSY_TRIES 503s in a row) and were compared.
    check('queue_full_503_seen', counts.busy503 > 0, summary);
    const planned = plan.filter((p) => p.kind === 'complete').length;
    check('most_replies_compared', counts.identical >= planned * 0.75, summary);
}

async function failover(lb, a, b, killPid, n) {
    if (!(killPid > 1)) throw new Error(`not a process id to kill: ${killPid}`);
    const refs = referenceBodies().slice(0, 2), want = [];
    for (const { path, body } of refs)
        want.push(replyText((await post(lb, path, { ...body, max_tokens: FAILOVER_TOKENS })).raw, false).text);
    // A stream comes through token by token: the first event arrives well before the last. (This
    // holds with nginx 1.22's proxy_buffering on, too: it does not test that setting.)
    const t0 = Date.now(), s = await post(lb, refs[0].path, { ...refs[0].body, max_tokens: 64, stream: true });
    check(`stream_incremental (first event after ${s.firstAt - t0} ms, end after ${s.endAt - t0} ms)`,
        s.status === 200 && s.firstAt - t0 < (s.endAt - t0) / 2, s.raw.slice(0, 200));
    // The test's nginx config adds X-Bitnet-Upstream ($upstream_addr): which replica answered.
    const seen = new Set(), hostA = new URL(a).host;
    let done = 0, killedAt = 0, bothServed = false;
    const kill = () => {
        if (killedAt) return;
        bothServed = seen.has(hostA) && seen.has(new URL(b).host);
        process.kill(killPid, 'SIGKILL');
        killedAt = Date.now();
    };
    // The kill comes once a third of the requests are done, while a stream on replica A is under
    // way (its client must see the stream cut), or after two thirds in any case.
    const onFirstData = (headers) => {
        const up = headers['x-bitnet-upstream'] || '';
        if (!killedAt) seen.add(up);
        if (done >= n / 3 && up === hostA && /event-stream/.test(headers['content-type'] || '')) kill();
    };
    const tasks = Array.from({ length: n }, (_, i) => async () => {
        if (done >= (2 * n) / 3) kill();
        const ref = i % 2, start = Date.now();
        const r = await post(lb, refs[ref].path, { ...refs[ref].body, max_tokens: FAILOVER_TOKENS, stream: i % 4 >= 2 },
            { onFirstData });
        done++;
        return { start, end: Date.now(), why: verdict(r, want[ref]) };
    });
    const results = await pool(tasks, 2);
    const failed = results.filter((r) => r.why);
    const afterKill = results.filter((r) => r.start > killedAt && killedAt);
    check('both_replicas_served_before_the_kill', bothServed, [...seen]);
    check(`failed_only_in_flight_at_the_kill (${failed.length} failed of ${n}: ${failed.map((r) => r.why).join('; ')})`,
        killedAt > 0 && failed.length <= 2 && failed.every((r) => r.start <= killedAt && r.end >= killedAt), failed);
    check(`all_later_requests_succeed (${afterKill.length} after the kill)`,
        afterKill.length >= n / 2 && afterKill.every((r) => !r.why), afterKill.filter((r) => r.why));
}

(async () => {
    const [mode, ...args] = process.argv.slice(2);
    try {
        label = args[args.length - 1];
        if (mode === 'reference') await reference(args[0], args[1]);
        else if (mode === 'load') await load(args[0], args[1], +args[2], +args[3], +args[4]);
        else if (mode === 'failover') await failover(args[0], args[1], args[2], +args[3], +args[4]);
        else throw new Error(`unknown mode '${mode}'`);
    } catch (e) {
        check(`${mode}_threw`, false, String(e && e.stack || e));
    }
    process.exit(failures ? 1 : 0);
})();
