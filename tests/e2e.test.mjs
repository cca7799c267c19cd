// End-to-end: edge (test pattern → mozjpeg → embedded rumqttd) → MQTT over WebSocket →
// the release build of the viewer in headless Chromium. Needs `trunk build --release`
// and `cargo build --release -p edge` first (./test.sh does both).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ARTIFACTS, startEdge, startBrowser, openViewer, readStats, waitForStats, canvasSpread, sleep } from './util.mjs';

let browser;
before(async () => { browser = await startBrowser(); });
after(async () => { await browser?.close(); });

test('the viewer draws live frames at the configured rate with plausible latency', async () => {
  const edge = await startEdge(['--size', '640x480', '--fps', '30']);
  try {
    const { page, problems } = await openViewer(browser, edge.viewer);
    await waitForStats(page, (s) => s.connected && s.frames >= 10);
    // Let the 2 s fps window fill with frames drawn at the steady rate.
    await sleep(4000);
    const s = await readStats(page);
    console.log('640x480@30 stats:', JSON.stringify(s));
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-640x480.png') });

    assert.equal(s.width, 640);
    assert.equal(s.height, 480);
    assert.ok(s.fps >= 25 && s.fps <= 35, `fps ${s.fps} not near 30`);
    assert.ok(s.p50 > 0 && s.p50 < 200, `latency p50 ${s.p50} ms not plausible`);
    assert.ok(s.p95 >= s.p50 && s.p95 < 500, `latency p95 ${s.p95} ms not plausible`);
    assert.equal(s.errors, 0, 'no bad payloads');
    const px = await canvasSpread(page);
    assert.ok(px.max - px.min > 100 && px.distinct > 50, `canvas looks blank: ${JSON.stringify(px)}`);
    assert.deepEqual(problems, [], 'console stays clean');
  } finally {
    await edge.stop();
  }
});

test('the overlay says so and fps falls to 0 when the stream stops', async () => {
  const edge = await startEdge(['--size', '320x240', '--fps', '20']);
  try {
    const { page } = await openViewer(browser, edge.viewer);
    await waitForStats(page, (s) => s.connected && s.frames >= 5);
    await edge.stop();
    const s = await waitForStats(page, (st) => !st.connected && st.fps === 0, 10000);
    assert.match(s.state, /reconnecting/);
  } finally {
    await edge.stop();
  }
});

test('query parameters choose the topic: a wrong camera shows no frames', async () => {
  const edge = await startEdge(['--camera', 'door', '--size', '320x240', '--fps', '20']);
  try {
    const wrong = await openViewer(browser, `${edge.viewer}?camera=garage`);
    const right = await openViewer(browser, `${edge.viewer}?camera=door`);
    await waitForStats(right.page, (s) => s.frames >= 10);
    const w = await readStats(wrong.page);
    assert.ok(w.connected, 'connected to the broker');
    assert.equal(w.frames, 0, 'but subscribed to another camera');
  } finally {
    await edge.stop();
  }
});

test('the page fits a phone screen: canvas scaled to the width, overlay inside it', async () => {
  const edge = await startEdge(['--size', '1280x720', '--fps', '15']);
  try {
    const phone = { width: 390, height: 844 };
    const { page, problems } = await openViewer(browser, edge.viewer, phone);
    await waitForStats(page, (s) => s.frames >= 5);
    const box = await page.$eval('#view', (c) => c.getBoundingClientRect().toJSON());
    const stats = await page.$eval('#stats', (e) => e.getBoundingClientRect().toJSON());
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-phone.png') });
    assert.ok(Math.abs(box.width - phone.width) <= 1, `canvas ${box.width} px wide on a ${phone.width} px screen`);
    assert.ok(Math.abs(box.height - box.width * 720 / 1280) <= 2, 'aspect ratio kept');
    assert.ok(stats.right <= phone.width && stats.bottom <= phone.height, 'overlay on screen');
    assert.ok(scrollWidth <= phone.width, 'no sideways scrolling');
    assert.deepEqual(problems, []);
  } finally {
    await edge.stop();
  }
});
