// Renditions chosen by the viewer itself, on links emulated by Chromium (CDP
// Network.emulateNetworkConditions): a 1280x720 @ 30 camera, a phone on 2 Mbit/s with
// 80 ms latency settles on a rendition with a useful rate and a bounded latency, goes
// back to the full stream when the link recovers, and does not touch another viewer's
// stream; and the page itself loads fast on such a link, faster still the second time.
// Needs the release edge and site (scripts/build.sh; ./test.sh does it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEdge, startBrowser, emulateLink, readStats, sampleLatencies, percentile, sleep, untilStats } from './util.mjs';
import { startLink } from './link.mjs';

let browser;
before(async () => { browser = await startBrowser(); });
after(async () => { await browser?.close(); });

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

async function dataset(page) {
  return page.$eval('#stats', (el) => ({ ...el.dataset }));
}

const until = untilStats;

test('2 Mbit/s and 80 ms: the viewer settles within 5 s on a rendition with ≥ 10 fps and p95 ≤ 400 ms, and is back on the full stream within 10 s when the link recovers', async () => {
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
    // Where it settled and where it is 8 s later are printed above: Chromium's emulated
    // limit let half size through at 19.6 fps in one run, so a move up is not flapping.
    assert.ok(fps >= 10, `${fps} fps`);
    assert.ok(p95 <= 400, `latency p95 ${p95} ms`);

    // The link recovers: no emulation at all. Chromium's limit "at 50 Mbit/s" carries
    // ~6.8 Mbit/s of WebSocket frames (4 fps of 190 KB frames, the full stream pinned),
    // where the viewer rightly stays on half size (see util.mjs emulateLink). Lifting
    // only the limit but keeping the 80 ms left the open socket at 8–10 Mbit/s for
    // 5 s to over 10 s (half size at 21 fps, published → received 34 ms; CI failed on
    // it); with the latency gone too, the socket is unthrottled at once (published →
    // received 2 ms within 0.5 s, measured).
    await emulateLink(page, { kbps: Infinity, latencyMs: 0 });
    // Back on full within 10 s (the issue): ~5 s here, quarter → half → full. Before, each
    // step up waited 2 s for its first frame (the edge counted the hello from sequence 0),
    // 11.6–11.9 s in CI.
    const up = await until(page, (d) => d.rendition !== settled.rendition && !d.renditionNext, 10000, 'a move up');
    const full = await until(page, (d) => d.rendition === 'full' && !d.renditionNext, 10000 - up[0], 'back on full');
    console.log(`fast again: up to ${up[1].rendition} after ${up[0]} ms; full ${full[0]} ms later`);
    const back = await dataset(page);
    // The rate there is printed, not asserted: Chromium lifts its limit on an open
    // WebSocket only seconds later (the viewer measured ~8 Mbit/s for 1–3 s after the
    // limit went; 3 fps of 190 KB frames), and the viewer may rightly step back to half
    // meanwhile; 30 fps once it has.
    const f0 = await readStats(page);
    await sleep(3000);
    const f1 = await readStats(page);
    console.log(`then: ${((f1.frames - f0.frames) / 3).toFixed(1)} fps on ${(await dataset(page)).rendition}`);
    assert.equal(back.errors, '0');
  } finally {
    await context.close();
    await edge.stop();
  }
});

