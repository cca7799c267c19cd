// Playback of a camera's recordings on a phone, end to end: an edge recording a test
// pattern continuously (`--record continuous`) with an alarm raised by another MQTT client,
// the release viewer in headless Chromium at 390x844 with touch. The recordings open from
// the camera view; a pinch zooms the timeline; a drag scrubs (the frame drawn is the one
// asked for, within a frame interval, and quickly); play at 1× and 4×, backwards; frame
// steps; the event list and a jump to the alarm; the alarm exported as a video file (the
// edge's Motion-JPEG AVI, read by ffprobe), and a refusal shown; snapshot and rotation of a
// recorded frame; Live back in one tap. Then the same scrubbing through a slow link (8 Mbit/s, 40 ms each
// way: tests/link.mjs). Needs the release edge and site (scripts/build.sh; ./test.sh does it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARTIFACTS, startEdge, startBrowser, openPhone, sleep, publishRaw, untilStats } from './util.mjs';
import { startLink } from './link.mjs';

const PUBLISHER = { username: 'sensor', password: 'rec-s3cret' };
const FPS = 10;
const PREVIEW_FPS = 2;

let browser;
let edge;
let recordDir;
let recordStartUs;
before(async () => {
  browser = await startBrowser();
  recordDir = mkdtempSync(join(tmpdir(), 'mqcam-rec-'));
  edge = await startEdge(['--size', '320x240', '--fps', String(FPS), '--preview-fps', String(PREVIEW_FPS),
    '--record', 'continuous', '--record-dir', recordDir,
    '--no-login', '--publisher-login', `${PUBLISHER.username}:${PUBLISHER.password}`]);
  recordStartUs = Date.now() * 1000;
});
after(async () => {
  await edge?.stop();
  await browser?.close();
  if (recordDir) rmSync(recordDir, { recursive: true, force: true });
});

const prefixOf = (e) => e.topic.split('/').slice(0, -2).join('/');
const cameraOf = (e) => e.topic.split('/').slice(-2, -1)[0];

/** Raises (or clears) the camera's alarm from another MQTT client, as a sensor would. */
async function alarm(active, reason) {
  const body = JSON.stringify({ active, reason, at_us: Date.now() * 1000, source: 'doorbell' });
  await publishRaw(edge.tcpHost, edge.tcpPort, `${prefixOf(edge)}/${cameraOf(edge)}/alarm`, [Buffer.from(body)], PUBLISHER);
}

const stats = (page) => page.$eval('#stats', (el) => ({ ...el.dataset }));
const num = (v) => (v === undefined || v === '' ? NaN : Number(v));

