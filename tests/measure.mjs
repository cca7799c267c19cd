// Measures the whole path in headless Chromium and prints a table: delivered fps,
// latency p50/p95 (capture → drawn, from #stats), drops, edge RSS; and the site's sizes.
// Not a test: numbers for the README and closing notes. Run after ./test.sh (or
// scripts/build.sh):  node tests/measure.mjs [640x480@30 1280x720@30 ...]
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ROOT, startEdge, startBrowser, openViewer, readStats, waitForStats, sleep } from './util.mjs';

const cases = process.argv.slice(2).length ? process.argv.slice(2) : ['640x480@30', '1280x720@30'];
const SECONDS = Number(process.env.MEASURE_SECONDS ?? 10);

const browser = await startBrowser();
const rows = [];
for (const c of cases) {
  const [size, fps] = c.split('@');
  const edge = await startEdge(['--size', size, '--fps', fps]);
  try {
    const { page, problems } = await openViewer(browser, edge.viewer);
    await waitForStats(page, (s) => s.connected && s.frames >= 10);
    await sleep(2000); // warm-up: the latency window should hold only steady-state frames
    const start = await readStats(page);
    const rss = [];
    for (let i = 0; i < SECONDS; i++) {
      await sleep(1000);
      rss.push(edge.rssMb());
    }
    const end = await readStats(page);
    rows.push({
      case: c,
      fps: ((end.frames - start.frames) / SECONDS).toFixed(1),
      p50: end.p50?.toFixed(1),
      p95: end.p95?.toFixed(1),
      dropped: end.dropped - start.dropped,
      errors: end.errors,
      rss: `${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)}`,
      console: problems.length,
    });
    await page.close();
  } finally {
    await edge.stop();
  }
}
await browser.close();

console.log(`\n${SECONDS} s per case, headless Chromium, edge release build, embedded broker, loopback\n`);
console.log('| case | fps drawn | latency p50 ms | p95 ms | dropped (viewer) | errors | edge RSS MB | console errors |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.case} | ${r.fps} | ${r.p50} | ${r.p95} | ${r.dropped} | ${r.errors} | ${r.rss} | ${r.console} |`);
}

const dist = join(ROOT, 'dist');
console.log('\n| site file | raw bytes | gzip -9 bytes |\n|---|---|---|');
for (const f of readdirSync(dist).sort()) {
  const data = readFileSync(join(dist, f));
  console.log(`| ${f.replace(/-[0-9a-f]{16}/, '')} | ${data.length} | ${gzipSync(data, { level: 9 }).length} |`);
}
