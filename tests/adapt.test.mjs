// Renditions chosen by the viewer itself, on links emulated by Chromium (CDP
// Network.emulateNetworkConditions): a 1280x720 @ 30 camera, a phone on 2 Mbit/s with
// 80 ms latency settles on a rendition with a useful rate and a bounded latency, goes
// back to the full stream when the link recovers, and does not touch another viewer's
// stream; and the page itself loads fast on such a link, faster still the second time.
// Needs the release edge and site (scripts/build.sh; ./test.sh does it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEdge, startBrowser, emulateLink, readStats, sampleLatencies, percentile, sleep } from './util.mjs';

let browser;
before(async () => { browser = await startBrowser(); });
after(async () => { await browser?.close(); });

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

async function dataset(page) {
  return page.$eval('#stats', (el) => ({ ...el.dataset }));
}

/** Polls #stats until `predicate(dataset)`; returns [ms waited, dataset]. */
async function until(page, predicate, timeoutMs, what) {
  const start = Date.now();
  let last;
  while (Date.now() - start < timeoutMs) {
    last = await dataset(page);
    if (predicate(last)) return [Date.now() - start, last];
    await sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms; last #stats: ${JSON.stringify(last)}`);
}

test('2 Mbit/s and 80 ms: the viewer settles within 5 s on a rendition with ≥ 10 fps and p95 ≤ 400 ms, and is back on the full stream within 10 s of the link recovering (100 Mbit/s)', async () => {
  const edge = await startEdge(['--size', '1280x720', '--fps', '30']);
  const context = await browser.newContext(PHONE);
  try {
    const page = await context.newPage();
    const slow = { kbps: 2000, latencyMs: 80 };
    await emulateLink(page, slow);
    await page.goto(edge.viewer);
    await until(page, (d) => Number(d.frames) >= 1, 15000, 'a first frame');
    const started = Date.now();
    // Settled: on one rendition for 2 s at a useful rate.
    let settledAt = null;
    let stableSince = null;
    let rendition = null;
    while (Date.now() - started < 8000) {
      const d = await dataset(page);
      if (d.rendition !== rendition || d.renditionNext) {
        rendition = d.rendition;
        stableSince = Date.now();
      }
      if (Date.now() - stableSince >= 2000 && Number(d.fps) >= 10) {
        settledAt = stableSince - started;
        break;
      }
      await sleep(200);
    }
    const settled = await dataset(page);
    assert.ok(settledAt !== null && settledAt <= 5000, `settled after ${settledAt} ms on ${settled.rendition} (${settled.fps} fps)`);
    assert.notEqual(settled.rendition, 'full', 'the full stream cannot make 10 fps at 2 Mbit/s');
    const { latencies, frames } = await sampleLatencies(page, 8000);
    const fps = frames / 8;
    const p95 = percentile(latencies, 95);
    const after = await dataset(page);
    console.log(`2 Mbit/s: ${after.rendition}, ${fps.toFixed(1)} fps, latency p50 ${percentile(latencies, 50)} p95 ${p95} ms, settled in ${settledAt} ms`);
    assert.equal(after.rendition, settled.rendition, 'it stays there (no flapping)');
    assert.ok(fps >= 10, `${fps} fps`);
    assert.ok(p95 <= 400, `latency p95 ${p95} ms`);

    // The link recovers. Chromium's emulation "at 50 Mbit/s" carries ~6.5 Mbit/s of
    // WebSocket frames (measured: 4 fps of 190 KB frames, the full stream pinned); at
    // 100 Mbit/s it carries ~87: that is the fast link here.
    await emulateLink(page, { kbps: 100000, latencyMs: 80 });
    const [backMs, back] = await until(page, (d) => d.rendition === 'full' && !d.renditionNext, 10000, 'back on the full stream');
    console.log(`100 Mbit/s: back on full after ${backMs} ms`);
    await sleep(3000);
    const full = await readStats(page);
    assert.equal((await dataset(page)).rendition, 'full');
    assert.ok(full.fps >= 20, `full stream at ${full.fps} fps on a fast link`);
    assert.equal(back.errors, '0');
  } finally {
    await context.close();
    await edge.stop();
  }
});

test('a slow and a fast viewer at once: each gets its own rendition, and the slow one never slows the other', async () => {
  const edge = await startEdge(['--size', '1280x720', '--fps', '30']);
  const slowContext = await browser.newContext(PHONE);
  const fastContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const slow = await slowContext.newPage();
    await emulateLink(slow, { kbps: 2000, latencyMs: 80 });
    const fast = await fastContext.newPage();
    await Promise.all([slow.goto(edge.viewer), fast.goto(edge.viewer)]);
    await until(slow, (d) => d.rendition !== 'full' && !d.renditionNext, 8000, 'the slow viewer on a smaller rendition');
    await sleep(2000);
    const [s0, f0] = [await readStats(slow), await readStats(fast)];
    await sleep(6000);
    const [s1, f1] = [await readStats(slow), await readStats(fast)];
    const [sd, fd] = [await dataset(slow), await dataset(fast)];
    const slowFps = (s1.frames - s0.frames) / 6;
    const fastFps = (f1.frames - f0.frames) / 6;
    console.log(`slow viewer: ${sd.rendition} ${slowFps.toFixed(1)} fps; fast viewer: ${fd.rendition} ${fastFps.toFixed(1)} fps, p95 ${fd.latencyP95Ms} ms`);
    assert.equal(fd.rendition, 'full');
    assert.ok(fastFps >= 25, `the fast viewer keeps the camera's rate: ${fastFps} fps`);
    assert.ok(slowFps >= 10, `the slow one has a useful rate: ${slowFps} fps`);
  } finally {
    await slowContext.close();
    await fastContext.close();
    await edge.stop();
  }
});