async function shot(page, name) {
  const path = join(ARTIFACTS, `playback-${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** A finger on the timeline: down at `x0`, moved to each of `xs`, `stepMs` apart, up. */
async function drag(page, cdp, xs, { stepMs = 40, y } = {}) {
  const box = await page.locator('#timeline').boundingBox();
  const at = (x) => ({ x: box.x + x, y: y ?? box.y + box.height / 2 });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [at(xs[0])] });
  for (const x of xs.slice(1)) {
    await sleep(stepMs);
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [at(x)] });
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
}

/**
 * Two fingers on the timeline around `c` (CSS px): one 12·k px left of it and one 2·k px
 * right, k going from `from` to `to` (apart: zoom in; together: zoom out). The fingers
 * keep the times under them, so the time at `c` stays at `c`.
 */
async function pinch(page, cdp, c, from, to, steps = 8) {
  const box = await page.locator('#timeline').boundingBox();
  const y = box.y + box.height / 2;
  const points = (k) => [{ x: box.x + c - 12 * k, y, id: 1 }, { x: box.x + c + 2 * k, y, id: 2 }];
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: points(from) });
  for (let i = 1; i <= steps; i++) {
    await sleep(20);
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: points(from + ((to - from) * i) / steps) });
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
}

/** The timeline's stretch shown: `x(t)` is where time `t` (µs) is, in CSS px from its left. */
async function axis(page) {
  const [start, span] = await page.$eval('#timeline', (el) => [Number(el.dataset.startUs), Number(el.dataset.spanUs)]);
  const box = await page.locator('#timeline').boundingBox();
  return { start, span, width: box.width, x: (t) => ((t - start) / span) * box.width };
}

/** Two fingers 60 px apart on the timeline, both moved by `dx`: it pans, the same scale. */
async function pan(page, cdp, x0, dx, steps = 8) {
  const box = await page.locator('#timeline').boundingBox();
  const y = box.y + box.height / 2;
  const points = (d) => [{ x: box.x + x0 - 30 + d, y, id: 1 }, { x: box.x + x0 + 30 + d, y, id: 2 }];
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: points(0) });
  for (let i = 1; i <= steps; i++) {
    await sleep(20);
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: points((dx * i) / steps) });
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
}

/**
 * Pinches the timeline around time `t` until it shows about a minute: four times per
 * pinch, `t` brought to the middle first with two fingers (a finger lands on a whole
 * pixel, which on the day's scale is minutes, so a big zoom at once would miss it).
 * Never past a minute across: at that limit the fingers no longer hold their times.
 */
async function zoomTo(page, cdp, t) {
  for (let i = 0; i < 12 && (await axis(page)).span > 90e6; i++) {
    let a = await axis(page);
    if (a.x(t) < 60 || a.x(t) > a.width - 60) {
      await pan(page, cdp, a.width / 2, a.width / 2 - Math.min(Math.max(a.x(t), 0), a.width));
      a = await axis(page);
    }
    await pinch(page, cdp, Math.min(Math.max(a.x(t), 13), a.width - 3), 1, Math.min(4, a.span / 61e6));
  }
}

/** Waits until the recorded frame on screen is the one asked for: at or before the time asked, within `slackUs`. */
async function untilShown(page, what, slackUs, timeoutMs = 5000) {
  return untilStats(page, (s) => {
    const [at, target] = [num(s.playbackAtUs), num(s.playbackTargetUs)];
    return s.playbackState === 'paused' && at <= target && target - at <= slackUs;
  }, timeoutMs, what);
}

test('a phone scrubs, plays either way, steps, jumps to an event and goes back to live', async () => {
  // Footage before the alarm, the alarm (its full-size frames from the pre-roll on), after.
  await sleep(6000);
  const alarmUs = Date.now() * 1000;
  await alarm(true, 'front door opened');
  await sleep(3000);
  await alarm(false, '');
  await sleep(3000);

  const { page, problems } = await openPhone(browser, edge.viewer);
  const cdp = await page.context().newCDPSession(page);
  await untilStats(page, (s) => num(s.frames) > 5, 15000, 'live frames before the recordings');
  await page.tap('#view');
  // "Record now" from the live view: an event of its own, by the page.
  await page.tap('#btn-mark');
  assert.equal(await page.getAttribute('#btn-mark', 'aria-pressed'), 'true');
  await page.tap('#btn-recordings');
  const [openMs, opened] = await untilStats(page, (s) => s.mode === 'playback' && s.playbackState === 'paused' && s.playbackAtUs, 8000,
    'the recordings open on the newest recorded frame');
  const newest = num(opened.playbackAtUs);
  assert.ok(Date.now() * 1000 - newest < 3e6, `the newest recorded frame is recent: ${opened.playbackAtUs}`);
  assert.equal(opened.latencyP50Ms, '', 'no latency for a recorded frame');
  console.log(`recordings opened in ${openMs} ms on ${opened.playbackClock} (${opened.playbackTrack})`);

  // The timeline opens on the footage there is (a few seconds: a minute across); two
  // fingers coming together show the whole day, spreading zoom in again.
  await page.waitForFunction(() => document.querySelector('#event-list').childElementCount > 0, null, { timeout: 15000 });
  const opening = await axis(page);
  await shot(page, 'opened');
  assert.ok(opening.span <= 120e6 && opening.x(newest) > opening.width * 0.8 && opening.x(newest) <= opening.width,
    `the timeline opens on the recent footage: ${JSON.stringify({ span: opening.span, x: opening.x(newest) })}`);
  for (let i = 0; i < 8 && (await axis(page)).span < 23 * 3600e6; i++) {
    const a = await axis(page);
    await pinch(page, cdp, Math.min(Math.max(a.x(newest), 80), a.width - 14), 6, 1);
  }
  const day = await axis(page);
  assert.ok(day.span >= 23 * 3600e6, `pinched out to the day: ${day.span} µs`);
  await shot(page, 'day');
  await zoomTo(page, cdp, newest);
  await sleep(300);
  const zoomed = await axis(page);
  assert.ok(zoomed.span <= 120e6, `pinched in to a minute or two: ${zoomed.span} µs`);
  await shot(page, 'zoomed');

  // Scrub: a finger to several times of the footage, back and forth; each stop shows its frame.
  const slack = 1e6 / PREVIEW_FPS + 50e3;
  const first = Math.max(recordStartUs + 1e6, zoomed.start);
  for (const f of [0.8, 0.3, 0.5, 0.1, 0.65]) {
    const x = zoomed.x(first + f * (newest - first));
    await drag(page, cdp, [x - 30, x - 15, x]);
    const [, s] = await untilShown(page, `the frame under the finger at x=${Math.round(x)}`, slack);
    assert.ok(['preview', 'full'].includes(s.playbackTrack), `a track: ${s.playbackTrack}`);
  }
  // A long drag: the frames follow the finger, newest wins.
  const [xa, xb] = [zoomed.x(first), zoomed.x(newest)];
  await drag(page, cdp, Array.from({ length: 30 }, (_, i) => xa + ((xb - xa) * (0.2 + (0.6 * i) / 29))), { stepMs: 16 });
  const [, scrubbed] = await untilShown(page, 'the frame at the end of a long drag', slack);
  console.log(`scrub: input → frame on screen p50 ${scrubbed.scrubP50Ms} ms, p95 ${scrubbed.scrubP95Ms} ms over ${scrubbed.scrubs}`);
  assert.ok(num(scrubbed.scrubP95Ms) < 400, `scrubs come quickly: p95 ${scrubbed.scrubP95Ms} ms`);
  await shot(page, 'scrubbed');

  // Play at 1×: the recorded time moves on about as fast as the wall clock (measured
  // from its first step, over 4 s, to a preview interval and a #stats refresh). From
  // the start of the footage: 4 s at 1× and 6 s at 4× ahead of it.
  const start = zoomed.x(first + 1e6);
  await drag(page, cdp, [start + 20, start + 10, start]);
  await untilShown(page, 'the start of the footage', slack);
  const t0 = num((await stats(page)).playbackAtUs);
  await page.tap('#pb-play');
  const [, moving] = await untilStats(page, (s) => s.playbackState === 'playing' && num(s.playbackAtUs) > t0, 3000, 'playing');
  const wall0 = Date.now();
  await sleep(4000);
  const played = await stats(page);
  const advanced = (num(played.playbackAtUs) - num(moving.playbackAtUs)) / 1000;
  const wall = Date.now() - wall0;
  console.log(`1×: ${advanced.toFixed(0)} ms of footage in ${wall} ms; ${played.fps} fps; ${played.playbackState}, ${played.playbackTrack} at ${played.playbackAtUs}; the alarm was at ${alarmUs}`);
  const quantum = 1000 / PREVIEW_FPS + 300;
  assert.ok(Math.abs(advanced - wall) <= quantum, `1× plays at real time: ${advanced} ms in ${wall} ms`);
  await shot(page, 'playing');
  // 4×: the speed button twice (1× → 2× → 4×), the play goes on at it.
  await page.tap('#pb-speed');
  await page.tap('#pb-speed');
  await untilStats(page, (s) => s.playbackSpeed === '4000' && s.playbackState === 'playing', 3000, 'playing at 4×');
  const fast0 = num((await stats(page)).playbackAtUs);
  await sleep(1500);
  const fast = (num((await stats(page)).playbackAtUs) - fast0) / 1000;
  console.log(`4×: ${fast.toFixed(0)} ms of footage in 1500 ms`);
  assert.ok(fast > 1500 * 2, `4× is faster: ${fast} ms in 1500 ms`);
  // Backwards: the recorded time goes down.
  await page.tap('#pb-reverse');
  await untilStats(page, (s) => s.playbackSpeed === '-4000', 3000, 'playing backwards');
  const back0 = num((await stats(page)).playbackAtUs);
  await sleep(1500);
  const back = await stats(page);
  assert.ok(num(back.playbackAtUs) < back0 - 1e6, `backwards: ${back0} → ${back.playbackAtUs}`);
  await page.tap('#pb-reverse');
  await untilStats(page, (s) => s.playbackState === 'paused', 3000, 'paused');
  await shot(page, 'reversed');

  // Frame steps: one frame forward, one back, on the track shown.
  const step0 = await stats(page);
  const interval = (step0.playbackTrack === 'full' ? 1e6 / FPS : 1e6 / PREVIEW_FPS) * 1.6;
  await page.tap('#pb-step-forward');
  const [, fwd] = await untilStats(page, (s) => s.playbackState === 'paused' && num(s.playbackAtUs) > num(step0.playbackAtUs), 3000, 'a step forward');
  assert.ok(num(fwd.playbackAtUs) - num(step0.playbackAtUs) <= interval, `one frame forward: ${step0.playbackAtUs} → ${fwd.playbackAtUs}`);
  await page.tap('#pb-step-back');
  const [, bwd] = await untilStats(page, (s) => s.playbackState === 'paused' && num(s.playbackAtUs) < num(fwd.playbackAtUs), 3000, 'a step back');
  assert.equal(bwd.playbackAtUs, step0.playbackAtUs, 'one frame back is where it was');

  // The event list names the alarm, its reason and who raised it; a tap goes there.
  await page.tap('#pb-events');
  const item = page.locator('#event-list button[data-kind="alarm"]').first();
  await item.waitFor({ timeout: 15000 });
  const text = await item.textContent();
  assert.match(text, /alarm · front door opened · doorbell/);
  await page.locator('#event-list button[data-kind="manual"]').first().waitFor({ timeout: 15000 });
  await shot(page, 'events');
  const eventUs = num(await item.getAttribute('data-at-us'));
  assert.ok(Math.abs(eventUs - alarmUs) < 2e6, `the event is the alarm's time: ${eventUs} vs ${alarmUs}`);
  await item.tap();
  const [, atEvent] = await untilShown(page, 'the alarm\'s frame', slack);
  assert.ok(Math.abs(num(atEvent.playbackAtUs) - eventUs) < slack, `at the event: ${atEvent.playbackAtUs}`);

  // Export: the alarm picked from the list, from its start to its end, downloaded from the
  // edge that served the page and saved by the browser as a Motion-JPEG AVI.
  assert.ok(await page.isVisible('#pb-export'), 'the Export button on the edge\'s own page');
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 20000 }), page.tap('#pb-export')]);
  assert.match(download.suggestedFilename(), new RegExp(`^${cameraOf(edge)}-\\d{8}-\\d{6}\\.avi$`));
  const avi = join(ARTIFACTS, 'playback-export.avi');
  await download.saveAs(avi);
  const head = readFileSync(avi).subarray(0, 12).toString('latin1');
  assert.match(head, /^RIFF[\s\S]{4}AVI $/, 'a RIFF AVI file');
  const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames',
    '-show_entries', 'stream=nb_read_frames,codec_name', '-of', 'json', avi]).toString());
  const [video] = probe.streams;
  console.log(`export: ${download.suggestedFilename()}, ${readFileSync(avi).length} bytes, ${JSON.stringify(probe.streams)}`);
  assert.equal(video.codec_name, 'mjpeg');
  assert.ok(Number(video.nb_read_frames) > 5, `the alarm's frames: ${video.nb_read_frames}`);
  await page.waitForSelector('#pb-export-state[data-state="saved"]', { timeout: 5000 });
  assert.match(await page.textContent('#pb-export-state'), /^Saved .+\.avi \(\d+\.\d MB\)$/);
  await shot(page, 'exported');
  // A clip too long: the edge's 413 says how big it would be, and the status line shows it.
  await page.route('**/export/**', (r) => r.fulfill({ status: 413, contentType: 'text/plain',
    body: 'that clip would be 300 MB; export at most 256 MB at a time\n' }));
  await page.tap('#pb-export');
  await page.waitForSelector('#pb-export-state[data-state="failed"]', { timeout: 5000 });
  assert.equal(await page.textContent('#pb-export-state'), 'Not exported: that clip would be 300 MB; export at most 256 MB at a time');
  await shot(page, 'export-refused');
  await page.unroute('**/export/**');
  // Chromium logs any 4xx load as a console error: that one was asked for.
  problems.splice(0, problems.length, ...problems.filter((p) => !/status of 413/.test(p)));
  // Previous / next event from just after it: back to it, and no next one.
  await page.tap('#pb-step-forward');
  await untilStats(page, (s) => num(s.playbackAtUs) > num(atEvent.playbackAtUs), 3000, 'a step past the event');
  await page.tap('#pb-prev-event');
  await untilStats(page, (s) => s.playbackState === 'paused' && Math.abs(num(s.playbackAtUs) - eventUs) < slack, 3000, 'the previous event');

  // The recorded frame goes through the live picture's path: rotated, and a snapshot of it.
  await page.tap('#btn-rotate');
  const snap = await page.evaluate(async () => {
    const blob = await window.wasmBindings.snapshot();
    const bitmap = await createImageBitmap(blob);
    return { type: blob.type, bytes: blob.size, width: bitmap.width, height: bitmap.height };
  });
  assert.equal(snap.type, 'image/jpeg');
  assert.ok(snap.width >= 160 && snap.bytes > 1000, `a snapshot of the recorded frame: ${JSON.stringify(snap)}`);
  await shot(page, 'rotated');
  await page.tap('#btn-rotate');
  await page.tap('#btn-rotate');
  await page.tap('#btn-rotate');

  // Live in one tap: the live stream's frames again.
  const frames0 = num((await stats(page)).frames);
  await page.tap('#pb-live');
  const [liveMs, live] = await untilStats(page, (s) => s.mode === 'live' && num(s.frames) > 3 && num(s.latencyP50Ms) > 0, 5000, 'live again');
  console.log(`back to live in ${liveMs} ms (switch → first picture ${live.switchMs} ms); ${frames0} recorded frames drawn before`);
  await shot(page, 'live');
  assert.deepEqual(problems, [], 'no errors on the page');
  await page.context().close();
  writeFileSync(join(ARTIFACTS, 'playback-edge.log'), edge.log());
});

