// serve_openai_client: drives bitnet-server with the official `openai` npm package, unchanged
// (chat completions with Predicted Outputs, completions, the Responses API, embeddings).
// usage: node serve_openai_client.cjs NODE_MODULES_DIR BASE_URL API_KEY LABEL [full|quick]
// quick (the sanitizer builds' servers): the sampled tools cases take fewer seeds, each path once,
// and the Responses stream helper's replies are not fetched again (the raw events are read).
// Prints "ok - LABEL/name" / "not ok - LABEL/name" lines (serve_client_lib.cjs).
// Greedy requests (temperature 0), or seeded ones, so that streamed and plain replies can be compared.
'use strict';
const { baseURL, apiKey, quick, check, clientClass, runParts } = require('./serve_client_lib.cjs');
const OpenAI = clientClass('openai', 'OpenAI');
const client = new OpenAI({ baseURL, apiKey, timeout: 120000, maxRetries: 0 });

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

// Predicted Outputs: a prediction changes no token (greedy; plain and streamed), its draft
// tokens are taken where the reply follows it and refused where it does not (usage's
// completion_tokens_details). The random model's replies hold token sequences that their text
// does not tokenize back to (" rbrace" where the text gives " r" "br" "acer"), which a
// prediction given as text cannot draft: how drafts come back after an edit is tested on
// token ids (test_api, test_batch); here an edited prediction's drafts are refused and the
// reply is the same.
async function predicted() {
    const ask = { model: 'any', messages: MESSAGES, max_tokens: 24, temperature: 0 };
    const plain = await client.chat.completions.create(ask);
    const text = plain.choices[0].message.content;
    const same = await client.chat.completions.create({ ...ask, prediction: { type: 'content', content: text } });
    const d = same.usage.completion_tokens_details || {};
    check('prediction_same_reply_taken', same.choices[0].message.content === text && d.accepted_prediction_tokens > 0 &&
        d.rejected_prediction_tokens >= 0 && same.usage.completion_tokens === plain.usage.completion_tokens, { text, same, d });
    const none = plain.usage.completion_tokens_details || {};
    check('prediction_none_counts_zero', none.accepted_prediction_tokens === 0 && none.rejected_prediction_tokens === 0, none);
    const half = Math.floor(text.length / 2);
    const edited = [{ type: 'text', text: text.slice(0, half) }, { type: 'text', text: ' Quixotic zebra yodels' },
        { type: 'text', text: text.slice(half) }];
    const stream = await client.chat.completions.create({ ...ask, prediction: { type: 'content', content: edited }, stream: true,
        stream_options: { include_usage: true } });
    const s = await streamText(stream, (c) => c.delta && c.delta.content);
    const e = (s.usage && s.usage.completion_tokens_details) || {};
    check('prediction_edited_streamed', s.text === text && e.accepted_prediction_tokens >= 0 && e.rejected_prediction_tokens > 0,
        { text, streamed: s.text, usage: s.usage });
    try {
        await client.chat.completions.create({ ...ask, prediction: { type: 'image', content: text } });
        check('prediction_bad_type_400', false, 'a prediction of type image was accepted');
    } catch (err) {
        check('prediction_bad_type_400', err.status === 400 && /prediction\.type/.test(err.message), { status: err.status, message: err.message });
    }
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
    // several prompts: one choice each, in order; the first as alone
    const two = await client.completions.create({ model: 'any', prompt: [prompt, 'Once upon a time'], max_tokens: N, temperature: 0 });
    check('completion_several_prompts', two.choices.length === 2 && two.choices[1].index === 1 &&
        two.choices[0].text === plain.choices[0].text && two.usage.completion_tokens === 2 * N, two);
    // echo with logprobs (lm-eval-harness's loglikelihood): the prompt's tokens first, the first null,
    // then the completion's as without echo
    const echoed = await client.completions.create({ model: 'any', prompt, max_tokens: N, temperature: 0, logprobs: 2, echo: true });
    const e = echoed.choices[0].logprobs, n = echoed.usage.prompt_tokens;
    check('completion_echo_logprobs', echoed.choices[0].text === prompt + plain.choices[0].text && e.tokens.length === n + N &&
        e.token_logprobs[0] === null && e.top_logprobs[0] === null && e.token_logprobs.slice(1, n).every((x) => x <= 0) &&
        JSON.stringify(e.tokens.slice(n)) === JSON.stringify(l.tokens) && e.text_offset[n] === prompt.length, e);
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

// tools (function calling): the reply is a JSON object the server reads into OpenAI tool_calls.
const WEATHER = { type: 'function', function: { name: 'get_weather', description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 6 }, unit: { $ref: '#/$defs/unit' } },
        required: ['city', 'unit'], additionalProperties: false, $defs: { unit: { enum: ['c', 'f'] } } } } };
