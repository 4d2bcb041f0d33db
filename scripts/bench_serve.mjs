#!/usr/bin/env node
// bench_serve.mjs: the load generator of `make bench-serve` (scripts/bench_serve.sh runs it).
//
// Starts each server (ours: `bitnet-server ... --port 0`, which prints `listening on
// http://HOST:PORT`; llama-server on a free port it is given), waits for /health, sends one
// warm-up request, then, alternating the engines at every step (A B, then B A in the next
// round), measures with streaming OpenAI /v1/completions requests (prompt as token ids,
// temperature 0, ignore_eos, so that every request generates exactly max_tokens):
//   - levels: C concurrent clients (1, 4, 8) pulling requests from a shared queue; per request
//     the time to the first SSE chunk with text (TTFT) and the tokens generated
//     (usage.completion_tokens, else the chunks); per level the aggregate generated tokens/s
//     over the level's wall time (first request sent to last request done), TTFT p50/p99;
//   - a new request's TTFT on the idle server, and while BG (7) other requests are generating
//     (each probe is sent only once every background request has its first token).
// Every prompt is distinct (seeded random ids in [1000, 128000): no prefix cache helps) and
// the same for both engines. Traffic goes to 127.0.0.1 only. Bounded: a deadline for the
// whole run and a timeout per request; any failed request (status, wrong token count, error
// chunk) fails the run after the report, except llama-server's known refusal of its own
// output (a random-weight model can generate invalid UTF-8, which its chat parser rejects
// with a 500 error chunk mid-stream, even on /v1/completions): those are counted and reported.
// The aggregate counts the tokens each request streamed, failed or not. Writes the JSON
// report to --out and prints a table.
//
// Usage: node bench_serve.mjs --model M --out FILE [--ours "CMD ARGS..."] [--llama "PATH EXTRA-ARGS..."]
//   [--threads 2] [--parallel 8] [--clients 1,4,8] [--prompt 128] [--gen 64] [--reqs 2]
//   [--min-reqs 4] [--rounds 1] [--probes 5] [--bg 7] [--bg-gen 256] [--probe-gen 16]
//   [--req-timeout 600] [--deadline 3600] [--seed 1] [--logdir DIR] [--command STRING]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const HOST = '127.0.0.1';
const LLAMA_KNOWN_ERROR = /does not match the expected .* format/;

// ---------- options ----------
function parseArgs(argv) {
    const o = {
        threads: 2, parallel: 8, clients: '1,4,8', prompt: 128, gen: 64, reqs: 2, minReqs: 4,
        rounds: 1, probes: 5, bg: 7, bgGen: 256, probeGen: 16, reqTimeout: 600, deadline: 3600,
        seed: 1, logdir: null, ours: null, llama: null, model: null, out: null, command: '',
    };
    const names = {
        '--model': 'model', '--out': 'out', '--ours': 'ours', '--llama': 'llama', '--threads': 'threads',
        '--parallel': 'parallel', '--clients': 'clients', '--prompt': 'prompt', '--gen': 'gen',
        '--reqs': 'reqs', '--min-reqs': 'minReqs', '--rounds': 'rounds', '--probes': 'probes',
        '--bg': 'bg', '--bg-gen': 'bgGen', '--probe-gen': 'probeGen', '--req-timeout': 'reqTimeout',
        '--deadline': 'deadline', '--seed': 'seed', '--logdir': 'logdir', '--command': 'command',
    };
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--help' || argv[i] === '-h') {
            const src = fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n');
            const end = src.findIndex((l, j) => j > 0 && !l.startsWith('//'));
            console.log(src.slice(1, end).map((l) => l.slice(3)).join('\n'));
            process.exit(0);
        }
        const k = names[argv[i]];
        if (!k || i + 1 >= argv.length) die(`unknown option or missing value: ${argv[i]}`);
        const v = argv[++i];
        o[k] = typeof o[k] === 'number' ? Number(v) : v;
        if (typeof o[k] === 'number' && !Number.isFinite(o[k])) die(`${argv[i - 1]}: not a number: ${v}`);
    }
    if (!o.model || !o.out) die('--model and --out are required');
    if (!o.ours && !o.llama) die('nothing to run: give --ours and/or --llama');
    o.clients = String(o.clients).split(',').map(Number);
    if (o.clients.some((c) => !(c >= 1))) die('--clients: positive integers, comma-separated');
    return o;
}

