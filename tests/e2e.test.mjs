// End-to-end: edge (test pattern → mozjpeg → embedded rumqttd) → MQTT over WebSocket →
// the release build of the viewer in headless Chromium. Needs `trunk build --release`
// and `cargo build --release -p edge` first (./test.sh does both).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, extname } from 'node:path';
import http from 'node:http';
import jsQR from 'jsqr';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { ROOT, ARTIFACTS, startEdge, startBrowser, openViewer, readStats, waitForStats, canvasSpread, sleep, publishRaw, freePort, slowLink } from './util.mjs';

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
    assert.equal(s.engine, 'worker', 'decode and draw run in a worker, off the page\'s main thread');
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
    // Its page says so once it is here (the engine starts first: www/early.js).
    const w = await waitForStats(wrong.page, (s) => s.connected, 5000).catch(() => readStats(wrong.page));
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

/** JPEGs made by Chromium's own encoder (canvas.toBlob): not the edge's encoder. */
async function browserJpegs(count, width, height) {
  const page = await browser.newPage();
  const frames = await page.evaluate(async ({ count, width, height }) => {
    const c = new OffscreenCanvas(width, height);
    const g = c.getContext('2d');
    const out = [];
    for (let i = 0; i < count; i++) {
      g.fillStyle = `hsl(${(i * 360) / count}, 70%, 50%)`;
      g.fillRect(0, 0, width, height);
      g.fillStyle = '#fff';
      g.font = `${height / 4}px sans-serif`;
      g.fillText(`replay ${i}`, 10, height / 2);
      const blob = await c.convertToBlob({ type: 'image/jpeg', quality: 0.8 });
      out.push(Array.from(new Uint8Array(await blob.arrayBuffer())));
    }
    return out;
  }, { count, width, height });
  await page.close();
  return frames.map((f) => Buffer.from(f));
}