const NOW = { type: 'function', function: { name: 'now', description: 'The time now' } };

// Whether a call is one of WEATHER / NOW with arguments valid against its parameters.
function validCall(call) {
    if (call.type !== 'function' || !/^call_[0-9a-f]{16}$/.test(call.id)) return false;
    let args;
    try { args = JSON.parse(call.function.arguments); } catch (e) { return false; }
    const keys = Object.keys(args);
    if (call.function.name === 'now') return keys.length === 0;
    return call.function.name === 'get_weather' && keys.join() === 'city,unit' && typeof args.city === 'string' &&
        [...args.city].length <= 6 && ['c', 'f'].includes(args.unit);
}

// A streamed reply read from raw chunks: its content and its calls (deltas merged by index).
async function streamCalls(stream) {
    let content = '', finish = null, deltasWellFormed = true;
    const calls = [], deltas = [];
    for await (const chunk of stream) {
        const choice = chunk.choices[0];
        if (!choice) continue;
        if (choice.delta.content) content += choice.delta.content;
        for (const d of choice.delta.tool_calls || []) {
            const first = !calls[d.index];
            const c = calls[d.index] || (calls[d.index] = { id: d.id, type: d.type, function: { name: '', arguments: '' } });
            c.function.name += (d.function && d.function.name) || '';
            c.function.arguments += (d.function && d.function.arguments) || '';
            deltas[d.index] = (deltas[d.index] || 0) + 1;
            // OpenAI's shape: the first delta of a call has its id, type and name, the later ones only arguments
            if (first ? !d.id || d.type !== 'function' || !d.function.name : d.id || d.type || d.function.name) deltasWellFormed = false;
        }
        if (choice.finish_reason) finish = choice.finish_reason;
    }
    return { content, calls, finish, deltas, deltasWellFormed };
}

