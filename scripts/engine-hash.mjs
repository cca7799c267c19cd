// Trunk's post_build hook (Trunk.toml): names the engine's module after its content, as
// Trunk names the page's. Trunk leaves a worker's files unhashed (viewer-engine.js,
// viewer-engine_bg.wasm), and a file under a fixed name must be asked again on every
// visit (a round trip before the first picture on a phone); under a hashed name the
// edge serves it as immutable. It renames both files and writes the name into the
// page, where www/early.js reads it (`const ENGINE = 'viewer-engine'`).
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.TRUNK_STAGING_DIR;
if (!dir) throw new Error('engine-hash.mjs runs as a Trunk hook (TRUNK_STAGING_DIR is not set)');
const name = 'viewer-engine';
const glue = readFileSync(join(dir, `${name}.js`), 'utf8');
const wasm = readFileSync(join(dir, `${name}_bg.wasm`));
const hash = createHash('sha256').update(glue).update(wasm).digest('hex').slice(0, 16);
const hashed = `${name}-${hash}`;
// The glue's own fallback URL for the wasm (early.js always passes it; kept right anyway).
const renamed = glue.replaceAll(`'${name}_bg.wasm'`, `'${hashed}_bg.wasm'`);
writeFileSync(join(dir, `${hashed}.js`), renamed);
renameSync(join(dir, `${name}_bg.wasm`), join(dir, `${hashed}_bg.wasm`));
unlinkSync(join(dir, `${name}.js`));
const page = join(dir, 'index.html');
const html = readFileSync(page, 'utf8');
const marker = `const ENGINE = '${name}';`;
if (!html.includes(marker)) throw new Error(`engine-hash.mjs: index.html has no "${marker}" (www/early.js)`);
writeFileSync(page, html.replace(marker, `const ENGINE = '${hashed}';`));