test('a replayed MJPEG file streams to the browser through the passthrough path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqcam-replay-'));
  const jpegs = await browserJpegs(12, 480, 270);
  // One MJPEG file (JPEGs back to back), with a truncated frame in the middle that the
  // edge must drop rather than publish.
  const broken = jpegs[5].subarray(0, jpegs[5].length >> 1);
  const file = join(dir, 'clip.mjpeg');
  writeFileSync(file, Buffer.concat([...jpegs.slice(0, 5), broken, ...jpegs.slice(5)]));
  const edge = await startEdge(['--source', file, '--fps', '15']);
  try {
    const { page, problems } = await openViewer(browser, edge.viewer);
    await waitForStats(page, (s) => s.connected && s.frames >= 10);
    await sleep(2500);
    const s = await readStats(page);
    console.log('replay stats:', JSON.stringify(s));
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-replay.png') });
    assert.equal(s.width, 480);
    assert.equal(s.height, 270);
    assert.ok(s.fps >= 12 && s.fps <= 18, `fps ${s.fps} not near 15`);
    assert.equal(s.errors, 0, 'the truncated frame never reached the viewer');
    assert.deepEqual(problems, []);
  } finally {
    await edge.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('latency stays right when the edge clock is 5 s off: the offset is measured and corrected', async () => {
  const measure = async (skewMs) => {
    const edge = await startEdge(['--size', '320x240', '--fps', '30', '--clock-skew-ms', String(skewMs)]);
    try {
      const { page, problems } = await openViewer(browser, edge.viewer);
      await waitForStats(page, (s) => s.connected && s.frames >= 10);
      // The first burst of clock exchanges, then a latency window (120 frames at 30 fps)
      // measured entirely with the settled offset.
      await page.waitForFunction(() => Number(document.querySelector('#stats').dataset.clockSamples) >= 20);
      await sleep(4500);
      const s = await readStats(page);
      const clock = await page.$eval('#stats', (e) => ({
        offset: Number(e.dataset.clockOffsetMs),
        uncertainty: Number(e.dataset.clockUncertaintyMs),
        network: Number(e.dataset.stagePublishedReceivedP50Ms),
      }));
      if (skewMs !== 0) await page.screenshot({ path: join(ARTIFACTS, `viewer-skew${skewMs > 0 ? '+' : ''}${skewMs}.png`) });
      assert.deepEqual(problems, []);
      return { ...s, ...clock };
    } finally {
      await edge.stop();
    }
  };
  const base = await measure(0);
  const ahead = await measure(5000);
  const behind = await measure(-5000);
  console.log('skew 0 / +5 s / -5 s:', JSON.stringify([base, ahead, behind].map((r) => ({
    p50: r.p50, p95: r.p95, network: r.network, offset: r.offset, uncertainty: r.uncertainty }))));
  for (const [r, skew] of [[ahead, 5000], [behind, -5000]]) {
    assert.ok(Math.abs(r.offset - skew) <= Math.max(2, r.uncertainty), `offset ${r.offset} ms for a ${skew} ms skew`);
    // The stage that crosses the two clocks, where a wrong offset would show in full.
    assert.ok(Math.abs(r.network - base.network) <= 5,
      `corrected published → received p50 ${r.network} ms vs ${base.network} ms unskewed (offset ${r.offset} ± ${r.uncertainty} ms)`);
    // The total ends at the next display frame, whose phase against the camera's
    // differs from run to run by up to a display frame (16.7 ms at 60 Hz).
    assert.ok(Math.abs(r.p50 - base.p50) <= 5 + 1000 / 60,
      `corrected p50 ${r.p50} ms vs ${base.p50} ms unskewed (offset ${r.offset} ± ${r.uncertainty} ms)`);
  }
  assert.ok(Math.abs(base.offset) <= 2, `same machine: offset ${base.offset} ms`);
});

/** A version-1 frame header (little-endian; what edges wrote before the stamp). */
function header({ magic = 'MQCF', version = 1, headerLen = 48, sequence = 1 } = {}) {
  const h = Buffer.alloc(48);
  h.write(magic, 0, 'latin1');
  h[4] = version;
  h.writeUInt16LE(headerLen, 6);
  h.writeBigUInt64LE(BigInt(sequence), 8);
  const now = BigInt(Date.now()) * 1000n;
  h.writeBigUInt64LE(now, 16);
  h.writeBigUInt64LE(now, 24);
  h.writeUInt32LE(64, 32);
  h.writeUInt32LE(48, 36);
  return h;
}

/** SOI and a version-2 stamp segment (wire/src/lib.rs), as the edge writes them. */
function stamp({ version = 2, length = 48, sequence = 1 } = {}) {
  const s = Buffer.alloc(52);
  s.set([0xff, 0xd8, 0xff, 0xe9], 0);
  s.writeUInt16BE(length, 4);
  s.write('MQCF', 6, 'latin1');
  s[10] = version;
  s.writeBigUInt64LE(BigInt(sequence), 12);
  return s;
}

test('garbage on the frame topic is counted, never thrown, and the next good frame draws', async () => {
  // A slow camera: a bad JPEG waiting behind a decode could otherwise be replaced by the
  // next good frame before it is tried (counted as dropped, correctly, not as an error).
  const publisher = { username: 'e2e-pub', password: 'e2e-secret' };
  // Slow, too, so the gate's outbox (newest two frames win for a client that has not read
  // them yet) never replaces the 4 MB payload before a loaded browser reads it.
  const edge = await startEdge(['--size', '320x240', '--fps', '3', '--publisher-login', `${publisher.username}:${publisher.password}`]);
  try {
    // Full quality pinned: a rendition switch (the link estimate after a 4 MB payload)
    // would rightly drop the old rendition's frames still waiting, bad ones included.
    const { page, problems } = await openViewer(browser, `${edge.viewer}?quality=full`);
    await waitForStats(page, (s) => s.connected && s.frames >= 3);
    const random = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919 + 13) & 255));
    const bad = [
      random(1000), // random bytes
      header().subarray(0, 20), // truncated header
      Buffer.concat([header({ magic: 'XXXX' }), Buffer.from([0xff, 0xd8, 0xff, 0xd9])]), // wrong magic
      Buffer.concat([header({ version: 9 }), Buffer.from([0xff, 0xd8, 0xff, 0xd9])]), // unknown version
      Buffer.concat([header({ headerLen: 4000 }), Buffer.from([0xff, 0xd8])]), // header longer than payload
      Buffer.concat([header(), Buffer.from([0xff, 0xd8, 0xff, 0xe0]), random(5000)]), // valid header, corrupt JPEG
      Buffer.concat([header(), Buffer.from([0xff, 0xd8]), random(4 * 1024 * 1024)]), // several MB of corrupt JPEG
      Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]), random(3000)]), // a JPEG without a stamp
      Buffer.concat([stamp({ version: 9 }), random(3000)]), // a stamp of an unknown version
      Buffer.concat([stamp(), random(3000)]), // a stamp on a corrupt JPEG
    ];
    const before = await readStats(page);
    // One at a time: several in one burst would leave only the newest for the decoder.
    // Each counted before the next is sent, so none waits behind another's decode.
    for (const [i, p] of bad.entries()) {
      await publishRaw(edge.tcpHost, edge.tcpPort, edge.topic, [p], publisher);
      await waitForStats(page, (s) => s.errors >= before.errors + i + 1, 5000)
        .catch((e) => { throw new Error(`bad payload ${i} (${p.length} bytes) was not counted: ${e.message}`); });
    }
    const after = await waitForStats(page, (s) => s.errors >= before.errors + bad.length && s.frames >= before.frames + 8, 15000);
    assert.equal(after.errors - before.errors, bad.length, 'each bad payload counted once');
    assert.ok(after.connected, 'still connected');
    assert.deepEqual(problems, [], 'nothing thrown to the console');
  } finally {
    await edge.stop();
  }
});