async function tools() {
    // A named function without parameters, one call per reply: every reply, plain or through the
    // client's stream helper (which merges tool-call deltas), is that call.
    let ok = true;
    const seen = [];
    for (let seed = 1; seed <= (quick ? 2 : 4); seed++) {
        const body = { model: 'any', messages: MESSAGES, max_tokens: 200, temperature: 1, seed, parallel_tool_calls: false,
            tools: [WEATHER, NOW], tool_choice: { type: 'function', function: { name: 'now' } } };
        const r = seed % 2 === 0 ? await client.chat.completions.stream(body).finalChatCompletion()
            : await client.chat.completions.create(body);
        const msg = r.choices[0].message, calls = msg.tool_calls || [];
        seen.push({ msg, finish: r.choices[0].finish_reason });
        if (r.choices[0].finish_reason !== 'tool_calls' || calls.length !== 1 || calls[0].function.name !== 'now' ||
            !validCall(calls[0]) || msg.content) ok = false;
    }
    check('tools_named_call', ok, seen);

    // tool_choice "auto": a reply is calls with valid arguments, an answer, or a call cut short by
    // max_tokens or the slot's context (its raw text). Seeds are tried until one gave calls and
    // one an answer (both must show within 12); for those two, the same request streamed gives
    // the same answer text (decoded piece by piece) or the same calls. One short function, as a
    // slot of the test's server holds 256 positions.
    ok = true;
    const replies = [], picked = {};
    const autoBody = (seed) => ({ model: 'any', messages: MESSAGES, max_tokens: 160, temperature: 1, seed, tools: [NOW] });
    // quick: the first reply of either form, streamed too
    for (let seed = 1; seed <= 12 && !(picked.calls && picked.answer) && !(quick && (picked.calls || picked.answer)); seed++) {
        const plain = await client.chat.completions.create(autoBody(seed));
        const msg = plain.choices[0].message, calls = msg.tool_calls || [], finish = plain.choices[0].finish_reason;
        replies.push({ seed, msg, finish });
        if (finish === 'tool_calls' ? !calls.length || !calls.every(validCall) || msg.content !== null
            : calls.length || typeof msg.content !== 'string') ok = false;
        const form = finish === 'tool_calls' ? 'calls' : finish === 'stop' ? 'answer' : 'cut';
        if (!picked[form]) picked[form] = { seed, msg, finish };
    }
    for (const form of ['calls', 'answer']) {
        const p = picked[form];
        if (!p) continue;
        const s = await streamCalls(await client.chat.completions.create({ ...autoBody(p.seed), stream: true }));
        const calls = p.msg.tool_calls || [];
        p.stream = s;
        if (s.finish !== p.finish || s.content !== (p.msg.content || '') || s.calls.length !== calls.length ||
            !s.calls.every((c, i) => c.function.name === calls[i].function.name && c.function.arguments === calls[i].function.arguments))
            ok = false;
    }
    check('tools_auto_stream_equals_plain', ok && (quick ? picked.calls || picked.answer : picked.calls && picked.answer), { picked, replies });
    console.log(`# tools auto: ${replies.filter((r) => r.finish === 'tool_calls').length} of ${replies.length} sampled replies called functions`);

    // A get_weather call streamed: its arguments come in pieces as they are generated (several
    // deltas after the one with the id, type and name), adding up to the plain reply's (the
    // first seed whose plain reply is a whole call: the random model may run out of tokens).
    let weatherBody, weatherPlain;
    for (let seed = 1; seed <= 10; seed++) {
        weatherBody = { model: 'any', messages: MESSAGES, max_tokens: 200, temperature: 1, seed, tools: [WEATHER, NOW],
            tool_choice: { type: 'function', function: { name: 'get_weather' } } };
        weatherPlain = await client.chat.completions.create(weatherBody);
        if (weatherPlain.choices[0].finish_reason === 'tool_calls') break;
    }
    const weatherStream = await streamCalls(await client.chat.completions.create({ ...weatherBody, stream: true }));
    const plainCall = (weatherPlain.choices[0].message.tool_calls || [])[0];
    check('tools_arguments_streamed_in_deltas', plainCall && validCall(plainCall) && weatherStream.finish === 'tool_calls' &&
        weatherStream.calls.length === 1 && weatherStream.calls[0].function.name === 'get_weather' &&
        weatherStream.calls[0].function.arguments === plainCall.function.arguments && weatherStream.deltas[0] >= 4 &&
        weatherStream.deltasWellFormed && validCall(weatherStream.calls[0]), { weatherPlain, weatherStream });

    // The client's runTools helper: it calls get_weather with the parsed arguments (valid against
    // its parameters) and sends the result back as a tool message; the conversation with that
    // call and result is served.
    let invoked = 0, argsOk = false;
    const runner = client.chat.completions.runTools({ model: 'any', messages: [...MESSAGES], max_tokens: 200, temperature: 1,
        seed: 7, tool_choice: { type: 'function', function: { name: 'get_weather' } }, tools: [
            { type: 'function', function: { ...WEATHER.function, parse: JSON.parse, function: (a) => {
                invoked++;
                argsOk = Object.keys(a).join() === 'city,unit' && [...a.city].length <= 6 && ['c', 'f'].includes(a.unit);
                return { temperature: 4, unit: a.unit };
            } } }] });
    await runner.done();
    const toolMsgs = runner.messages.filter((m) => m.role === 'tool');
    const next = await client.chat.completions.create({ model: 'any', messages: runner.messages, max_tokens: 8, temperature: 0,
        tools: [WEATHER, NOW] });
    check('tools_run_tools_round_trip', invoked === 1 && argsOk && toolMsgs.length === 1 && toolMsgs[0].content.includes('temperature') &&
        next.choices[0].message.role === 'assistant' && next.usage.prompt_tokens > 0, { invoked, argsOk, messages: runner.messages, next });
}

// The Responses API (/v1/responses), served as a chat: the same greedy text as the chat
// completion of the same conversation, streamed through the client's helper and raw events,
// structured output parsed by the client, and function calls sent back as input items.
const RESP_INPUT = [{ role: 'user', content: [{ type: 'input_text', text: 'Name a colour' }, { type: 'input_text', text: ' and a fruit.' }] }];
const NOW_FLAT = { type: 'function', name: 'now', description: 'The time now', parameters: { type: 'object', properties: {}, additionalProperties: false } };

