// serve_anthropic_client: drives bitnet-server's /v1/messages with the official `@anthropic-ai/sdk`
// npm package, unchanged.
// usage: node serve_anthropic_client.cjs NODE_MODULES_DIR BASE_URL API_KEY LABEL [full|quick]
// quick (the sanitizer builds' servers): the stream helper's replies are not fetched again.
// Prints "ok - LABEL/name" / "not ok - LABEL/name" lines (serve_client_lib.cjs).
// Greedy or seeded requests, so that a streamed reply can be compared with a plain one and with
// the chat completion of the same conversation (fetched without a client library).
'use strict';
const { baseURL, apiKey, quick, check, clientClass, runParts } = require('./serve_client_lib.cjs');
const Anthropic = clientClass('@anthropic-ai/sdk', 'Anthropic');
const client = new Anthropic({ baseURL, apiKey, timeout: 120000, maxRetries: 0 });

async function chatCompletion(body) {
    const res = await fetch(`${baseURL}/v1/chat/completions`, { method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` }, body: JSON.stringify(body) });
    return res.json();
}

const N = 8;
const SYSTEM = 'You are brief.';
const USER = [{ type: 'text', text: 'Name a colour' }, { type: 'text', text: ' and a fruit.' }];
const text = (m) => m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

async function messages() {
    const body = { model: 'any', max_tokens: N, temperature: 0, system: SYSTEM, messages: [{ role: 'user', content: USER }] };
    const chat = await chatCompletion({ messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: USER }], max_tokens: N, temperature: 0 });
    const m = await client.messages.create(body);
    check('message_shape', m.type === 'message' && m.role === 'assistant' && /^msg_/.test(m.id) && m.stop_reason === 'max_tokens' &&
        m.stop_sequence === null && m.usage.output_tokens === N && m.usage.input_tokens + m.usage.cache_read_input_tokens === chat.usage.prompt_tokens, m);
    check('message_text_equals_chat', text(m) === chat.choices[0].message.content, { messages: text(m), chat: chat.choices[0].message.content });

    const events = [];
    for await (const ev of await client.messages.create({ ...body, stream: true })) events.push(ev);
    const types = events.map((e) => e.type);
    const deltas = events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join('');
    check('stream_events', types[0] === 'message_start' && types[1] === 'content_block_start' && types.at(-3) === 'content_block_stop' &&
        types.at(-2) === 'message_delta' && types.at(-1) === 'message_stop' && deltas === text(m) &&
        events.at(-2).delta.stop_reason === 'max_tokens' && events.at(-2).usage.output_tokens === N, types);
    if (!quick) {
        const final = await client.messages.stream(body).finalMessage();
        check('stream_helper_final_message', text(final) === text(m) && final.stop_reason === 'max_tokens', final);
    }

    // a stop sequence taken from the greedy reply: the reply ends just before it, which it names
    const whole = text(m), stop = whole.length > 4 ? whole.slice(2, 4) : null;
    if (stop) {
        const s = await client.messages.create({ ...body, stop_sequences: ['\u0001', stop] });
        check('stop_sequence', s.stop_reason === 'stop_sequence' && s.stop_sequence === stop && whole.startsWith(text(s) + stop), s);
    } else check('stop_sequence', false, `the greedy reply is too short: ${JSON.stringify(whole)}`);

    const count = await client.messages.countTokens({ model: 'any', system: SYSTEM, messages: [{ role: 'user', content: USER }] });
    check('count_tokens', count.input_tokens === chat.usage.prompt_tokens, { count, chat: chat.usage });

    const stranger = new Anthropic({ baseURL, apiKey: 'not-the-key', maxRetries: 0 });
    try {
        await stranger.messages.countTokens({ model: 'any', messages: [{ role: 'user', content: 'Hi' }] });
        check('wrong_key_refused', false, 'a wrong key was accepted');
    } catch (e) {
        check('wrong_key_refused', e.status === 401 && e.error?.type === 'error' && e.type === 'authentication_error',
            { status: e.status, body: e.error });
    }
}

// tools: a named call (one per reply), plain and through the stream helper, and its result sent back
const NOW = { name: 'now', description: 'The time now', input_schema: { type: 'object', properties: {}, additionalProperties: false } };

async function tools() {
    const body = { model: 'any', max_tokens: 200, temperature: 1, seed: 3, messages: [{ role: 'user', content: 'What time is it?' }],
        tools: [NOW], tool_choice: { type: 'tool', name: 'now', disable_parallel_tool_use: true } };
    const m = await client.messages.create(body);
    const use = m.content.find((b) => b.type === 'tool_use') || {};
    const s = quick ? m : await client.messages.stream(body).finalMessage();
    const suse = s.content.find((b) => b.type === 'tool_use') || {};
    check('tool_use', m.stop_reason === 'tool_use' && use.name === 'now' && JSON.stringify(use.input) === '{}' && /^toolu_[0-9a-f]{16}$/.test(use.id) &&
        s.stop_reason === 'tool_use' && suse.name === 'now' && JSON.stringify(suse.input) === '{}', { m, s });
    // a tool with parameters streamed as raw events: the tool_use block opens once its name is
    // whole, its input comes in several input_json_delta pieces, the block stops; the pieces add
    // up to the plain reply's input (the first seed whose plain reply is a whole call: the random
    // model's whitespace fills many replies' context first)
    const CITY = { name: 'weather', description: 'The weather in a city', input_schema: { type: 'object',
        properties: { city: { enum: ['Oslo', 'Rome'] }, unit: { enum: ['c', 'f'] } }, required: ['city', 'unit'], additionalProperties: false } };
    let cityBody, cityPlain;
    for (const seed of [10, 1, 2, 3, 4, 5, 6, 7, 8, 9]) { /* 10 first: the one that gave a call when this was written */
        cityBody = { model: 'any', max_tokens: 200, temperature: 1, seed, messages: [{ role: 'user', content: 'Weather in Oslo?' }],
            tools: [CITY], tool_choice: { type: 'tool', name: 'weather' } };
        cityPlain = await client.messages.create(cityBody);
        if (cityPlain.stop_reason === 'tool_use') break;
    }
    const cityUse = cityPlain.content.find((b) => b.type === 'tool_use') || {};
    const evs = [];
    for await (const ev of await client.messages.create({ ...cityBody, stream: true })) evs.push(ev);
    const start = evs.findIndex((e) => e.type === 'content_block_start' && e.content_block.type === 'tool_use');
    const block = start >= 0 ? evs[start].index : -1;
    const pieces = evs.filter((e) => e.type === 'content_block_delta' && e.index === block && e.delta.type === 'input_json_delta');
    const stop = evs.findIndex((e) => e.type === 'content_block_stop' && e.index === block);
    let streamedInput = null;
    try { streamedInput = JSON.parse(pieces.map((e) => e.delta.partial_json).join('')); } catch (e) { /* stays null */ }
    check('tool_use_input_streamed_in_pieces', cityPlain.stop_reason === 'tool_use' && start >= 0 && evs[start].content_block.name === 'weather' &&
        /^toolu_[0-9a-f]{16}$/.test(evs[start].content_block.id) && pieces.length >= 3 && stop > start &&
        JSON.stringify(streamedInput) === JSON.stringify(cityUse.input) && ['Oslo', 'Rome'].includes(cityUse.input.city), { cityPlain, evs });
    const after = await client.messages.create({ model: 'any', max_tokens: 8, temperature: 0, tools: [NOW], messages: [
        { role: 'user', content: 'What time is it?' }, { role: 'assistant', content: [use] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '12:00' }, { type: 'text', text: 'Thanks.' }] }] });
    check('tool_result_round_trip', after.type === 'message' && after.usage.input_tokens > 0 && after.content.length >= 1, after);
    try {
        await client.messages.create({ ...body, thinking: { type: 'enabled', budget_tokens: 1024 } });
        check('thinking_refused', false, 'thinking was accepted');
    } catch (e) {
        // Anthropic's error object: the SDK reads its type from error.error.type
        check('thinking_refused', e.status === 400 && /thinking/.test(e.message) && e.error?.type === 'error' &&
            e.type === 'invalid_request_error', { status: e.status, message: e.message, body: e.error });
    }
}

runParts([messages, tools]);