test('when the broker goes away the viewer says so, and frames resume without a reload', async () => {
  const ports = { http: await freePort(), ws: await freePort(), tcp: await freePort() };
  let edge = await startEdge(['--size', '320x240', '--fps', '20'], ports);
  try {
    const { page, problems } = await openViewer(browser, edge.viewer);
    await waitForStats(page, (s) => s.connected && s.frames >= 5);
    // The edge and its embedded broker stop (as on a restart or a crash of the host).
    await edge.stop();
    const down = await waitForStats(page, (s) => !s.connected, 10000);
    assert.match(down.state, /reconnecting/);
    edge = await startEdge(['--size', '320x240', '--fps', '20'], ports);
    const t0 = Date.now();
    const back = await waitForStats(page, (s) => s.connected && s.frames >= down.frames + 10, 15000);
    console.log(`frames resumed ${Date.now() - t0} ms after the broker was back`);
    assert.ok(back.frames > down.frames);
    assert.deepEqual(problems.filter((p) => !p.includes('WebSocket')), [], 'nothing but the refused reconnects');
  } finally {
    await edge.stop();
  }
});

test('a camera that stops is shown offline, with the age of the last frame', async () => {
  // The host edge's broker lets the camera's edge publish with its publisher login.
  const host = await startEdge(['--size', '160x120', '--fps', '5', '--publisher-login', 'door-edge:door-secret']);
  const cam = await startEdge(['--broker', `mqtt://${host.tcpHost}:${host.tcpPort}`, '--camera', 'door', '--size', '320x240', '--fps', '20',
    '--username', 'door-edge', '--password', 'door-secret']);
  try {
    const { page, problems } = await openViewer(browser, `${host.viewer}?camera=door`);
    await waitForStats(page, (s) => s.connected && s.frames >= 5);
    assert.equal(await page.$eval('#stats', (e) => e.dataset.cameraState), 'online');
    await cam.stop();
    const s = await waitForStats(page, (st) => st.state.includes('camera offline'), 10000);
    assert.match(s.state, /edge stopped.*last frame \d+ s ago/);
    assert.equal(await page.$eval('#stats', (e) => e.dataset.cameraState), 'offline');
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-offline.png') });
    assert.deepEqual(problems, []);
  } finally {
    await cam.stop();
    await host.stop();
  }
});

