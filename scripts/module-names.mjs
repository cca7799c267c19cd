// Trunk's post_build hook (Trunk.toml): names the viewer's two modules after their
// content. Trunk builds both as workers (www/index.html), which it leaves unhashed
// (viewer-page.js, viewer-page_bg.wasm, …), and a file under a fixed name must be asked
// again on every visit (a round trip before the first picture on a phone); under a
// hashed name the edge serves it as immutable. It renames the files and writes the
// names into the page, where www/early.js reads them (`const ENGINE = 'viewer-engine'`).
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.TRUNK_STAGING_DIR;
if (!dir) throw new Error('module-names.mjs runs as a Trunk hook (TRUNK_STAGING_DIR is not set)');
const page = join(dir, 'index.html');
let html = readFileSync(page, 'utf8');
for (const [constant, name] of [['ENGINE', 'viewer-engine'], ['PAGE', 'viewer-page']]) {
  const glue = readFileSync(join(dir, `${name}.js`), 'utf8');
  const wasm = readFileSync(join(dir, `${name}_bg.wasm`));
  const hash = createHash('sha256').update(glue).update(wasm).digest('hex').slice(0, 16);
  const hashed = `${name}-${hash}`;
  // The glue's own fallback URL for the wasm (early.js always passes it; kept right anyway).
  writeFileSync(join(dir, `${hashed}.js`), glue.replaceAll(`'${name}_bg.wasm'`, `'${hashed}_bg.wasm'`));
  renameSync(join(dir, `${name}_bg.wasm`), join(dir, `${hashed}_bg.wasm`));
  unlinkSync(join(dir, `${name}.js`));
  const marker = `const ${constant} = '${name}';`;
  if (!html.includes(marker)) throw new Error(`module-names.mjs: index.html has no "${marker}" (www/early.js)`);
  html = html.replace(marker, `const ${constant} = '${hashed}';`);
}
writeFileSync(page, html);