test('a link that carries half size at nearly the camera\'s rate but not full size (8 Mbit/s, 40 ms each way): the viewer stays on half, with no tries of full size', async () => {
  // Through a relay of ours (tests/link.mjs), which passes 8 Mbit/s each way: half
  // size makes ~28 of 30 fps there and full size ~5. By the frame rate alone half
  // looked roomy (≥ 80 % of the camera's) and full was tried every few seconds, each
  // try seconds of latency; the edge's held marks and the link's timed rate say it
  // would not be useful.
  const edge = await startEdge(['--size', '1280x720', '--fps', '30']);
  const ws = new URL(edge.ws);
  const link = await startLink({ host: ws.hostname, port: Number(ws.port) }, { kbps: 8000, delayMs: 40 });
  const context = await browser.newContext(PHONE);
  try {
    const page = await context.newPage();
    await page.goto(`${edge.viewer}?broker=${encodeURIComponent(`ws://127.0.0.1:${link.port}${ws.pathname}`)}`);
    await until(page, (d) => d.rendition === 'half' && !d.renditionNext, 15000, 'half size');
    await sleep(3000);
    const seen = new Set();
    const held = [];
    const watch = setInterval(async () => {
      const d = await dataset(page).catch(() => null);
      if (!d) return;
      seen.add(d.rendition);
      if (d.renditionNext) seen.add(d.renditionNext);
      if (d.linkHeldPct !== '') held.push(Number(d.linkHeldPct));
    }, 250);
    const { latencies, frames } = await sampleLatencies(page, 15000);
    clearInterval(watch);
    const fps = frames / 15;
    const p95 = percentile(latencies, 95);
    const d = await dataset(page);
    console.log(`8 Mbit/s relay: ${[...seen].join(', ')}, ${fps.toFixed(1)} fps, latency p50 ${percentile(latencies, 50)} p95 ${p95} ms, held ${Math.min(...held)}–${Math.max(...held)} %, link ${d.linkKbps} kbit/s`);
    assert.deepEqual([...seen], ['half'], 'no try of full size');
    assert.ok(held.length > 0, 'the edge marks held frames and the page shows their share');
    assert.ok(fps >= 15, `${fps} fps`);
    assert.ok(p95 <= 250, `latency p95 ${p95} ms`);
  } finally {
    await context.close();
    await link.close();
    await edge.stop();
  }
});

test('a slow and a fast viewer at once: each gets its own rendition, and the slow one never slows the other', async () => {
  const edge = await startEdge(['--size', '1280x720', '--fps', '30']);
  const slowContext = await browser.newContext(PHONE);
  const fastContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const fast = await fastContext.newPage();
    await fast.goto(edge.viewer);
    await until(fast, (d) => Number(d.frames) >= 30, 10000, 'the fast viewer playing');
    const rate = async (page, seconds) => {
      const a = await readStats(page);
      await sleep(seconds * 1000);
      return ((await readStats(page)).frames - a.frames) / seconds;
    };
    const alone = await rate(fast, 5);
    const slow = await slowContext.newPage();
    await emulateLink(slow, { kbps: 2000, latencyMs: 80 });
    await slow.goto(edge.viewer);
    await until(slow, (d) => Number(d.frames) >= 1 && d.rendition !== 'full' && !d.renditionNext, 10000, 'the slow viewer on a smaller rendition');
    await sleep(2000);
    const [s0, fastFps] = [await readStats(slow), await rate(fast, 6)];
    const slowFps = ((await readStats(slow)).frames - s0.frames) / 6;
    const [sd, fd] = [await dataset(slow), await dataset(fast)];
    console.log(`fast viewer alone ${alone.toFixed(1)} fps; with the slow one: ${fd.rendition} ${fastFps.toFixed(1)} fps (p95 ${fd.latencyP95Ms} ms); slow viewer: ${sd.rendition} ${slowFps.toFixed(1)} fps`);
    assert.equal(fd.rendition, 'full');
    // Both browsers share this machine's two cores: "never slows" is within 20 %.
    assert.ok(fastFps >= 0.8 * alone, `the fast viewer: ${fastFps} fps, ${alone} alone`);
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
    await page.waitForFunction(() => /half|quarter/.test(document.querySelector('#badge').textContent), null, { timeout: 5000 });
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

// How long it takes is the benchmark's to say (BENCHMARKS.md: targets 1 s and 0.4 s); this
// checks what makes it short: compressed files, a cache that needs no second download, and
// a first picture that does not wait for the first full frame.
test('the page at 2 Mbit/s and 80 ms: compressed on a first visit, from the cache on the next, the preview first', async () => {
  const edge = await startEdge(['--size', '1280x720', '--fps', '30']);
  const context = await browser.newContext(PHONE);
  try {
    const page = await context.newPage();
    await emulateLink(page, { kbps: 2000, latencyMs: 80 });
    const visit = async () => {
      await page.goto(edge.viewer);
      const [, d] = await until(page, (x) => x.firstPictureMs, 10000, 'a first picture');
      // Bytes that crossed the link for the page's files (0 for one from the cache).
      const files = await page.evaluate(() => performance.getEntriesByType('resource')
        .filter((e) => /\.(wasm|js|css)$/.test(e.name)).map((e) => [e.name.split('/').pop(), e.transferSize, e.encodedBodySize, e.decodedBodySize]));
      return { ms: Number(d.firstPictureMs), frameMs: d.firstFrameMs, files };
    };
    const first = await visit();
    const second = await visit();
    console.log(`first picture: first visit ${first.ms} ms, next visit ${second.ms} ms`);
    console.log(JSON.stringify({ first: first.files, second: second.files }));
    const wasm = (v) => v.files.find(([name]) => name.endsWith('.wasm'));
    assert.ok(wasm(first)[2] < 0.5 * wasm(first)[3], `the wasm came compressed: ${wasm(first)}`);
    for (const [name, transferred] of second.files) assert.equal(transferred, 0, `${name} came from the cache on the next visit`);
    // Both modules, named in the page by their content (scripts/module-names.mjs; the
    // page's may come after the first picture, so not in the timings above): compressed
    // and cached for good.
    const html = await (await fetch(edge.viewer)).text();
    for (const constant of ['ENGINE', 'PAGE']) {
      const name = new RegExp(`const ${constant} = '(viewer-[a-z]+-[0-9a-f]{16})'`).exec(html)?.[1];
      assert.ok(name, `the page names the ${constant.toLowerCase()}'s module by its content hash`);
      for (const file of [`${name}.js`, `${name}_bg.wasm`]) {
        const r = await fetch(new URL(file, edge.viewer), { headers: { 'accept-encoding': 'br' } });
        assert.equal(r.status, 200, file);
        assert.match(r.headers.get('cache-control') ?? '', /immutable/, `${file} is cached for good`);
        assert.equal(r.headers.get('content-encoding'), 'br', `${file} comes compressed`);
      }
    }
    assert.ok(first.frameMs === undefined || first.ms <= Number(first.frameMs), 'the preview is the first picture, not the first full frame');
    assert.ok(first.ms < 3000 && second.ms < first.ms, `first picture ${first.ms} then ${second.ms} ms`);
  } finally {
    await context.close();
    await edge.stop();
  }
});
