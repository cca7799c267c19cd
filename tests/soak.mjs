// The soak: one edge and one viewer in headless Chromium for a long time, sampling the
// edge's resident memory, the page's JS heap (after a forced GC, so it is what is
// live, not what awaits collection), fps and latency once a minute. Prints a table and
// whether memory stayed flat (within ±10 % of the first sample after warm-up).
// Not a test (it takes half an hour); run after ./test.sh or scripts/build.sh:
//   node tests/soak.mjs [minutes=30] [size@fps=1280x720@30]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, startEdge, startBrowser, openViewer, readStats, waitForStats, sleep } from './util.mjs';

const minutes = Number(process.argv[2] ?? 30);
const [size, fps] = (process.argv[3] ?? '1280x720@30').split('@');
const WARMUP_S = 60;

const browser = await startBrowser();
const edge = await startEdge(['--size', size, '--fps', fps]);
const rows = [];
let failed = false;
try {
  const { page, problems } = await openViewer(browser, edge.viewer);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const heapMb = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    const { metrics } = await cdp.send('Performance.getMetrics');
    return metrics.find((m) => m.name === 'JSHeapUsedSize').value / 1048576;
  };
  await waitForStats(page, (s) => s.connected && s.frames >= 10);
  await sleep(WARMUP_S * 1000);
  const started = Date.now();
  for (let minute = 0; minute <= minutes; minute++) {
    const s = await readStats(page);
    rows.push({ minute, rssMb: edge.rssMb(), heapMb: await heapMb(), fps: s.fps, p50: s.p50, p95: s.p95, frames: s.frames, dropped: s.dropped, errors: s.errors, connected: s.connected });
    const r = rows.at(-1);
    console.log(`min ${String(minute).padStart(2)}  edge RSS ${r.rssMb.toFixed(1)} MB  JS heap ${r.heapMb.toFixed(2)} MB  ${r.fps} fps  p50/p95 ${r.p50}/${r.p95} ms  frames ${r.frames}  errors ${r.errors}`);
    if (minute < minutes) await sleep(started + (minute + 1) * 60000 - Date.now());
  }
  const first = rows[0];
  const last = rows.at(-1);
  const change = (a, b) => (100 * (b - a)) / a;
  const maxOf = (k) => Math.max(...rows.map((r) => r[k]));
  const verdict = (k) => {
    const c = change(first[k], last[k]);
    const ok = Math.abs(c) <= 10;
    failed ||= !ok;
    return `${first[k].toFixed(2)} → ${last[k].toFixed(2)} MB (${c >= 0 ? '+' : ''}${c.toFixed(1)} %, max ${maxOf(k).toFixed(2)}) ${ok ? 'PASS' : 'FAIL'}`;
  };
  const summary = [
    `soak: ${size}@${fps}, ${minutes} min after ${WARMUP_S} s warm-up, one viewer in headless Chromium`,
    `edge RSS:    ${verdict('rssMb')}`,
    `page JS heap: ${verdict('heapMb')}`,
    `frames drawn: ${last.frames - first.frames} (${((last.frames - first.frames) / (minutes * 60)).toFixed(1)} fps average), errors ${last.errors}, console problems ${problems.length}`,
  ].join('\n');
  console.log(`\n${summary}`);
  writeFileSync(join(ARTIFACTS, 'soak.json'), JSON.stringify({ size, fps, minutes, rows, problems }, null, 1));
  if (problems.length) {
    failed = true;
    console.log(problems.slice(0, 5).join('\n'));
  }
} finally {
  await edge.stop();
  await browser.close();
}
process.exit(failed ? 1 : 0);
