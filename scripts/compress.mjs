// Precompresses the built site (dist/): a .br (brotli, quality 11) and a .gz (gzip -9)
// beside every text and wasm file, made once at build time. The edge serves them to
// browsers that accept them; other web servers can too (nginx `gzip_static` /
// `brotli_static`, Caddy `precompressed`), and any server that ignores them serves
// the originals, which stay. Usage: node scripts/compress.mjs dist
import { readdirSync, readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const dir = process.argv[2] ?? 'dist';
const worth = /\.(wasm|js|css|html|svg|webmanifest|json)$/;
let before = 0;
let after = 0;
for (const name of readdirSync(dir)) {
  if (/\.(br|gz)$/.test(name)) {
    unlinkSync(join(dir, name)); // left from an earlier build: Trunk does not remove them
    continue;
  }
  if (!worth.test(name)) continue;
  const body = readFileSync(join(dir, name));
  const br = brotliCompressSync(body, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
  });
  const gz = gzipSync(body, { level: 9 });
  // Tiny files do not shrink: the original is served.
  if (br.length < body.length) writeFileSync(join(dir, `${name}.br`), br);
  if (gz.length < body.length) writeFileSync(join(dir, `${name}.gz`), gz);
  before += body.length;
  after += Math.min(br.length, body.length);
}
console.log(`compress: ${(before / 1000).toFixed(1)} KB of site → ${(after / 1000).toFixed(1)} KB with brotli`);