test('a hidden tab disconnects and a shown one picks the stream up again', async () => {
  const edge = await startEdge(['--size', '320x240', '--fps', '20']);
  try {
    const { page, problems } = await openViewer(browser, edge.viewer);
    await waitForStats(page, (s) => s.connected && s.frames >= 5);
    const setHidden = (hidden) => page.evaluate((h) => {
      Object.defineProperty(document, 'hidden', { value: h, configurable: true });
      Object.defineProperty(document, 'visibilityState', { value: h ? 'hidden' : 'visible', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
    await setHidden(true);
    const paused = await waitForStats(page, (s) => !s.connected && /paused/.test(s.state), 5000);
    await sleep(1000);
    assert.ok((await readStats(page)).frames <= paused.frames + 1, 'no frames while hidden');
    await setHidden(false);
    await waitForStats(page, (s) => s.connected && s.frames >= paused.frames + 10, 10000);
    assert.deepEqual(problems, []);
  } finally {
    await edge.stop();
  }
});

test('a camera with a login: the page asks for it, refuses a wrong one, and takes one from the URL fragment', async () => {
  const password = 'correct horse:battery';
  const edge = await startEdge(['--size', '320x240', '--fps', '15', '--username', 'viewer', '--password', password]);
  try {
    // Nothing served to the browser carries the password.
    for (const path of ['', 'edge.json', 'index.html']) {
      const body = await (await fetch(edge.viewer + path)).text();
      assert.ok(!body.includes(password) && !body.includes('battery'), `/${path} leaks the password`);
    }

    const { page, problems } = await openViewer(browser, edge.viewer, { width: 390, height: 844 });
    let s = await waitForStats(page, (st) => /login needed/.test(st.state), 10000);
    assert.equal(s.frames, 0);
    assert.ok(await page.isVisible('#login'), 'the login form shows');
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-login.png') });

    await page.fill('#login-user', 'viewer');
    await page.fill('#login-password', 'wrong');
    await page.click('#login button');
    s = await waitForStats(page, (st) => /refused the login/.test(st.state), 10000);
    assert.ok(await page.isVisible('#login'), 'asked again after a wrong password');

    await page.fill('#login-password', password);
    await page.click('#login button');
    s = await waitForStats(page, (st) => st.connected && st.frames >= 5, 15000);
    assert.ok(!(await page.isVisible('#login')), 'the form goes away');
    assert.deepEqual(problems, [], 'console stays clean');

    // The fragment is never sent to the server; a bookmarked URL logs in by itself.
    const fragment = `#username=viewer&password=${encodeURIComponent(password)}`;
    const direct = await openViewer(browser, edge.viewer + fragment);
    await waitForStats(direct.page, (st) => st.connected && st.frames >= 5, 15000);
    assert.ok(!(await direct.page.isVisible('#login')));
  } finally {
    await edge.stop();
  }
});

test('a viewer that tries to write a camera topic is cut off; the others keep watching', async () => {
  const edge = await startEdge(['--size', '320x240', '--fps', '15']);
  try {
    const { page, problems } = await openViewer(browser, edge.viewer);
    await waitForStats(page, (s) => s.connected && s.frames >= 5);
    const before = await readStats(page);
    // No login: the gate treats this client as a viewer, and viewers may not publish frames.
    const rogue = Buffer.concat([header(), Buffer.from([0xff, 0xd8, 0xff, 0xd9])]);
    await publishRaw(edge.tcpHost, edge.tcpPort, edge.topic, [rogue, rogue, rogue]);
    const after = await waitForStats(page, (s) => s.frames >= before.frames + 15, 15000);
    assert.equal(after.errors, before.errors, 'the rogue frames never reached the viewer');
    assert.ok(after.connected);
    assert.match(edge.log(), /gate: closed a connection.*may not publish/);
    assert.deepEqual(problems, [], 'console stays clean');
  } finally {
    await edge.stop();
  }
});

test('over TLS: the page loads over https and streams over wss, with a CA made for this test', async () => {
  // A throwaway CA and a certificate it signs for 127.0.0.1, made with openssl.
  const dir = mkdtempSync(join(tmpdir(), 'mqcam-tls-'));
  const f = (name) => join(dir, name);
  const openssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=mqcam e2e CA');
  openssl('req', ...ec, '-keyout', f('key.pem'), '-out', f('req.csr'), '-subj', '/CN=localhost');
  writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', f('req.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('cert.pem'), '-days', '1', '-extfile', f('ext.cnf'));
  // Chromium trusts exactly this certificate's key, nothing else.
  const spki = new X509Certificate(readFileSync(f('cert.pem'))).publicKey.export({ type: 'spki', format: 'der' });
  const pin = createHash('sha256').update(spki).digest('base64');
  const tlsBrowser = await startBrowser([`--ignore-certificate-errors-spki-list=${pin}`]);
  const edge = await startEdge(['--size', '320x240', '--fps', '15', '--tls-cert', f('cert.pem'), '--tls-key', f('key.pem'),
    '--username', 'viewer', '--password', 'tls-secret']);
  try {
    assert.match(edge.viewer, /^https:\/\//);
    assert.match(edge.ws, /^wss:\/\//);
    const { page, problems } = await openViewer(tlsBrowser, `${edge.viewer}#username=viewer&password=tls-secret`);
    const s = await waitForStats(page, (st) => st.connected && st.frames >= 10, 20000);
    assert.equal(s.width, 320);
    assert.deepEqual(problems, [], 'console stays clean');
    // Without the pin, the same browser build refuses the certificate.
    const { page: untrusting } = await openViewer(browser, 'about:blank');
    await assert.rejects(untrusting.goto(edge.viewer), /ERR_CERT/);
  } finally {
    await edge.stop();
    await tlsBrowser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Reads back the QR code the edge drew in the terminal with half blocks (light modules
 * drawn, dark ones blank) as an image, and decodes it with jsQR, an independent decoder.
 */
function decodeTerminalQr(text) {
  const rows = text.split('\n').filter((l) => /^ {2}[ █▀▄]+$/u.test(l)).map((l) => [...l.slice(2)]);
  assert.ok(rows.length > 10, `no QR code in the banner:\n${text}`);
  const scale = 4;
  const width = Math.max(...rows.map((r) => r.length)) * scale;
  const height = rows.length * 2 * scale;
  const rgba = new Uint8ClampedArray(width * height * 4);
  rows.forEach((row, y) => row.forEach((ch, x) => {
    const halves = [ch === '█' || ch === '▀', ch === '█' || ch === '▄'];
    halves.forEach((light, half) => {
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const i = (((y * 2 + half) * scale + dy) * width + x * scale + dx) * 4;
          rgba.fill(light ? 255 : 0, i, i + 3);
          rgba[i + 3] = 255;
        }
      }
    });
  }));
  return jsQR(rgba, width, height)?.data;
}

test('first run: the printed link and its QR code open the camera on a phone with no typing; the camera is not open without it', async () => {
  const state = mkdtempSync(join(tmpdir(), 'mqcam-state-'));
  const edge = await startEdge(['--size', '320x240', '--fps', '15', '--state-dir', state, '--print-login', 'always']);
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  try {
    const password = readFileSync(join(state, 'viewer-password'), 'utf8').trim();
    assert.equal(edge.viewer, `${edge.viewer.split('#')[0]}#password=${password}`, 'the printed URL carries the stored password');
    await sleep(200); // the QR code follows the topic line in the same write; let it arrive
    const scanned = decodeTerminalQr(edge.stdout());
    assert.equal(scanned, edge.viewer, 'the QR code is the printed link');

    // Scanning it on a phone: the stream plays, nothing typed, and the password is gone
    // from the address bar (and so from the history and links shared from there).
    const page = await phone.newPage();
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(scanned);
    const s = await waitForStats(page, (st) => st.connected && st.frames >= 10, 15000);
    assert.equal(s.width, 320);
    assert.ok(!page.url().includes('#') && !page.url().includes(password), `address bar: ${page.url()}`);
    assert.ok(!(await page.isVisible('#login')), 'no login form');
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-phone-first-run.png') });
    // A reload in the same tab keeps watching.
    await page.reload();
    await waitForStats(page, (st) => st.connected && st.frames >= 5, 15000);
    assert.deepEqual(problems, [], 'console stays clean');

    // The same page without the link's login: the camera asks for one.
    const stranger = await phone.browser().newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const other = await stranger.newPage();
    await other.goto(edge.viewer.split('#')[0]);
    const refused = await waitForStats(other, (st) => /login needed/.test(st.state), 10000);
    assert.equal(refused.frames, 0);
    assert.equal(await other.inputValue('#login-user'), 'viewer', 'the form suggests the generated login\'s user');
    await stranger.close();
  } finally {
    await phone.close();
    await edge.stop();
    rmSync(state, { recursive: true, force: true });
  }
});

/** A static web server for the site on another port: another origin, as another host would be. */
async function serveSiteElsewhere() {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = join(ROOT, 'dist', path === '/' ? 'index.html' : path.replace(/\.\./g, ''));
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

test('a page from another website cannot watch the camera, even with no login; an origin given with --allow-origin can', async () => {
  const elsewhere = await serveSiteElsewhere();
  let edge = await startEdge(['--no-login', '--size', '320x240', '--fps', '15']);
  try {
    // The edge's own page plays.
    const own = await openViewer(browser, edge.viewer);
    await waitForStats(own.page, (s) => s.connected && s.frames >= 5);
    // The same viewer from another origin, pointed at the edge's broker: refused.
    const url = `${elsewhere.origin}/?broker=${encodeURIComponent(edge.ws)}&camera=cam1`;
    const { page } = await openViewer(browser, url);
    await sleep(4000);
    const s = await readStats(page);
    assert.equal(s.frames, 0, 'no frame reaches a page of another origin');
    assert.ok(!s.connected);
    assert.match(s.state, /cannot open the broker's WebSocket.*--allow-origin/, 'the page says what may be wrong');
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-other-origin-refused.png') });
    assert.match(edge.log(), new RegExp(`refused a WebSocket.*${elsewhere.origin.replace(/[.]/g, '\\.')}`));
    await page.close();
    await edge.stop();

    // Allowed on purpose: the viewer hosted on that other server works.
    edge = await startEdge(['--no-login', '--size', '320x240', '--fps', '15', '--allow-origin', elsewhere.origin]);
    const allowed = await openViewer(browser, `${elsewhere.origin}/?broker=${encodeURIComponent(edge.ws)}&camera=cam1`);
    const ok = await waitForStats(allowed.page, (st) => st.connected && st.frames >= 10, 15000);
    assert.equal(ok.width, 320);
    assert.deepEqual(allowed.problems, [], 'console stays clean');
  } finally {
    await edge.stop();
    await elsewhere.close();
  }
});

test('a phone on a 2 Mbit/s link with 80 ms latency: fresh pictures at what the link can carry, no queue', async () => {
  const link = { kbps: 2000, latencyMs: 80 };
  // What this emulated link carries of 640x480 frames: the edge without flow control
  // fills it (its latency grows without bound meanwhile, so only the rate is used).
  const capacity = await slowLink(browser, { ...link, edgeArgs: ['--viewer-window', '0'] });
  const ours = await slowLink(browser, link);
  const transferMs = 1000 / capacity.fps;
  console.log('2 Mbit/s link:', JSON.stringify({ capacity, ours, transferMs }));
  assert.ok(ours.fps >= 0.8 * capacity.fps, `${ours.fps} fps drawn, the link carries ${capacity.fps}`);
  const bound = 2 * (transferMs + ours.rttMs);
  assert.ok(ours.p95 <= bound, `latency p95 ${ours.p95} ms over 2 × (transfer ${transferMs.toFixed(0)} + rtt ${ours.rttMs}) = ${bound.toFixed(0)} ms`);
  assert.ok(capacity.p95 > 2 * ours.p95, `without flow control the same link queues (p95 ${capacity.p95} ms)`);
});

test('where a canvas cannot be handed to a worker, the viewer runs on the page', async () => {
  const edge = await startEdge(['--size', '320x240', '--fps', '20']);
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  try {
    // As in a browser without OffscreenCanvas (Safari before 16.4).
    await context.addInitScript(() => {
      delete window.OffscreenCanvas;
      delete HTMLCanvasElement.prototype.transferControlToOffscreen;
    });
    const page = await context.newPage();
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(edge.viewer);
    const s = await waitForStats(page, (st) => st.connected && st.frames >= 20, 15000);
    assert.equal(s.engine, 'page');
    assert.equal(s.width, 320);
    const px = await canvasSpread(page);
    assert.ok(px.max - px.min > 100 && px.distinct > 50, `canvas looks blank: ${JSON.stringify(px)}`);
    assert.deepEqual(problems, [], 'console stays clean');
  } finally {
    await context.close();
    await edge.stop();
  }
});

test('a picture whose size changes mid-stream: the worker resizes the canvas both ways', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqcam-sizes-'));
  const small = await browserJpegs(5, 320, 240);
  const large = await browserJpegs(5, 640, 360);
  const file = join(dir, 'sizes.mjpeg');
  writeFileSync(file, Buffer.concat([...small, ...large]));
  const edge = await startEdge(['--source', file, '--fps', '10']);
  try {
    const { page, problems } = await openViewer(browser, edge.viewer);
    const seen = new Set();
    const deadline = Date.now() + 10000;
    let px = null;
    const both = () => seen.has('320x240:320x240') && seen.has('640x360:640x360');
    while (Date.now() < deadline && !both()) {
      const s = await readStats(page);
      if (s.width) {
        const snap = await canvasSpread(page);
        // The picture on screen has the size of the frame the stats describe (or the
        // next one's, when a frame lands in between).
        if (snap.width === s.width) seen.add(`${s.width}x${s.height}:${snap.width}x${snap.height}`);
        px = snap;
      }
      await sleep(60);
    }
    assert.ok(both(), `sizes seen: ${[...seen].join(', ')}`);
    assert.equal((await readStats(page)).engine, 'worker');
    assert.ok(px.max - px.min > 50, 'a real picture');
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-size-change.png') });
    assert.deepEqual(problems, [], 'console stays clean');
  } finally {
    await edge.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
