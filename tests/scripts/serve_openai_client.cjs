// serve_openai_client: drives bitnet-server with the official `openai` npm package, unchanged.
// usage: node serve_openai_client.cjs NODE_MODULES_DIR BASE_URL API_KEY LABEL
// Prints "ok - LABEL/name" / "not ok - LABEL/name" lines (tests/scripts/lib.sh protocol).
// Greedy requests (temperature 0) so that streamed and plain replies can be compared.
'use strict';
const path = require('path');
const [modules, baseURL, apiKey, label] = process.argv.slice(2);
const openaiModule = require(path.join(modules, 'openai'));
const OpenAI = openaiModule.OpenAI || openaiModule.default || openaiModule;
const client = new OpenAI({ baseURL, apiKey, timeout: 120000, maxRetries: 0 });

let failures = 0;
function check(name, cond, detail) {
    if (cond) console.log(`ok - ${label}/${name}`);
    else {
        failures++;
        console.log(`not ok - ${label}/${name}`);
        if (detail !== undefined) console.log(`    ${typeof detail === 'string' ? detail : JSON.stringify(detail).slice(0, 400)}`);
    }
}

const MESSAGES = [
    { role: 'system', content: 'You are brief.' },
    { role: 'user', content: [{ type: 'text', text: 'Name a colour' }, { type: 'text', text: ' and a fruit.' }] },
];
const N = 8;

async function streamText(stream, pick) {
    let text = '', first = null, finish = null, usage = null, chunks = 0;
    for await (const chunk of stream) {
        chunks++;
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices[0];
        if (!choice) continue;
        if (first === null) first = choice;
        text += pick(choice) || '';
        if (choice.finish_reason) finish = choice.finish_reason;
    }
    return { text, first, finish, usage, chunks };
}

async function chat() {
    const plain = await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: N, temperature: 0 });
    const msg = plain.choices[0].message;
    check('chat_shape', plain.object === 'chat.completion' && plain.id.startsWith('chatcmpl-') && msg.role === 'assistant' &&
        typeof msg.content === 'string' && typeof plain.created === 'number', plain);
    check('chat_length_and_usage', plain.choices[0].finish_reason === 'length' && plain.usage.completion_tokens === N &&
        plain.usage.prompt_tokens > 0 && plain.usage.total_tokens === plain.usage.prompt_tokens + N, plain);

    const stream = await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: N, temperature: 0,
        stream: true, stream_options: { include_usage: true } });
    const s = await streamText(stream, (c) => c.delta && c.delta.content);
    check('chat_stream_equals_plain', s.text === msg.content, { stream: s.text, plain: msg.content });
    check('chat_stream_role_finish_usage', s.first && s.first.delta.role === 'assistant' && s.finish === 'length' &&
        s.usage && s.usage.completion_tokens === N && s.chunks >= 3, s);

    // A stop string taken from the greedy reply: the reply ends just before it.
    const at = msg.content.length > 4 ? 2 : -1;
    if (at > 0) {
        const stop = msg.content.slice(at, at + 2);
        const cut = await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: N, temperature: 0, stop: [stop] });
        const want = msg.content.slice(0, msg.content.indexOf(stop));
        check('chat_stop_string', cut.choices[0].message.content === want && cut.choices[0].finish_reason === 'stop',
            { stop, got: cut.choices[0].message.content, want });
    } else {
        check('chat_stop_string # SKIP the greedy reply is too short', true);
    }

    const lp = await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: N, temperature: 0,
        logprobs: true, top_logprobs: 3 });
    const content = lp.choices[0].logprobs && lp.choices[0].logprobs.content;
    const good = Array.isArray(content) && content.length === N && content.every((e) => typeof e.token === 'string' &&
        e.logprob <= 0 && Array.isArray(e.bytes) && e.top_logprobs.length === 3 &&
        e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob && e.top_logprobs[1].logprob >= e.top_logprobs[2].logprob &&
        Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-4);
    check('chat_logprobs', good && lp.choices[0].message.content === msg.content, lp.choices[0].logprobs);

    // Streamed with logprobs: one chunk per generated token, each with its own entry, however
    // fast the tokens come (the server must not merge the pieces the client was slow to read).
    const lps = await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: N, temperature: 0,
        logprobs: true, top_logprobs: 1, stream: true });
    let perChunk = [], streamed = '';
    for await (const chunk of lps) {
        const c = chunk.choices[0];
        if (c && c.logprobs && c.logprobs.content && c.logprobs.content.length) perChunk.push(c.logprobs.content.length);
        if (c && c.delta && c.delta.content) streamed += c.delta.content;
    }
    check('chat_stream_one_chunk_per_token', perChunk.length === N && perChunk.every((n) => n === 1) && streamed === msg.content,
        { perChunk, streamed, plain: msg.content });
}

async function completions() {
    const prompt = 'The quick brown fox';
    const plain = await client.completions.create({ model: 'any', prompt, max_tokens: N, temperature: 0 });
    check('completion_shape', plain.object === 'text_completion' && typeof plain.choices[0].text === 'string' &&
        plain.choices[0].finish_reason === 'length' && plain.usage.completion_tokens === N, plain);
    const stream = await client.completions.create({ model: 'any', prompt, max_tokens: N, temperature: 0, stream: true,
        stream_options: { include_usage: true } });
    const s = await streamText(stream, (c) => c.text);
    check('completion_stream_equals_plain', s.text === plain.choices[0].text && s.finish === 'length' && s.usage &&
        s.usage.completion_tokens === N, { stream: s.text, plain: plain.choices[0].text });
    const lp = await client.completions.create({ model: 'any', prompt, max_tokens: N, temperature: 0, logprobs: 2 });
    const l = lp.choices[0].logprobs;
    check('completion_logprobs', l && l.tokens.length === N && l.token_logprobs.length === N && l.top_logprobs.length === N &&
        l.token_logprobs.every((x) => x <= 0), l);
}