async function responses() {
    const chatReply = await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: N, temperature: 0 });
    const body = { model: 'any', instructions: 'You are brief.', input: RESP_INPUT, max_output_tokens: N, temperature: 0 };
    const r = await client.responses.create(body);
    check('responses_shape', r.object === 'response' && /^resp_/.test(r.id) && r.status === 'incomplete' &&
        r.incomplete_details && r.incomplete_details.reason === 'max_output_tokens' && r.output.length === 1 &&
        r.output[0].type === 'message' && r.output[0].role === 'assistant' && r.usage.output_tokens === N &&
        r.usage.total_tokens === r.usage.input_tokens + N && r.store === false, r);
    check('responses_text_equals_chat', r.output_text === chatReply.choices[0].message.content,
        { responses: r.output_text, chat: chatReply.choices[0].message.content });
    // token counting: the client's responses.inputTokens.count, and llama-server's chat twin (no client method)
    const count = await client.responses.inputTokens.count({ model: 'any', instructions: 'You are brief.', input: RESP_INPUT });
    const chatCount = await (await fetch(`${baseURL}/chat/completions/input_tokens`, { method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ model: 'any', messages: MESSAGES }) })).json();
    check('input_tokens', count.object === 'response.input_tokens' && count.input_tokens === r.usage.input_tokens &&
        chatCount.input_tokens === chatReply.usage.prompt_tokens, { count, chatCount, usage: r.usage, chat: chatReply.usage });

    // raw events: consecutive sequence numbers, deltas that add up to the text, the lifecycle in order
    const events = [];
    for await (const ev of await client.responses.create({ ...body, stream: true })) events.push(ev);
    const types = events.map((e) => e.type), deltas = events.filter((e) => e.type === 'response.output_text.delta');
    const last = events[events.length - 1];
    check('responses_stream_events', types[0] === 'response.created' && types[1] === 'response.in_progress' &&
        types.includes('response.output_item.added') && types.includes('response.content_part.added') &&
        types.includes('response.output_text.done') && types.includes('response.output_item.done') &&
        last.type === 'response.incomplete' && events.every((e, i) => e.sequence_number === i) &&
        deltas.map((e) => e.delta).join('') === r.output_text && last.response.output[0].content[0].text === r.output_text, types);

    // structured output through the client's parse helper and its stream helper (a reply that
    // completes: the format's enum closes it)
    const format = { type: 'json_schema', name: 'pick', strict: true, schema: { type: 'object',
        properties: { colour: { enum: ['red', 'blue'] } }, required: ['colour'], additionalProperties: false } };
    const parsed = await client.responses.parse({ ...body, max_output_tokens: 48, text: { format } });
    const streamed = quick ? parsed : await client.responses.stream({ ...body, max_output_tokens: 48, text: { format } }).finalResponse();
    check('responses_structured', parsed.status === 'completed' && parsed.output_parsed && ['red', 'blue'].includes(parsed.output_parsed.colour) &&
        streamed.status === 'completed' && streamed.output_text === parsed.output_text, { parsed, streamed });

    // function calls: a named call, the same streamed; its output sent back as input items
    const callBody = { model: 'any', input: 'What time is it?', tools: [NOW_FLAT], tool_choice: { type: 'function', name: 'now' }, parallel_tool_calls: false,
        max_output_tokens: 200, temperature: 1 };
    const call = await client.responses.create({ ...callBody, seed: 3 });
    const fc = call.output[0] || {};
    const callStream = quick ? call : await client.responses.stream({ ...callBody, seed: 3 }).finalResponse();
    const sfc = callStream.output[0] || {};
    check('responses_function_call', call.status === 'completed' && call.output.length === 1 && fc.type === 'function_call' &&
        fc.name === 'now' && fc.arguments === '{}' && /^call_[0-9a-f]{16}$/.test(fc.call_id) &&
        sfc.type === 'function_call' && sfc.name === 'now' && /^call_[0-9a-f]{16}$/.test(sfc.call_id) && sfc.arguments === fc.arguments,
        { call, callStream });
    // a function with parameters streamed as raw events: its item is added once the name is
    // whole, the arguments come in several deltas, then .done and the item; they add up to the
    // plain reply's arguments (the first seed whose plain reply is a whole call)
    const WEATHER_FLAT = { type: 'function', name: 'get_weather', description: WEATHER.function.description, parameters: WEATHER.function.parameters };
    let wBody, wPlain;
    for (const seed of [2, 1, 3, 4, 5, 6, 7, 8, 9, 10]) { /* 2 first: the one that gave a call when this was written */
        wBody = { model: 'any', input: 'Weather in Oslo?', tools: [WEATHER_FLAT], tool_choice: { type: 'function', name: 'get_weather' },
            max_output_tokens: 200, temperature: 1, seed };
        wPlain = await client.responses.create(wBody);
        if (wPlain.status === 'completed' && (wPlain.output[0] || {}).type === 'function_call') break;
    }
    const wEvents = [];
    for await (const ev of await client.responses.create({ ...wBody, stream: true })) wEvents.push(ev);
    const added = wEvents.findIndex((e) => e.type === 'response.output_item.added' && e.item.type === 'function_call');
    const wDeltas = wEvents.filter((e) => e.type === 'response.function_call_arguments.delta');
    const wDone = wEvents.find((e) => e.type === 'response.function_call_arguments.done') || {};
    const wFinal = (wEvents.find((e) => e.type === 'response.completed') || {}).response || { output: [] };
    check('responses_arguments_streamed_in_deltas', added >= 0 && wEvents[added].item.name === 'get_weather' && wDeltas.length >= 3 &&
        wDeltas.map((e) => e.delta).join('') === wDone.arguments && wDone.arguments === wPlain.output[0].arguments &&
        wFinal.output[0].arguments === wPlain.output[0].arguments && wFinal.output[0].call_id === wEvents[added].item.call_id,
        { wPlain, wEvents });
    const after = await client.responses.create({ model: 'any', tools: [NOW_FLAT], max_output_tokens: 8, temperature: 0, input: [
        { role: 'user', content: 'What time is it?' }, { type: 'function_call', call_id: fc.call_id, name: 'now', arguments: '{}' },
        { type: 'function_call_output', call_id: fc.call_id, output: '12:00' }] });
    check('responses_function_output_round_trip', ['completed', 'incomplete'].includes(after.status) && after.usage.input_tokens > 0 &&
        after.output.length >= 1, after);
    try {
        await client.responses.create({ ...body, previous_response_id: r.id });
        check('responses_refuse_stored', false, 'previous_response_id was accepted');
    } catch (e) {
        check('responses_refuse_stored', e.status === 400 && /previous_response_id/.test(e.message), { status: e.status, message: e.message });
    }
}

