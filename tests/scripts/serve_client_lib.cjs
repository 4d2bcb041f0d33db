// serve_client_lib: what the server's client scripts (serve_openai_client.cjs,
// serve_anthropic_client.cjs) share: their arguments (NODE_MODULES_DIR BASE_URL API_KEY LABEL
// [full|quick]), loading a client package from NODE_MODULES_DIR, and the check lines of the
// tests/scripts/lib.sh protocol ("ok - LABEL/name" / "not ok - LABEL/name" and a detail line).
'use strict';
const path = require('path');

const [modules, baseURL, apiKey, label, depth] = process.argv.slice(2);
let failures = 0;

function check(name, cond, detail) {
    if (cond) console.log(`ok - ${label}/${name}`);
    else {
        failures++;
        console.log(`not ok - ${label}/${name}`);
        if (detail !== undefined) console.log(`    ${typeof detail === 'string' ? detail : JSON.stringify(detail).slice(0, 400)}`);
    }
}

// The package's client class (its named export, default export or the module itself).
function clientClass(pkg, name) {
    const m = require(path.join(modules, pkg));
    return m[name] || m.default || m;
}

// Runs the parts in order (a part that throws fails as NAME_threw), then exits 1 if any check failed.
async function runParts(parts) {
    for (const part of parts) {
        try {
            await part();
        } catch (e) {
            check(`${part.name}_threw`, false, String(e && e.stack || e));
        }
    }
    process.exit(failures ? 1 : 0);
}

module.exports = { baseURL, apiKey, quick: depth === 'quick', check, clientClass, runParts };