// The token id of a one-token text, from the server's /tokenize (beside /v1).
async function tokenId(text) {
    const res = await fetch(baseURL.replace(/\/v1$/, '') + '/tokenize', { method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ content: text }) });
    const ids = (await res.json()).tokens;
    if (!Array.isArray(ids) || ids.length !== 1) throw new Error(`'${text}' is not one token: ${JSON.stringify(ids)}`);
    return ids[0];
}

// logit_bias passed through by the client: +100 makes a token every pick of greedy decoding,
// -100 takes it out again (the next boosted one wins), also when streamed.
async function logitBias() {
    const blue = await tokenId(' blue'), red = await tokenId(' red');
    const forced = await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: 3, temperature: 0,
        logit_bias: { [blue]: 100 } });
    check('logit_bias_boost', forced.choices[0].message.content === ' blue blue blue', forced.choices[0].message);
    const banned = await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: 3, temperature: 0,
        logit_bias: { [blue]: -100, [red]: 50 }, stream: true });
    const s = await streamText(banned, (c) => c.delta && c.delta.content);
    check('logit_bias_ban_streamed', s.text === ' red red red', s.text);
}

// response_format json_object: a biased greedy reply closes at once and parses as an object
// (finish_reason "stop"); sampled replies start with '{' and parse whenever they stop.
async function jsonObject() {
    const close = await tokenId('}');
    const quick = await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: 16, temperature: 0,
        response_format: { type: 'json_object' }, logit_bias: { [close]: 50 } });
    const text = quick.choices[0].message.content;
    let parsed = null;
    try { parsed = JSON.parse(text); } catch (e) { parsed = null; }
    check('json_object_closes', quick.choices[0].finish_reason === 'stop' && parsed !== null && typeof parsed === 'object' &&
        !Array.isArray(parsed), { text, finish: quick.choices[0].finish_reason });
    let ok = true, stopped = 0;
    const seen = [];
    for (let seed = 1; seed <= 4; seed++) {
        const r = await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: 24, temperature: 1, seed,
            response_format: { type: 'json_object' }, stream: seed % 2 === 0 });
        let t = '', finish = null;
        if (seed % 2 === 0) ({ text: t, finish } = await streamText(r, (c) => c.delta && c.delta.content));
        else t = r.choices[0].message.content, finish = r.choices[0].finish_reason;
        seen.push({ t, finish });
        if (!t.startsWith('{')) ok = false;
        if (finish === 'stop') {
            stopped++;
            try { JSON.parse(t); } catch (e) { ok = false; }
        }
    }
    check('json_object_sampled', ok, seen);
    console.log(`# json_object: ${stopped} of 4 sampled replies closed within 24 tokens`);
}

// response_format json_schema (OpenAI's structured outputs): a schema that leaves the model few
// choices; every sampled reply is a prefix of a valid instance, the ones that stop parse and
// satisfy the schema (keys in its order, enum, types), and most of them stop within 64 tokens.
const SCHEMA = {
    type: 'object', additionalProperties: false, required: ['colour', 'ok'],
    properties: { colour: { enum: ['red', 'blue'] }, ok: { type: 'boolean' }, note: { type: ['null', 'string'], maxLength: 4 } },
};
async function jsonSchema() {
    let ok = true, stopped = 0;
    const seen = [];
    for (let seed = 1; seed <= 4; seed++) {
        const r = await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: 64, temperature: 1, seed,
            response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: true, schema: SCHEMA } },
            stream: seed % 2 === 0 });
        let t = '', finish = null;
        if (seed % 2 === 0) ({ text: t, finish } = await streamText(r, (c) => c.delta && c.delta.content));
        else t = r.choices[0].message.content, finish = r.choices[0].finish_reason;
        seen.push({ t, finish });
        if (!t.startsWith('{')) ok = false;
        if (finish !== 'stop') continue;
        stopped++;
        try {
            const v = JSON.parse(t), keys = Object.keys(v);
            const order = keys.every((k, i) => i === 0 || ['colour', 'ok', 'note'].indexOf(k) > ['colour', 'ok', 'note'].indexOf(keys[i - 1]));
            if (!['red', 'blue'].includes(v.colour) || typeof v.ok !== 'boolean' || !order ||
                keys.some((k) => !['colour', 'ok', 'note'].includes(k)) ||
                ('note' in v && v.note !== null && (typeof v.note !== 'string' || [...v.note].length > 4))) ok = false;
        } catch (e) { ok = false; }
    }
    check('json_schema_sampled', ok && stopped >= 2, seen);
    console.log(`# json_schema: ${stopped} of 4 sampled replies closed within 64 tokens`);
}

async function errors() {
    try {
        await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: 0 });
        check('client_sees_400', false, 'max_tokens 0 was accepted');
    } catch (e) {
        check('client_sees_400', e.status === 400 && /max_tokens/.test(e.message), { status: e.status, message: e.message });
    }
    const models = await client.models.list();
    check('models_list', models.data.length === 1 && typeof models.data[0].id === 'string', models.data);
}

(async () => {
    for (const part of [chat, completions, logitBias, jsonObject, jsonSchema, errors]) {
        try {
            await part();
        } catch (e) {
            check(`${part.name}_threw`, false, String(e && e.stack || e));
        }
    }
    process.exit(failures ? 1 : 0);
})();
