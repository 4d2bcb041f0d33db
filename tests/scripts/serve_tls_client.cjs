// serve_tls_client: the official `openai` npm package, unchanged, against bitnet-server over
// HTTPS (--ssl-key-file/--ssl-cert-file) below an --api-prefix: a greedy chat reply, plain and
// streamed, must be the same text. The test's self-signed certificate reaches Node through
// NODE_EXTRA_CA_CERTS (so the client verifies it as it would a real one).
// usage: node serve_tls_client.cjs NODE_MODULES_DIR BASE_URL API_KEY LABEL
'use strict';
const { baseURL, apiKey, check, clientClass, runParts } = require('./serve_client_lib.cjs');
const OpenAI = clientClass('openai', 'OpenAI');
const client = new OpenAI({ baseURL, apiKey, timeout: 60000, maxRetries: 0 });
const request = { model: 'm', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8, temperature: 0 };

async function chatOverTls() {
    const plain = await client.chat.completions.create(request);
    const text = plain.choices[0].message.content;
    check('chat', typeof text === 'string' && text.length > 0 && plain.usage.completion_tokens === 8, plain);
    let streamed = '', chunks = 0;
    for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) {
        chunks++;
        if (chunk.choices[0]) streamed += chunk.choices[0].delta.content || '';
    }
    check('chat_streamed_same_text', chunks > 1 && streamed === text, { streamed, text, chunks });
}

runParts([chatOverTls]);