function die(msg) {
    console.error(`bench-serve: ${msg}`);
    process.exit(2);
}
const log = (msg) => console.error(`bench-serve: ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

// ---------- prompts: distinct, deterministic, the same for both engines ----------
function promptIds(key, n, seed) {
    // xorshift32 from a hash of (seed, key)
    let s = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(key + 1, 0xc2b2ae35)) >>> 0 || 1;
    const ids = [];
    for (let i = 0; i < n; i++) {
        s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
        ids.push(1000 + (s % 127000));
    }
    return ids;
}

// ---------- one streaming request ----------
// Resolves with {ok, status, error, t0, ttft_ms, first_chunk_ms, e2e_ms, tokens, chunks, decode_tok_s}.
let deadlineAt = Infinity;
const inflight = new Set();
function streamRequest(port, body, timeoutS, hooks = {}) {
    return new Promise((resolve) => {
        const data = JSON.stringify(body);
        const t0 = now();
        const r = {
            ok: false, status: 0, error: null, t0, ttft_ms: null, first_chunk_ms: null, e2e_ms: null,
            tokens: 0, chunks: 0, usage_tokens: null, finish_reason: null, decode_tok_s: null,
        };
        let tFirstText = null, tLastText = null, textChunks = 0, done = false, buf = '';
        const finish = (err) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            inflight.delete(req);
            const t1 = now();
            r.e2e_ms = t1 - t0;
            r.tokens = r.usage_tokens ?? textChunks;
            if (tFirstText !== null && tLastText > tFirstText && r.tokens > 1)
                r.decode_tok_s = (r.tokens - 1) / ((tLastText - tFirstText) / 1000);
            if (err) r.error = err;
            else if (r.status !== 200) r.error = `HTTP ${r.status}: ${buf.slice(0, 300)}`;
            else if (r.tokens !== body.max_tokens) r.error = `generated ${r.tokens} tokens, asked for ${body.max_tokens}`;
            r.ok = !r.error;
            if (hooks.onDone) hooks.onDone(r);
            resolve(r);
        };
        const left = Math.min(timeoutS * 1000, deadlineAt - Date.now());
        const timer = setTimeout(() => { req.destroy(); finish(`timed out after ${(left / 1000).toFixed(0)} s`); }, Math.max(left, 1));
        const req = http.request({
            host: HOST, port, method: 'POST', path: '/v1/completions', agent: false,
            headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), Accept: 'text/event-stream' },
        }, (res) => {
            r.status = res.statusCode;
            res.setEncoding('utf8');
            res.on('data', (chunk) => {
                buf += chunk.replace(/\r/g, '');
                if (r.status !== 200) return;
                let i;
                while ((i = buf.indexOf('\n\n')) >= 0) {
                    const ev = buf.slice(0, i);
                    buf = buf.slice(i + 2);
                    for (const line of ev.split('\n')) {
                        if (!line.startsWith('data:')) continue;
                        const payload = line.slice(5).trim();
                        if (payload === '[DONE]') continue;
                        let j;
                        try { j = JSON.parse(payload); } catch { r.error = r.error ?? `bad SSE JSON: ${payload.slice(0, 200)}`; continue; }
                        const t = now();
                        if (r.first_chunk_ms === null) r.first_chunk_ms = t - t0;
                        if (j.error) r.error = r.error ?? `error chunk: ${JSON.stringify(j.error).slice(0, 200)}`;
                        const c = j.choices && j.choices[0];
                        if (c) {
                            r.chunks++;
                            const text = c.text ?? (c.delta && c.delta.content) ?? '';
                            if (text.length > 0) {
                                textChunks++;
                                if (tFirstText === null) {
                                    tFirstText = t;
                                    r.ttft_ms = t - t0;
                                    if (hooks.onFirst) hooks.onFirst(r);
                                }
                                tLastText = t;
                            }
                            if (c.finish_reason) r.finish_reason = c.finish_reason;
                        }
                        if (j.usage && typeof j.usage.completion_tokens === 'number') r.usage_tokens = j.usage.completion_tokens;
                    }
                }
            });
            res.on('end', () => finish(r.error));
            res.on('error', (e) => finish(`response: ${e.message}`));
            res.on('close', () => finish(r.error ?? (res.complete ? null : 'connection closed mid-response')));
        });
        req.on('error', (e) => finish(`request: ${e.message}`));
        req.on('close', () => setImmediate(() => finish(r.error ?? 'connection closed')));
        inflight.add(req);
        req.end(data);
    });
}

function completionBody(o, ids, maxTokens) {
    return {
        prompt: ids, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true,
        stream_options: { include_usage: true },
    };
}

// ---------- servers ----------
function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on('error', reject);
        s.listen(0, HOST, () => { const p = s.address().port; s.close(() => resolve(p)); });
    });
}

function getHealth(port) {
    return new Promise((resolve) => {
        const req = http.get({ host: HOST, port, path: '/health', agent: false, timeout: 2000 }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode));
        });
        req.on('timeout', () => { req.destroy(); resolve(0); });
        req.on('error', () => resolve(0));
    });
}

function cpuSeconds(pid) {
    try {
        const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ 100)
    } catch { return null; }
}

async function startServer(eng, o) {
    const logFile = o.logdir ? path.join(o.logdir, `serve-${eng.name}.log`) : null;
    const logFd = logFile ? fs.openSync(logFile, 'w') : null;
    let port = null, argv;
    if (eng.kind === 'ours') {
        argv = [...eng.cmd, '-m', o.model, '-t', String(o.threads), '--parallel', String(o.parallel), '--host', HOST, '--port', '0'];
    } else {
        port = await freePort();
        argv = [eng.cmd[0], '-m', o.model, '-t', String(o.threads), '-tb', String(o.threads), '--parallel', String(o.parallel),
            '--host', HOST, '--port', String(port), ...eng.cmd.slice(1)];
    }
    eng.argv = argv;
    log(`[${eng.name}] starting: ${argv.join(' ')}${logFile ? ` (log ${logFile})` : ''}`);
    const t0 = now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    eng.child = child;
    let exited = null, errText = '';
    child.on('exit', (code, sig) => { exited = sig ? `signal ${sig}` : `status ${code}`; });
    child.on('error', (e) => { exited = `could not start: ${e.message}`; });
    const onData = (d) => {
        if (logFd !== null) fs.writeSync(logFd, d);
        errText = (errText + d.toString()).slice(-20000);
        if (port === null) {
            const m = errText.match(/listening on http:\/\/([^\s:/]+|\[[^\]]+\]):(\d+)/);
            if (m) {
                if (m[1] !== HOST && m[1] !== 'localhost') { child.kill('SIGKILL'); exited = `listens on ${m[1]}, not ${HOST}`; }
                port = Number(m[2]);
            }
        }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const limit = Date.now() + 600_000;
    for (;;) {
        if (exited) throw new Error(`[${eng.name}] exited before it was ready (${exited}); last output:\n${errText.slice(-2000)}`);
        if (Date.now() > Math.min(limit, deadlineAt)) { child.kill('SIGKILL'); throw new Error(`[${eng.name}] not ready after 600 s`); }
        if (port !== null && (await getHealth(port)) === 200) break;
        await sleep(100);
    }
    eng.port = port;
    eng.ready_s = (now() - t0) / 1000;
    log(`[${eng.name}] ready on port ${port} after ${eng.ready_s.toFixed(1)} s`);
}

async function stopServer(eng) {
    const c = eng.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    if (await Promise.race([gone.then(() => true), sleep(15000).then(() => false)])) return;
    log(`[${eng.name}] did not stop within 15 s of SIGTERM; killing`);
    c.kill('SIGKILL');
    await gone;
}

// ---------- measurements ----------
function pct(values, q) {
    const v = values.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
    if (!v.length) return null;
    return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]; // nearest rank
}
function median(values) {
    const v = values.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
    if (!v.length) return null;
    const h = v.length >> 1;
    return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

async function runLevel(eng, o, clients, keyBase) {
    const n = Math.max(o.minReqs, clients * o.reqs);
    let next = 0;
    const results = [];
    const t0 = now();
    const worker = async () => {
        while (next < n && Date.now() < deadlineAt) {
            const k = next++;
            const r = await streamRequest(eng.port, completionBody(o, promptIds(keyBase + k, o.prompt, o.seed), o.gen), o.reqTimeout);
            r.start_ms = r.t0 - t0;
            delete r.t0;
            results.push(r);
        }
    };
    await Promise.all(Array.from({ length: clients }, worker));
    const wall = (now() - t0) / 1000;
    const good = results.filter((r) => r.ok);
    const started = results.filter((r) => r.ttft_ms !== null);
    const tokens = results.reduce((a, r) => a + r.tokens, 0);
    return {
        clients, requests: n, completed: good.length, failed: results.length - good.length + (n - results.length),
        errors: results.filter((r) => !r.ok).map((r) => r.error).slice(0, 5),
        wall_s: wall, tokens, agg_tok_s: tokens / wall,
        ttft_p50_ms: pct(started.map((r) => r.ttft_ms), 0.5), ttft_p99_ms: pct(started.map((r) => r.ttft_ms), 0.99),
        stream_tok_s_p50: median(good.map((r) => r.decode_tok_s)),
        failed_errors: results.filter((r) => !r.ok).map((r) => r.error),
        requests_detail: results,
    };
}

// TTFT of a probe request on the idle server, then while o.bg background requests are generating.
async function runProbes(eng, o, keyBase) {
    const probe = async (k) => {
        const r = await streamRequest(eng.port, completionBody(o, promptIds(k, o.prompt, o.seed), o.probeGen), o.reqTimeout);
        delete r.t0;
        return r;
    };
    const idle = [];
    for (let i = 0; i < o.probes && Date.now() < deadlineAt; i++) idle.push(await probe(keyBase + i));

    // background: o.bg clients, each looping long requests until stopped
    let stop = false, bgKey = keyBase + 1000;
    const state = Array.from({ length: o.bg }, () => ({ generating: false, requests: 0, failed: 0, errors: [] }));
    const bgClient = async (s) => {
        while (!stop && Date.now() < deadlineAt) {
            s.generating = false;
            const r = await streamRequest(eng.port, completionBody(o, promptIds(bgKey++, o.prompt, o.seed), o.bgGen), o.reqTimeout,
                { onFirst: () => { s.generating = true; } });
            s.generating = false;
            s.requests++;
            if (!r.ok && !stop) { s.failed++; s.errors.push(r.error); await sleep(500); }
        }
    };
    const bgDone = Promise.all(state.map(bgClient));
    const loaded = [];
    try {
        for (let i = 0; i < o.probes && Date.now() < deadlineAt; i++) {
            const waitLimit = Date.now() + o.reqTimeout * 1000;
            while (!state.every((s) => s.generating)) {
                if (Date.now() > Math.min(waitLimit, deadlineAt)) throw new Error('background requests never all generating');
                if (state.some((s) => s.failed > 10)) throw new Error(`background requests fail: ${state.flatMap((s) => s.errors)[0]}`);
                await sleep(20);
            }
            await sleep(250); // a few decode steps in
            const r = await probe(keyBase + 500 + i);
            r.bg_generating_at_first_token = state.filter((s) => s.generating).length;
            loaded.push(r);
        }
    } finally {
        stop = true;
        for (const req of inflight) req.destroy(); // ends the background streams (the server frees their slots)
        await bgDone;
        await sleep(1000); // lets the server notice the closed streams before the next measurement
    }
    const ok = (v) => v.filter((r) => r.ok);
    const started = (v) => v.filter((r) => r.ttft_ms !== null);
    return {
        probes: o.probes, background: o.bg, probe_max_tokens: o.probeGen, background_max_tokens: o.bgGen,
        idle_ttft_p50_ms: median(started(idle).map((r) => r.ttft_ms)),
        loaded_ttft_p50_ms: median(started(loaded).map((r) => r.ttft_ms)),
        loaded_ttft_max_ms: pct(started(loaded).map((r) => r.ttft_ms), 1),
        failed: idle.length + loaded.length - ok(idle).length - ok(loaded).length + (2 * o.probes - idle.length - loaded.length),
        failed_errors: [...idle, ...loaded].filter((r) => !r.ok).map((r) => r.error),
        errors: [...idle, ...loaded].filter((r) => !r.ok).map((r) => r.error).slice(0, 5),
        background_failed: state.reduce((a, s) => a + s.failed, 0),
        idle: idle, loaded: loaded,
    };
}

// ---------- machine ----------
function machine() {
    const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const field = (k) => { const m = cpuinfo.match(new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm')); return m ? m[1].trim() : null; };
    let memTotal = null;
    try { memTotal = Number(fs.readFileSync('/proc/meminfo', 'utf8').match(/MemTotal:\s+(\d+)/)[1]) * 1024; } catch { /* none */ }
    return {
        cpu_model: field('model name'), cpu_flags: (field('flags') || '').split(/\s+/).filter(Boolean),
        cores: os.availableParallelism ? os.availableParallelism() : os.cpus().length, mem_bytes: memTotal,
        kernel: os.release(), node: process.version,
    };
}
const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

// ---------- main ----------
async function main() {
    const o = parseArgs(process.argv.slice(2));
    deadlineAt = Date.now() + o.deadline * 1000;
    const engines = [];
    if (o.ours) engines.push({ name: 'bitnet', kind: 'ours', cmd: o.ours.split(/\s+/).filter(Boolean) });
    if (o.llama) engines.push({ name: 'llama-server', kind: 'llama', cmd: o.llama.split(/\s+/).filter(Boolean) });
    if (o.logdir) fs.mkdirSync(o.logdir, { recursive: true });
    const cleanup = async () => { for (const e of engines) await stopServer(e).catch(() => {}); };
    for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { log(`${sig}: stopping servers`); cleanup().then(() => process.exit(130)); });

    const doc = {
        date: new Date().toISOString(), machine: machine(), command: o.command, threads: o.threads, parallel: o.parallel,
        model: o.model, model_bytes: fs.statSync(o.model).size,
        settings: {
            clients: o.clients, prompt_tokens: o.prompt, generated_tokens: o.gen, requests_per_client: o.reqs,
            min_requests_per_level: o.minReqs, rounds: o.rounds, probes: o.probes, background: o.bg,
            background_max_tokens: o.bgGen, probe_max_tokens: o.probeGen, seed: o.seed,
            request: { endpoint: '/v1/completions', prompt: 'token ids', temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } },
        },
        load_average_before: loadavg(), engines: {}, rounds: [],
    };
    const failed = { tolerated: 0, fatal: 0, reasons: [] };
    try {
        for (const e of engines) {
            await startServer(e, o);
            const w = await streamRequest(e.port, completionBody(o, promptIds(999_999, o.prompt, o.seed), 8), o.reqTimeout);
            if (!w.ok) throw new Error(`[${e.name}] warm-up request failed: ${w.error}`);
            doc.engines[e.name] = { argv: e.argv, ready_s: e.ready_s, warmup_ms: w.e2e_ms, pid: e.child.pid };
            log(`[${e.name}] warm-up: ${w.e2e_ms.toFixed(0)} ms`);
        }
        for (let round = 0; round < o.rounds; round++) {
            const order = round % 2 === 0 ? engines : [...engines].reverse();
            const rd = { round: round + 1, order: order.map((e) => e.name), levels: {}, probes: {} };
            doc.rounds.push(rd);
            const step = async (label, key, fn) => {
                for (const e of order) {
                    if (Date.now() > deadlineAt) throw new Error(`deadline of ${o.deadline} s reached`);
                    // the CPU time the other (idle) servers use meanwhile: they should use none
                    const others = engines.filter((x) => x !== e).map((x) => [x, cpuSeconds(x.child.pid)]);
                    const la = loadavg();
                    const r = await fn(e);
                    r.load_average_before = la;
                    r.idle_servers_cpu_s = Object.fromEntries(others.map(([x, c]) => [x.name, c === null ? null : cpuSeconds(x.child.pid) - c]));
                    (rd[key][e.name] ??= []).push(r);
                    for (const err of r.failed_errors || []) {
                        if (e.kind === 'llama' && LLAMA_KNOWN_ERROR.test(err)) failed.tolerated++;
                        else { failed.fatal++; failed.reasons.push(`${e.name}: ${err}`); }
                    }
                    if ((r.failed || 0) > (r.failed_errors || []).length) { // never sent (deadline)
                        failed.fatal += r.failed - r.failed_errors.length;
                        failed.reasons.push(`${e.name}: requests not sent before the deadline`);
                    }
                    log(`round ${round + 1} [${e.name}] ${label}: ${summaryLine(r)}`);
                }
            };
            for (const c of o.clients) {
                const keyBase = (round + 1) * 1_000_000 + c * 10_000;
                await step(`${c} client${c > 1 ? 's' : ''}`, 'levels', (e) => runLevel(e, o, c, keyBase));
            }
            if (o.bg > 0 && o.probes > 0)
                await step(`TTFT idle vs ${o.bg} generating`, 'probes', (e) => runProbes(e, o, (round + 1) * 1_000_000 + 900_000));
        }
    } finally {
        await cleanup();
    }
    doc.load_average_after = loadavg();
    doc.failed_requests = failed;
    summarize(doc, engines, o);
    fs.mkdirSync(path.dirname(o.out), { recursive: true });
    fs.writeFileSync(o.out, JSON.stringify(doc, null, 1) + '\n');
    printTable(doc, o);
    console.log(`results: ${o.out}`);
    if (failed.tolerated)
        log(`note: llama-server ended ${failed.tolerated} request(s) early with its own error on invalid UTF-8 output ` +
            `(random weights; "does not match the expected Content-only format"); their streamed tokens count`);
    if (failed.fatal) { log(`${failed.fatal} request(s) failed (see ${o.out}): ${failed.reasons[0]}`); process.exit(1); }
}

function summaryLine(r) {
    if ('agg_tok_s' in r)
        return `${r.agg_tok_s.toFixed(2)} tok/s aggregate, TTFT p50 ${fmt(r.ttft_p50_ms, 0)} ms p99 ${fmt(r.ttft_p99_ms, 0)} ms, ` +
            `${r.completed}/${r.requests} ok in ${r.wall_s.toFixed(1)} s${r.failed ? ` FAILED: ${r.errors[0]}` : ''}`;
    return `TTFT idle ${fmt(r.idle_ttft_p50_ms, 0)} ms, with ${r.background} generating ${fmt(r.loaded_ttft_p50_ms, 0)} ms` +
        `${r.failed ? ` FAILED: ${r.errors[0]}` : ''}`;
}
const fmt = (x, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));

// Per engine and level: the median over rounds of the aggregate tok/s; TTFT percentiles over
// every request of every round.
function summarize(doc, engines, o) {
    const table = [];
    for (const e of engines) {
        for (const c of o.clients) {
            const runs = doc.rounds.flatMap((rd) => (rd.levels[e.name] || []).filter((r) => r.clients === c));
            const reqs = runs.flatMap((r) => r.requests_detail.filter((x) => x.ttft_ms !== null));
            const failedN = runs.reduce((a, r) => a + r.failed, 0);
            table.push({
                engine: e.name, clients: c, rounds: runs.length, requests: runs.reduce((a, r) => a + r.requests, 0), failed: failedN,
                agg_tok_s: median(runs.map((r) => r.agg_tok_s)),
                agg_tok_s_min: pct(runs.map((r) => r.agg_tok_s), 0), agg_tok_s_max: pct(runs.map((r) => r.agg_tok_s), 1),
                ttft_p50_ms: pct(reqs.map((r) => r.ttft_ms), 0.5), ttft_p99_ms: pct(reqs.map((r) => r.ttft_ms), 0.99),
                stream_tok_s_p50: median(reqs.filter((r) => r.ok).map((r) => r.decode_tok_s)),
            });
        }
    }
    const get = (eng, c) => table.find((t) => t.engine === eng && t.clients === c);
    for (const t of table) {
        const one = get(t.engine, o.clients[0]);
        t.x_own_first_level = one && one.agg_tok_s ? t.agg_tok_s / one.agg_tok_s : null;
        const ll = get('llama-server', t.clients);
        t.x_llama = ll && ll.agg_tok_s && t.engine !== 'llama-server' ? t.agg_tok_s / ll.agg_tok_s : null;
    }
    const probes = {};
    for (const e of engines) {
        const runs = doc.rounds.flatMap((rd) => rd.probes[e.name] || []);
        if (!runs.length) continue;
        const idle = runs.flatMap((r) => r.idle.filter((x) => x.ttft_ms !== null).map((x) => x.ttft_ms));
        const loaded = runs.flatMap((r) => r.loaded.filter((x) => x.ttft_ms !== null).map((x) => x.ttft_ms));
        const i50 = median(idle), l50 = median(loaded);
        probes[e.name] = {
            idle_ttft_p50_ms: i50, loaded_ttft_p50_ms: l50, loaded_ttft_max_ms: pct(loaded, 1),
            ratio: i50 && l50 !== null ? l50 / i50 : null, samples: loaded.length,
        };
    }
    const maxC = Math.max(...o.clients), minC = Math.min(...o.clients);
    const ours = (c) => get('bitnet', c), llama = (c) => get('llama-server', c);
    const targets = {};
    if (ours(maxC) && ours(minC)) {
        const v = ours(maxC).agg_tok_s / ours(minC).agg_tok_s;
        targets[`aggregate_${maxC}_clients_over_own_${minC}_client`] = { value: v, target: '>= 3', met: v >= 3 };
    }
    if (ours(maxC) && ours(minC) && ours(minC).stream_tok_s_p50) {
        // informational: against one stream's pure decode rate (no prompt processing in it)
        const v = ours(maxC).agg_tok_s / ours(minC).stream_tok_s_p50;
        targets[`aggregate_${maxC}_clients_over_own_${minC}_client_decode_rate`] = { value: v, target: '>= 3, stricter reading', met: v >= 3 };
    }
    if (ours(maxC) && llama(maxC)) {
        const v = ours(maxC).agg_tok_s / llama(maxC).agg_tok_s;
        targets[`aggregate_${maxC}_clients_over_llama_server`] = { value: v, target: '>= 1.5', met: v >= 1.5 };
    }
    if (probes.bitnet && probes.bitnet.ratio !== null) {
        targets.ttft_loaded_over_idle = { value: probes.bitnet.ratio, target: '<= 2', met: probes.bitnet.ratio <= 2 };
    }
    doc.table = table;
    doc.ttft_under_load = probes;
    doc.targets = targets;
}

function printTable(doc, o) {
    const m = doc.machine;
    console.log(`\nbitnet bench-serve: ${m.cpu_model}, ${m.cores} cores, ${doc.threads} threads, --parallel ${doc.parallel}, ` +
        `prompt ${o.prompt} tokens, ${o.gen} generated (greedy, ignore_eos), ${o.rounds} round(s), ${doc.date}`);
    console.log(`load average before ${doc.load_average_before}, after ${doc.load_average_after}`);
    const first = o.clients[0];
    console.log(`${'engine'.padEnd(13)} ${'clients'.padStart(7)} ${'reqs'.padStart(5)} ${'fail'.padStart(4)} ${'agg tok/s'.padStart(10)} ` +
        `${('x @' + first).padStart(7)} ${'x llama'.padStart(8)} ${'TTFT p50'.padStart(9)} ${'TTFT p99'.padStart(9)} ${'stream tok/s'.padStart(13)}`);
    for (const t of doc.table) {
        console.log(`${t.engine.padEnd(13)} ${String(t.clients).padStart(7)} ${String(t.requests).padStart(5)} ${String(t.failed).padStart(4)} ${fmt(t.agg_tok_s).padStart(10)} ` +
            `${(t.x_own_first_level ? fmt(t.x_own_first_level) + 'x' : '-').padStart(7)} ${(t.x_llama ? fmt(t.x_llama) + 'x' : '-').padStart(8)} ` +
            `${(fmt(t.ttft_p50_ms, 0) + ' ms').padStart(9)} ${(fmt(t.ttft_p99_ms, 0) + ' ms').padStart(9)} ${fmt(t.stream_tok_s_p50).padStart(13)}`);
    }
    for (const [name, p] of Object.entries(doc.ttft_under_load)) {
        console.log(`${name}: a new request's TTFT idle ${fmt(p.idle_ttft_p50_ms, 0)} ms, while ${o.bg} others generate ` +
            `${fmt(p.loaded_ttft_p50_ms, 0)} ms (p50; max ${fmt(p.loaded_ttft_max_ms, 0)} ms): ${p.ratio ? fmt(p.ratio) + 'x' : '-'}`);
    }
    for (const [k, t] of Object.entries(doc.targets))
        console.log(`target ${k}: ${fmt(t.value)} (${t.target}) ${t.met ? 'met' : 'NOT met'}`);
}

main().catch((e) => {
    console.error(`bench-serve: ${e.message}`);
    for (const req of inflight) req.destroy();
    process.exitCode = 1;
    // servers are stopped by main's finally; make sure we do not hang on open handles
    setTimeout(() => process.exit(1), 20000).unref();
});