// The client asks for base64 unless told otherwise and decodes it: both ways give the same
// floats, of length 1 (the server's --embd-normalize 2), one per input in order.
async function embeddings() {
    const b64 = await client.embeddings.create({ model: 'any', input: ['Name a colour', 'and a fruit.'] });
    const floats = await client.embeddings.create({ model: 'any', input: ['Name a colour', 'and a fruit.'], encoding_format: 'float' });
    const norm = (v) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    const same = (a, b) => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) < 1e-6);
    const e = b64.data.map((d) => d.embedding);
    check('embeddings_shape', b64.object === 'list' && b64.data.length === 2 && b64.data[1].index === 1 && e[0].length > 0 &&
          b64.usage.prompt_tokens > 2 && b64.usage.total_tokens === b64.usage.prompt_tokens, { usage: b64.usage, n: e[0].length });
    check('embeddings_base64_equals_float', same(e[0], floats.data[0].embedding) && same(e[1], floats.data[1].embedding));
    check('embeddings_unit_length', e.every((v) => Math.abs(norm(v) - 1) < 1e-5) && !same(e[0], e[1]), e.map(norm));
    const one = await client.embeddings.create({ model: 'any', input: 'and a fruit.', encoding_format: 'float' });
    check('embeddings_alone_equals_in_list', same(one.data[0].embedding, e[1]));
}

async function errors() {
    try {
        await client.chat.completions.create({ model: 'any', messages: MESSAGES, max_tokens: 0 });
        check('client_sees_400', false, 'max_tokens 0 was accepted');
    } catch (e) {
        check('client_sees_400', e.status === 400 && /max_tokens/.test(e.message), { status: e.status, message: e.message });
    }
    const several = await client.chat.completions.create({ model: 'any', messages: MESSAGES, n: 2, max_tokens: 4, seed: 3 });
    check('chat_n_choices', several.choices.length === 2 && several.choices[1].index === 1 &&
          several.usage.completion_tokens === 8, several.usage);
    const byIndex = ['', ''];
    const st = await client.chat.completions.create({ model: 'any', messages: MESSAGES, n: 2, max_tokens: 4, seed: 3, stream: true });
    for await (const chunk of st) for (const c of chunk.choices) byIndex[c.index] += c.delta.content || '';
    check('chat_n_choices_streamed', byIndex[0] === several.choices[0].message.content && byIndex[1] === several.choices[1].message.content,
          { byIndex, plain: several.choices.map((c) => c.message.content) });
    const models = await client.models.list();
    check('models_list', models.data.length === 1 && typeof models.data[0].id === 'string', models.data);
}

runParts([chat, predicted, completions, logitBias, jsonObject, jsonSchema, tools, responses, embeddings, errors]);