test('pinned: "always full quality" keeps the full stream on a slow link, and the badge says the rendition', async () => {
  const edge = await startEdge(['--size', '1280x720', '--fps', '30']);
  const context = await browser.newContext(PHONE);
  try {
    const page = await context.newPage();
    await emulateLink(page, { kbps: 2000, latencyMs: 80 });
    await page.goto(edge.viewer);
    await until(page, (d) => d.rendition !== 'full' && !d.renditionNext, 8000, 'a smaller rendition');
    assert.match(await page.$eval('#badge', (b) => b.textContent), /half|quarter/);
    // Auto → Full: the quality button.
    await page.tap('#view');
    await page.tap('#btn-quality');
    const [, pinned] = await until(page, (d) => d.rendition === 'full' && d.renditionPinned === 'full', 5000, 'pinned to full');
    assert.equal(await page.$eval('#btn-quality', (b) => b.dataset.quality), 'full');
    await sleep(4000);
    assert.equal((await dataset(page)).rendition, 'full', 'it stays on full however slow');
    // Kept for the next visit.
    await page.reload();
    await until(page, (d) => d.renditionPinned === 'full' && Number(d.frames) >= 1, 10000, 'still pinned after a reload');
    assert.ok(pinned);
  } finally {
    await context.close();
    await edge.stop();
  }
});

test('the page at 2 Mbit/s and 80 ms: first picture within 1 s on a first visit, 0.4 s on the next (cache warm)', async () => {
  const edge = await startEdge(['--size', '1280x720', '--fps', '30']);
  const context = await browser.newContext(PHONE);
  try {
    const page = await context.newPage();
    await emulateLink(page, { kbps: 2000, latencyMs: 80 });
    const sizes = [];
    page.on('response', async (r) => {
      const h = await r.allHeaders();
      sizes.push(`${r.status()} ${new URL(r.url()).pathname} ${h['content-encoding'] ?? '-'} ${h['cache-control'] ?? ''}`);
    });
    const visit = async () => {
      await page.goto(edge.viewer);
      const [, d] = await until(page, (x) => x.firstPictureMs, 10000, 'a first picture');
      return Number(d.firstPictureMs);
    };
    const first = await visit();
    const firstResponses = [...sizes];
    sizes.length = 0;
    const second = await visit();
    console.log(`first picture: first visit ${first} ms, second ${second} ms`);
    console.log(`first visit:\n  ${firstResponses.join('\n  ')}\nsecond visit:\n  ${sizes.join('\n  ')}`);
    assert.ok(firstResponses.some((l) => /\.wasm br .*immutable/.test(l)), 'the wasm comes compressed, cached for good');
    assert.ok(first <= 1000, `first visit: ${first} ms`);
    assert.ok(second <= 400, `second visit: ${second} ms`);
  } finally {
    await context.close();
    await edge.stop();
  }
});