test('scrubbing through an 8 Mbit/s link with 80 ms of round trip: each frame asked for on screen within 400 ms (p95)', async () => {
  const ws = new URL(edge.ws);
  const link = await startLink({ host: ws.hostname, port: Number(ws.port) }, { kbps: 8000, delayMs: 40 });
  try {
    const broker = `ws://127.0.0.1:${link.port}${ws.pathname}`;
    const { page, problems } = await openPhone(browser, `${edge.viewer}?broker=${encodeURIComponent(broker)}`);
    const cdp = await page.context().newCDPSession(page);
    await untilStats(page, (s) => num(s.frames) > 3, 15000, 'live frames through the link');
    await page.tap('#view');
    await page.tap('#btn-recordings');
    await untilStats(page, (s) => s.playbackState === 'paused' && s.playbackAtUs, 8000, 'the recordings open');
    // A page told another broker may not be the edge's: no Export (the edge's web port only).
    assert.equal(await page.isVisible('#pb-export'), false, 'no Export button with ?broker=');
    const newest = num((await stats(page)).playbackAtUs);
    await page.waitForFunction(() => document.querySelector('#event-list').childElementCount > 0, null, { timeout: 15000 });
    await zoomTo(page, cdp, newest);
    const zoomed = await axis(page);
    const slack = 1e6 / PREVIEW_FPS + 50e3;
    const first = Math.max(recordStartUs + 1e6, zoomed.start);
    for (let i = 0; i < 12; i++) {
      const x = zoomed.x(first + ((i + 1) / 13) * (newest - first));
      await drag(page, cdp, [x - 20, x - 10, x]);
      await untilShown(page, `through the link, the frame at x=${Math.round(x)}`, slack);
    }
    const s = await stats(page);
    console.log(`8 Mbit/s relay: scrub p50 ${s.scrubP50Ms} ms, p95 ${s.scrubP95Ms} ms over ${s.scrubs}`);
    assert.ok(num(s.scrubP95Ms) <= 400, `scrub p95 ${s.scrubP95Ms} ms through the link`);
    await shot(page, 'relay');
    assert.deepEqual(problems, [], 'no errors on the page');
    await page.context().close();
  } finally {
    await link.close();
  }
});
