// Helpers shared by the browser tests and the measurement script: start the edge on free
// ports, start headless Chromium, read the viewer's #stats element.
import { spawn } from 'node:child_process';
import { readFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { inflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = join(ROOT, 'tests', 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

const EDGE_BIN = process.env.EDGE_BIN ?? join(ROOT, 'target', 'release', 'edge');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** A port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts the edge on loopback, on free ports unless `ports` ({ http, ws, tcp }) says
 * otherwise; resolves once it printed its URLs. `openFiles` starts it under
 * `ulimit -n openFiles` (soft and hard), as a shell or service with that limit would.
 * `command` ([program, ...its args]) runs another edge binary, or one through an emulator
 * (the arm64 build under qemu-user); `startMs` is how long it may take to print its URLs.
 */
export async function startEdge(args = [], ports = { http: 0, ws: 0, tcp: 0 }, { openFiles, command = [EDGE_BIN], startMs = 20000 } = {}) {
  // How viewers log in is always explicit: a test that does not say runs with --no-login.
  const loginGiven = args.some((a) => ['--username', '--password', '--no-login', '--state-dir', '--broker'].includes(a));
  const edgeArgs = ['--bind', '127.0.0.1', '--http-port', String(ports.http), '--ws-port', String(ports.ws),
    '--tcp-port', String(ports.tcp), ...(loginGiven ? [] : ['--no-login']), ...args];
  // exec: the edge takes the shell's process id, so `pid` is the edge's.
  const [program, ...programArgs] = command;
  const child = openFiles
    ? spawn('bash', ['-c', `ulimit -n ${Number(openFiles)} && exec "$0" "$@"`, program, ...programArgs, ...edgeArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(program, [...programArgs, ...edgeArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const urls = await new Promise((resolveUrls, reject) => {
    const timer = setTimeout(() => reject(new Error(`edge printed no URLs in ${startMs / 1000} s\n${stdout}\n${stderr}`)), startMs);
    child.stdout.on('data', (d) => {
      stdout += d;
      const viewer = stdout.match(/viewer:\s+(\S+)/);
      const ws = stdout.match(/mqtt-ws:\s+(\S+)/);
      const tcp = stdout.match(/mqtt-tcp:\s+mqtts?:\/\/(\S+):(\d+)/);
      const topic = stdout.match(/topic:\s+(\S+)/);
      // The topic line comes last; the broker lines are missing with an external broker.
      if (viewer && topic) {
        clearTimeout(timer);
        resolveUrls({ viewer: viewer[1], ws: ws?.[1], tcpHost: tcp?.[1], tcpPort: tcp ? Number(tcp[2]) : undefined, topic: topic[1] });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`edge exited with ${code}\n${stdout}\n${stderr}`));
    });
  });
  return {
    ...urls,
    pid: child.pid,
    log: () => stderr,
    /** Everything the edge printed on stdout so far (the banner, QR code included). */
    stdout: () => stdout,
    /** Resident memory of the edge process in MB (Linux). */
    rssMb() {
      const m = readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
      return m ? Number(m[1]) / 1024 : NaN;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Headless Chromium as these machines need it (see ENV.md). */
export async function startBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', ...extraArgs],
  });
}

/** Opens a page and records console errors and uncaught exceptions. */
/**
 * A phone page (390x844 unless told, touch, mobile viewport) that records console errors
 * and uncaught exceptions in `problems`.
 */
export async function openPhone(browser, url, viewport = { width: 390, height: 844 }) {
  const context = await browser.newContext({ viewport, hasTouch: true, isMobile: true });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  await page.goto(url);
  return { context, page, problems };
}

export async function openViewer(browser, url, viewport = { width: 800, height: 700 }) {
  const page = await browser.newPage({ viewport });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  await page.goto(url);
  return { page, problems };
}

/**
 * Slows the page's network down with Chromium's own emulation (CDP): every byte the page
 * receives, WebSocket included, at `kbps` kbit/s each way, `latencyMs` added. `kbps`
 * can be changed later by calling it again.
 */
export async function emulateLink(page, { kbps, latencyMs }) {
  page.__cdp ??= await page.context().newCDPSession(page);
  await page.__cdp.send('Network.enable');
  // Infinity: no limit (-1). Chromium's limit is not what it says for fast rates:
  // "50 Mbit/s" carries ~6.8 Mbit/s of WebSocket frames, and a limit raised from 2 to
  // 100 Mbit/s on an open WebSocket ~7.5 (measured with 190 KB frames). No limit with
  // latency left in keeps an open socket throttled for seconds; with latency 0 too,
  // Chromium stops emulating at once.
  const bytesPerSecond = kbps === Infinity ? -1 : (kbps * 1000) / 8;
  await page.__cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: latencyMs, downloadThroughput: bytesPerSecond, uploadThroughput: bytesPerSecond });
}

/**
 * Watches #stats for `ms` and returns each newly shown frame's latency (ms) and the
 * frames drawn meanwhile. The overlay refreshes 4 times a second, so at higher rates
 * this samples frames rather than seeing every one.
 */
export async function sampleLatencies(page, ms) {
  return page.evaluate((ms) => new Promise((resolve) => {
    const el = document.querySelector('#stats');
    const first = Number(el.dataset.frames);
    let frames = first;
    const latencies = [];
    const seen = new MutationObserver(() => {
      const n = Number(el.dataset.frames);
      if (n !== frames && el.dataset.latencyLastMs !== '') latencies.push(Number(el.dataset.latencyLastMs));
      frames = n;
    });
    seen.observe(el, { attributes: true });
    setTimeout(() => { seen.disconnect(); resolve({ latencies, frames: frames - first }); }, ms);
  }), ms);
}

/** Nearest-rank percentile of numbers. */
export function percentile(values, p) {
  const v = [...values].sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length, Math.max(1, Math.ceil((p / 100) * v.length))) - 1] : null;
}

/**
 * One phone on an emulated link: the edge at 640x480@30 (plus `edgeArgs`), a phone-sized
 * page whose network runs at `kbps` with `latencyMs` added, `warmupMs` to settle, then
 * `seconds` measured. `change` ({ atMs, kbps }) switches the link's rate mid-measurement.
 * Returns drawn fps, latency p50/p95 (per frame), the smallest round trip, KB per frame.
 */
export async function slowLink(browser, { kbps, latencyMs, seconds = 10, warmupMs = 8000, edgeArgs = [], change }) {
  const edge = await startEdge(['--size', '640x480', '--fps', '30', ...edgeArgs]);
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  try {
    const page = await context.newPage();
    await emulateLink(page, { kbps, latencyMs });
    // The full stream, pinned: this measures flow control on one rendition (the viewer
    // would otherwise move to a smaller one by itself; adapt.test.mjs tests that).
    await page.goto(`${edge.viewer}?quality=full`);
    await waitForStats(page, (s) => s.connected && s.frames >= 3, 30000);
    await sleep(warmupMs);
    const e0 = await (await fetch(new URL('stats.json', edge.viewer))).json();
    if (change) setTimeout(() => emulateLink(page, { kbps: change.kbps, latencyMs }), change.atMs);
    const { latencies, frames } = await sampleLatencies(page, seconds * 1000);
    const e1 = await (await fetch(new URL('stats.json', edge.viewer))).json();
    const rttMs = 2 * Number(await page.$eval('#stats', (el) => el.dataset.clockUncertaintyMs));
    const stats = await readStats(page);
    return {
      fps: frames / seconds,
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      rttMs,
      kbPerFrame: (e1.published_bytes - e0.published_bytes) / Math.max(1, e1.published - e0.published) / 1000,
      window: stats.window,
      linkKbps: stats.linkKbps,
    };
  } finally {
    await context.close();
    await edge.stop();
  }
}

/** The #stats element's data attributes, numbers parsed. */
export async function readStats(page) {
  const raw = await page.$eval('#stats', (el) => ({ ...el.dataset }));
  const num = (v) => (v === undefined || v === '' ? null : Number(v));
  return {
    connected: raw.connected === 'true',
    frames: num(raw.frames),
    fps: num(raw.fps),
    p50: num(raw.latencyP50Ms),
    p95: num(raw.latencyP95Ms),
    dropped: num(raw.dropped),
    errors: num(raw.errors),
    width: num(raw.width),
    height: num(raw.height),
    state: raw.state,
    window: num(raw.flowWindow),
    engine: raw.engine,
    linkKbps: num(raw.linkKbps),
  };
}

/** Waits until `predicate(stats)` holds, polling #stats; returns the last reading. */
export async function waitForStats(page, predicate, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await readStats(page);
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`#stats never satisfied the condition; last: ${JSON.stringify(last)}`);
}

/**
 * Spread of pixel values over the picture on screen: near 0 for a blank one. Read
 * through the viewer's own snapshot (the canvas may belong to its worker).
 */
export async function canvasSpread(page) {
  return page.evaluate(async () => {
    const blob = await window.wasmBindings.snapshot();
    const bitmap = await createImageBitmap(blob);
    const c = document.createElement('canvas'); // not OffscreenCanvas: a test may hide it
    c.width = bitmap.width;
    c.height = bitmap.height;
    const g = c.getContext('2d');
    g.drawImage(bitmap, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let min = 255, max = 0, distinct = new Set();
    for (let i = 0; i < d.length; i += 4 * 97) {
      const v = d[i] + d[i + 1] + d[i + 2];
      min = Math.min(min, v / 3); max = Math.max(max, v / 3); distinct.add(v);
    }
    return { min, max, distinct: distinct.size, width: c.width, height: c.height };
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** MQTT remaining-length bytes. */
function remainingLength(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/**
 * Publishes raw payloads (QoS 0) from a separate, minimal MQTT 3.1.1 client over TCP,
 * logged in as `login` ({ username, password }) if given: the edge's gate lets only its
 * --publisher-login write camera topics.
 */
export async function publishRaw(host, port, topic, payloads, login) {
  const sock = net.connect(port, host);
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  // The gate may cut this client off mid-write (that is what some tests check).
  sock.on('error', () => {});
  const flags = login ? 0xc2 : 0x02;
  const credentials = login ? [mqttString(login.username), mqttString(login.password)] : [];
  sock.write(mqttPacket(0x10, Buffer.concat([mqttString('MQTT'), Buffer.from([4, flags, 0, 30]),
    mqttString(`raw-${process.pid}-${Date.now()}`), ...credentials])));
  await new Promise((resolve) => sock.once('data', resolve)); // CONNACK
  for (const p of payloads) {
    sock.write(mqttPacket(0x30, Buffer.concat([mqttString(topic), p])));
  }
  sock.end(Buffer.from([0xe0, 0]));
  await new Promise((resolve) => sock.once('close', resolve));
}

/** One MQTT packet: the fixed header's first byte, the remaining length, the body. */
export function mqttPacket(first, body = Buffer.alloc(0)) {
  return Buffer.concat([Buffer.from([first]), remainingLength(body.length), body]);
}

/** An MQTT string: two length bytes, then the UTF-8 bytes. */
export function mqttString(s) {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
}

/**
 * Splits the whole MQTT packets off the front of `buf`: `{ packets: [{ type, flags, body }],
 * rest }`, `rest` being the bytes of an incomplete packet. Throws on a remaining length
 * longer than four bytes.
 */
export function splitMqtt(buf) {
  const packets = [];
  let at = 0;
  for (;;) {
    let len = 0;
    let i = 0;
    let complete = false;
    for (; i < 4 && at + 1 + i < buf.length; i++) {
      const b = buf[at + 1 + i];
      len += (b & 0x7f) * 128 ** i;
      if (!(b & 0x80)) { complete = true; break; }
    }
    if (!complete) {
      if (i === 4) throw new Error('MQTT remaining length longer than 4 bytes');
      break;
    }
    const start = at + 2 + i;
    if (buf.length < start + len) break;
    packets.push({ type: buf[at] >> 4, flags: buf[at] & 15, body: buf.subarray(start, start + len) });
    at = start + len;
  }
  return { packets, rest: buf.subarray(at) };
}

/**
 * A minimal MQTT 3.1.1 client over TCP, connected (CONNACK received) when this resolves.
 * `next(type)` waits for the next packet of that type (others are skipped);
 * `subscribe(filters)` waits for the SUBACK; `stall()` stops reading the socket for good
 * while it stays open, as a stuck subscriber does. `login` ({ username, password }) is
 * sent in the CONNECT; `localAddress` is the address to connect from.
 */
export async function mqttTcpClient(host, port, { clientId = `raw-${process.pid}-${Date.now()}`, keepAlive = 60, login, localAddress } = {}) {
  const sock = net.connect({ port, host, localAddress });
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  sock.on('error', () => {}); // reported through `closed`
  let buf = Buffer.alloc(0);
  const queue = [];
  let wake = () => {};
  let closed = false;
  const onData = (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    const { packets, rest } = splitMqtt(buf);
    buf = Buffer.from(rest);
    queue.push(...packets);
    wake();
  };
  sock.on('data', onData);
  sock.on('close', () => { closed = true; wake(); });
  let nextId = 1;
  const client = {
    sock,
    get closed() { return closed; },
    send: (bytes) => sock.write(bytes),
    async next(type, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (queue.length) {
          const p = queue.shift();
          if (p.type === type) return p;
        }
        if (closed) throw new Error(`connection closed while waiting for MQTT packet type ${type}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no MQTT packet of type ${type} in ${timeoutMs} ms`);
        await new Promise((r) => { const t = setTimeout(r, left); wake = () => { clearTimeout(t); r(); }; });
      }
    },
    async subscribe(filters, qos = 0) {
      const id = nextId++;
      const body = Buffer.concat([Buffer.from([id >> 8, id & 255]), ...filters.map((f) => Buffer.concat([mqttString(f), Buffer.from([qos])]))]);
      sock.write(mqttPacket(0x82, body));
      const ack = await client.next(9);
      return [...ack.body.subarray(2)];
    },
    stall() {
      sock.off('data', onData);
      sock.pause();
    },
    close() { sock.destroy(); },
  };
  const credentials = login ? [mqttString(login.username), mqttString(login.password)] : [];
  const connect = Buffer.concat([mqttString('MQTT'), Buffer.from([4, login ? 0xc2 : 2, keepAlive >> 8, keepAlive & 255]),
    mqttString(clientId), ...credentials]);
  sock.write(mqttPacket(0x10, connect));
  const ack = await client.next(2);
  if (ack.body[1] !== 0) throw new Error(`broker refused the connection: code ${ack.body[1]}`);
  return client;
}

/** Parses a PUBLISH packet from `splitMqtt`: `{ topic, payload, retain }` (QoS 0 or 1). */
export function parsePublish(p) {
  const topicLen = p.body.readUInt16BE(0);
  const topic = p.body.subarray(2, 2 + topicLen).toString();
  const qos = (p.flags >> 1) & 3;
  return { topic, payload: p.body.subarray(2 + topicLen + (qos ? 2 : 0)), retain: (p.flags & 1) === 1 };
}

/** Decodes a PNG (8-bit RGB or RGBA, not interlaced: what Chromium's screenshots are). */
export function decodePng(buf) {
  let at = 8;
  let width, height, depth, type, interlace;
  const idat = [];
  while (at < buf.length) {
    const len = buf.readUInt32BE(at);
    const kind = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    if (kind === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      [depth, type] = [data[8], data[9]];
      interlace = data[12];
    } else if (kind === 'IDAT') idat.push(data);
    else if (kind === 'IEND') break;
    at += 12 + len;
  }
  if (!(depth === 8 && (type === 2 || type === 6) && interlace === 0)) throw new Error(`unexpected PNG: depth ${depth}, type ${type}`);
  const bpp = type === 6 ? 4 : 3;
  const stride = width * bpp;
  const raw = inflateSync(Buffer.concat(idat));
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? px[y * stride + x - bpp] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= bpp && y > 0 ? px[(y - 1) * stride + x - bpp] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + x] = v & 255;
    }
  }
  return { width, height, bpp, px };
}

/** Polls `#stats` (its data attributes) until `predicate` holds; returns [ms waited, them]. */
export async function untilStats(page, predicate, timeoutMs, what) {
  const start = Date.now();
  let last;
  while (Date.now() - start < timeoutMs) {
    last = await page.$eval('#stats', (el) => ({ ...el.dataset }));
    if (predicate(last)) return [Date.now() - start, last];
    await sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms; last #stats: ${JSON.stringify(last)}`);
}
