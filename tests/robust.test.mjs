// Robustness in a real browser: a broker that sends malformed MQTT, and a stuck
// subscriber on the edge's embedded broker next to a live viewer. Needs the release edge
// and site (scripts/build.sh; ./test.sh does it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  startEdge, startBrowser, readStats, waitForStats, sleep, mqttPacket, splitMqtt, mqttTcpClient, parsePublish,
} from './util.mjs';

let browser;
before(async () => { browser = await startBrowser(); });
after(async () => { await browser?.close(); });

/** Polls `fn` until it returns something truthy; throws `what()` after `timeoutMs`. */
async function until(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await sleep(20);
  }
}

/** A WebSocket frame from the server (unmasked). */
function wsFrame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, len])
    : len < 65536 ? Buffer.from([0x80 | opcode, 126, len >> 8, len & 255])
      : Buffer.concat([Buffer.from([0x80 | opcode, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
  return Buffer.concat([head, payload]);
}

/**
 * A hand-written MQTT-over-WebSocket "broker" (RFC 6455 server side, binary frames,
 * `mqtt` subprotocol). Connections numbered below `badConnections` get a valid CONNACK
 * followed by `bad`; later ones behave: CONNACK, SUBACKs, PINGRESPs, and `frame` as a
 * PUBLISH once the frame topic is subscribed. The server never closes a connection
 * itself, so every close it sees comes from the viewer.
 */
async function startFakeBroker({ bad, badConnections, topic, frame }) {
  const conns = [];
  const server = http.createServer((req, res) => { res.writeHead(426); res.end(); });
  const sockets = new Set();
  server.on('upgrade', (req, socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    const key = req.headers['sec-websocket-key'];
    if (!key || !protocols.includes('mqtt')) {
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.setNoDelay(true);
    socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${accept}`, 'Sec-WebSocket-Protocol: mqtt', '', ''].join('\r\n'));
    const c = {
      n: conns.length, good: conns.length >= badConnections, tOpen: Date.now(), tConnect: null, tBadSent: null,
      tClosed: null, closeFrame: false, closeCode: null, received: [], published: false,
    };
    conns.push(c);
    const send = (bytes) => { if (!socket.destroyed) socket.write(wsFrame(2, bytes)); };
    const closed = () => { if (c.tClosed === null) c.tClosed = Date.now(); };
    socket.on('end', closed);
    socket.on('close', closed);
    let raw = Buffer.alloc(0);
    let message = [];
    let mqtt = Buffer.alloc(0);
    const onMqtt = (bytes) => {
      mqtt = Buffer.concat([mqtt, bytes]);
      const { packets, rest } = splitMqtt(mqtt);
      mqtt = Buffer.from(rest);
      for (const p of packets) {
        c.received.push(p.type);
        if (p.type === 1) { // CONNECT
          c.tConnect = Date.now();
          send(mqttPacket(0x20, Buffer.from([0, 0])));
          if (!c.good) {
            send(bad);
            c.tBadSent = Date.now();
          }
        } else if (p.type === 8 && c.good) { // SUBSCRIBE: grant QoS 0 to each filter
          const id = p.body.subarray(0, 2);
          const filters = [];
          for (let at = 2; at < p.body.length;) {
            const len = p.body.readUInt16BE(at);
            filters.push(p.body.subarray(at + 2, at + 2 + len).toString());
            at += 3 + len;
          }
          send(mqttPacket(0x90, Buffer.concat([id, Buffer.alloc(filters.length)])));
          if (filters.includes(topic) && frame && !c.published) {
            c.published = true;
            send(mqttPacket(0x30, Buffer.concat([Buffer.from([topic.length >> 8, topic.length & 255]), Buffer.from(topic), frame])));
          }
        } else if (p.type === 12 && c.good) { // PINGREQ
          send(Buffer.from([0xd0, 0]));
        }
      }
    };
    socket.on('data', (d) => {
      raw = Buffer.concat([raw, d]);
      for (;;) {
        if (raw.length < 2) return;
        const fin = raw[0] & 0x80;
        const opcode = raw[0] & 0x0f;
        let len = raw[1] & 0x7f;
        let at = 2;
        if (len === 126) { if (raw.length < 4) return; len = raw.readUInt16BE(2); at = 4; }
        else if (len === 127) { if (raw.length < 10) return; len = Number(raw.readBigUInt64BE(2)); at = 10; }
        const masked = raw[1] & 0x80;
        const mask = masked ? raw.subarray(at, at + 4) : null;
        if (masked) at += 4;
        if (raw.length < at + len) return;
        const payload = Buffer.from(raw.subarray(at, at + len));
        if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
        raw = raw.subarray(at + len);
        if (opcode === 8) { // close: answer it and hang up
          c.closeFrame = true;
          c.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          closed();
          socket.end(wsFrame(8, payload.subarray(0, 2)));
          return;
        }
        if (opcode === 9) { socket.write(wsFrame(10, payload)); continue; }
        if (opcode === 2 || opcode === 0) {
          message.push(payload);
          if (fin) { onMqtt(Buffer.concat(message)); message = []; }
        }
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    conns,
    url: `ws://127.0.0.1:${server.address().port}/mqtt`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Opens the viewer with every change of `#stats`' state recorded in `window.__states`
 * (a short reconnecting state would slip between two polls), console errors and
 * uncaught exceptions in `problems`, and warnings in `warnings`.
 */
async function openRecordedViewer(url) {
  const page = await browser.newPage({ viewport: { width: 800, height: 700 } });
  const problems = [];
  const warnings = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
    if (m.type() === 'warning') warnings.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  await page.addInitScript(() => {
    window.__states = [];
    new MutationObserver(() => {
      const el = document.getElementById('stats');
      if (!el) return;
      const entry = { t: Date.now(), connected: el.dataset.connected, state: el.dataset.state, text: (el.textContent ?? '').split('\n')[0] };
      const last = window.__states[window.__states.length - 1];
      if (!last || last.connected !== entry.connected || last.state !== entry.state || last.text !== entry.text) window.__states.push(entry);
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state', 'data-connected'], childList: true, characterData: true });
  });
  await page.goto(url);
  return { page, problems, warnings };
}

test('malformed MQTT from the broker: the viewer hangs up, backs off, reconnects and recovers', async (t) => {
  // The edge only serves the page (and a real frame for the recovery); the page talks to
  // the fake broker given in ?broker=.
  const edge = await startEdge(['--size', '320x240', '--fps', '5']);
  try {
    const sub = await mqttTcpClient(edge.tcpHost, edge.tcpPort);
    await sub.subscribe([edge.topic]);
    const frame = Buffer.from(parsePublish(await sub.next(3)).payload);
    sub.close();

    const cases = [
      { name: 'A: remaining length with 5 continuation bytes', bad: Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]), reason: 'MQTT remaining length longer than 4 bytes' },
      { name: 'B: reserved packet type 0', bad: Buffer.from([0x00, 0x00]), reason: 'unexpected MQTT packet type 0' },
      { name: 'B: reserved packet type 15', bad: Buffer.from([0xf0, 0x00]), reason: 'unexpected MQTT packet type 15' },
    ];
    const BAD = 3;
    for (const k of cases) {
      await t.test(k.name, async () => {
        const broker = await startFakeBroker({ bad: k.bad, badConnections: BAD, topic: edge.topic, frame });
        const url = new URL(edge.viewer);
        url.searchParams.set('broker', broker.url);
        const { page, problems, warnings } = await openRecordedViewer(url.href);
        try {
          // Three bad connections, then a good one that must go live and draw the frame.
          await until(() => broker.conns.length > BAD, 30000, () => `waiting for connection ${BAD + 1}: ${JSON.stringify(broker.conns.map((c) => ({
            n: c.n, closedByViewerAfterMs: c.tClosed && c.tBadSent ? c.tClosed - c.tBadSent : null, packets: c.received.join(',') })))}`);
          const { conns } = broker;
          let live;
          let states;
          try {
            live = await waitForStats(page, (s) => s.connected && s.frames >= 1, 15000);
            await sleep(500); // the good connection must stay up
          } finally {
            states = await page.evaluate(() => window.__states);
            const report = conns.map((c, i) => ({
              n: c.n, closeAfterBadMs: c.tBadSent && c.tClosed ? c.tClosed - c.tBadSent : null,
              reconnectGapMs: i > 0 && conns[i - 1].tClosed ? c.tOpen - conns[i - 1].tClosed : null,
              closeFrame: c.closeFrame, closeCode: c.closeCode, packets: c.received.join(','),
            }));
            console.log(`${k.name}:`, JSON.stringify(report));
            console.log(`${k.name}: states seen:`, JSON.stringify([...new Set(states.map((s) => `${s.connected}|${s.state}`))]));
            if (problems.length) console.log(`${k.name}: problems:`, JSON.stringify(problems));
          }

          for (const c of conns.slice(0, BAD)) {
            assert.ok(c.tConnect && c.tBadSent, `connection ${c.n}: CONNECT received, CONNACK and bad bytes sent`);
            assert.ok(c.tClosed !== null, `connection ${c.n}: the viewer never closed it`);
            assert.ok(c.tClosed - c.tBadSent <= 3000, `connection ${c.n}: closed ${c.tClosed - c.tBadSent} ms after the bad packet`);
          }
          // Backoff: 250 ms doubling, ±25 % jitter. Timers never fire early; a busy
          // machine can make them late, hence the generous upper bound.
          for (let i = 1; i <= BAD; i++) {
            const gap = conns[i].tOpen - conns[i - 1].tClosed;
            const nominal = 250 * 2 ** (i - 1);
            assert.ok(gap >= nominal * 0.75 - 50, `reconnect ${i} came after ${gap} ms: no backoff (nominal ${nominal} ms)`);
            assert.ok(gap <= nominal * 1.25 + 3000, `reconnect ${i} came after ${gap} ms (nominal ${nominal} ms)`);
          }
          const good = conns[BAD];
          assert.ok(good.good && good.published, 'the good connection got the frame');
          assert.equal(good.tClosed, null, 'the good connection stays open');
          assert.equal(conns.length, BAD + 1, 'no reconnect once the broker behaves');

          // Before the good connection: never shown as connected, and the reason shown.
          const beforeGood = states.filter((s) => s.t < good.tOpen);
          assert.ok(beforeGood.every((s) => s.connected !== 'true'), 'shown as connected while the broker misbehaved');
          const down = beforeGood.filter((s) => s.state?.startsWith('reconnecting:'));
          assert.ok(down.some((s) => s.state.includes(k.reason)), `no "reconnecting: ${k.reason}" state among ${JSON.stringify(down.map((s) => s.state))}`);
          assert.ok(down.some((s) => s.text.startsWith('reconnecting:')), 'the overlay says reconnecting');
          assert.match(live.state, /^● live/);
          assert.equal(live.width, 320);
          assert.equal(live.errors, 0);
          assert.deepEqual(problems, [], 'no uncaught exception or console error (a panic shows as one)');
          if (warnings.length) console.log(`${k.name}: warnings:`, JSON.stringify(warnings));
        } finally {
          await page.close();
          await broker.close();
        }
      });
    }
  } finally {
    await edge.stop();
  }
});

/**
 * The kernel's view of a loopback TCP connection, from /proc/net/tcp: state and queued
 * bytes of our end (local port `port`) and of the peer's end.
 */
function tcpQueues(port) {
  const states = { '01': 'ESTABLISHED', '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2' };
  const out = {};
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const local = parseInt(f[1].split(':')[1], 16);
    const remote = parseInt(f[2].split(':')[1], 16);
    const [tx, rx] = f[4].split(':').map((h) => parseInt(h, 16));
    const entry = { state: states[f[3]] ?? f[3], rxBytes: rx, txBytes: tx };
    if (local === port) out.ours = entry;
    else if (remote === port) out.peer = entry;
  }
  return out;
}

/** Samples #stats every 500 ms for `ms`: the fps and latency p95 readings, and `probe()`. */
async function sampleStats(page, ms, probe = () => null) {
  const out = { fps: [], p95: [], p95Network: [], probes: [], connected: true };
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const s = await readStats(page);
    const network = await page.$eval('#stats', (e) => e.dataset.stagePublishedReceivedP95Ms);
    out.fps.push(s.fps);
    if (s.p95 !== null) out.p95.push(s.p95);
    if (network) out.p95Network.push(Number(network));
    out.connected &&= s.connected;
    out.probes.push(probe());
    await sleep(500);
  }
  return out;
}

/** Mean fps, lowest fps, median and highest p95 of one or more `sampleStats` results. */
function summary(...parts) {
  const all = (k) => parts.flatMap((p) => p[k]);
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const fps = all('fps');
  const round = (v) => Math.round(v * 10) / 10;
  return {
    fps: round(fps.reduce((a, b) => a + b, 0) / fps.length),
    minFps: Math.min(...fps),
    p95: median(all('p95')),
    maxP95: Math.max(...all('p95')),
    networkP95: median(all('p95Network')),
    samples: fps.length,
    connected: parts.every((p) => p.connected),
  };
}

/**
 * A TCP client subscribed to every camera's frames and status (all the gate lets a
 * viewer subscribe to, besides its own clock replies).
 */
async function stalledSubscriber(edge, clientId) {
  const prefix = edge.topic.split('/')[0];
  const client = await mqttTcpClient(edge.tcpHost, edge.tcpPort, { clientId, keepAlive: 600 });
  const filters = [edge.topic, `${prefix}/+/frame`, `${prefix}/+/status`];
  const codes = await client.subscribe(filters);
  assert.ok(codes.every((c) => c !== 0x80), `SUBACK ${codes}`);
  return Object.assign(client, { filters });
}

test('a stalled subscriber on the embedded broker neither slows a live viewer nor grows the edge', async () => {
  const edge = await startEdge(['--size', '1280x720', '--fps', '30']);
  let stalled;
  try {
    const { page, problems } = await openRecordedViewer(edge.viewer);
    await waitForStats(page, (s) => s.connected && s.frames >= 30, 20000);
    // Clock offset settled (percentiles restart with the first sample), then a full
    // percentile window (120 frames) measured after it.
    await page.waitForFunction(() => Number(document.querySelector('#stats').dataset.clockSamples) >= 20, null, { timeout: 20000 });
    await sleep(4500);

    // p95 latency on this shared 2-core machine swings by 15-30 ms between 8-second
    // windows with no stalled client at all (other builds and tests run alongside). So a
    // baseline/stall pair whose fps or latency is out of bounds is measured again, with a
    // fresh baseline and a fresh stalled client, up to three times. A broker that really
    // suffers from a stuck subscriber (head-of-line blocking, queueing) is out of bounds
    // every time, by far more. Memory is checked on every attempt.
    const attempts = [];
    let verdict;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const baseline = summary(await sampleStats(page, 8000));
      const rss0 = edge.rssMb();
      assert.ok(baseline.connected && baseline.fps >= 15, `baseline too poor to compare against: ${JSON.stringify(baseline)}`);

      // A subscriber to the frames and to everything, which then never reads again.
      stalled = await stalledSubscriber(edge, `stalled-${attempt}`);
      if (attempt === 1) console.log(`stalled client subscribed to ${JSON.stringify(stalled.filters)}`);
      stalled.stall();
      const t0 = Date.now();
      const rssTrace = () => `${((Date.now() - t0) / 1000).toFixed(0)}s:${edge.rssMb().toFixed(0)}`;
      const first = await sampleStats(page, 5000, rssTrace);
      const rss5 = edge.rssMb();
      const rest = await sampleStats(page, Math.max(1000, t0 + 25000 - Date.now()), rssTrace);
      const rss25 = edge.rssMb();
      const queues = tcpQueues(stalled.sock.localPort);
      const during = summary(first, rest);
      const allowedP95 = baseline.p95 + Math.max(15, baseline.p95 * 0.5);
      const fpsOk = during.fps >= 0.9 * baseline.fps;
      const p95Ok = during.p95 <= allowedP95;
      console.log(`attempt ${attempt}: baseline fps ${baseline.fps} p95 ${baseline.p95} ms | stalled fps ${during.fps} p95 ${during.p95} ms ` +
        `(allowed ≥ ${(0.9 * baseline.fps).toFixed(1)} fps, ≤ ${allowedP95.toFixed(1)} ms) | edge RSS before ${rss0.toFixed(1)} MB, ` +
        `after 5 s ${rss5.toFixed(1)} MB, after 25 s ${rss25.toFixed(1)} MB (+${(rss25 - rss5).toFixed(1)} MB)`);
      console.log(`attempt ${attempt} details: baseline ${JSON.stringify(baseline)} stalled ${JSON.stringify(during)}`);
      console.log(`attempt ${attempt}: edge RSS MB during the stall: ${[...first.probes, ...rest.probes].filter((_, i) => i % 4 === 0).join(' ')}`);
      console.log(`attempt ${attempt}: stalled socket after 25 s (ours = unread by the client, peer = unsent by the broker): ${JSON.stringify(queues)}`);

      assert.ok(queues.ours?.rxBytes > 0, 'frames reached the stalled client and were left unread');
      assert.ok(during.connected, 'the viewer stayed connected');
      // The gate keeps at most ~1 MB of frames for a client that stops reading (rumqttd
      // alone queued ~60 MB per stalled client at this size); the rest waits in kernel
      // socket buffers, which are not the edge's RSS.
      assert.ok(rss25 - rss0 <= 12, `edge RSS grew ${(rss25 - rss0).toFixed(1)} MB over 25 s of stall`);
      assert.ok(rss25 - rss5 <= 6, `edge RSS grew ${(rss25 - rss5).toFixed(1)} MB between 5 s and 25 s of stall`);
      attempts.push({ attempt, baseline: { fps: baseline.fps, p95: baseline.p95 }, stalled: { fps: during.fps, p95: during.p95 } });
      verdict = { fpsOk, p95Ok };
      if (fpsOk && p95Ok) break;
      console.log(`attempt ${attempt}: ${fpsOk ? '' : 'fps '}${p95Ok ? '' : 'p95 '}out of bounds${attempt < 3 ? '; measuring again' : ''}`);
      stalled.close();
      stalled = null;
      await sleep(1000);
    }
    const all = JSON.stringify(attempts);
    assert.ok(verdict.fpsOk, `fps under a stalled subscriber below 90 % of the baseline in every attempt: ${all}`);
    assert.ok(verdict.p95Ok, `p95 under a stalled subscriber above baseline + max(15 ms, 50 %) in every attempt: ${all}`);

    // Hang the stalled client up: the edge goes on serving the viewer and new clients.
    stalled.close();
    const s0 = await readStats(page);
    const after = await waitForStats(page, (s) => s.connected && s.frames >= s0.frames + 60, 15000);
    const fresh = await mqttTcpClient(edge.tcpHost, edge.tcpPort);
    await fresh.subscribe([edge.topic]);
    const p = parsePublish(await fresh.next(3));
    fresh.close();
    assert.equal(p.payload.subarray(6, 10).toString('latin1'), 'MQCF', 'a new subscriber gets frames');
    assert.doesNotThrow(() => process.kill(edge.pid, 0), 'the edge is still running');
    console.log('after the stalled client left:', JSON.stringify(after), `edge RSS ${edge.rssMb().toFixed(1)} MB`);
    assert.deepEqual(problems, []);
  } finally {
    stalled?.close();
    await edge.stop();
  }
});

/** Resident memory of Chromium's renderer processes (pages and their workers), MB. */
async function rendererRssMb(cdp) {
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  let kb = 0;
  for (const p of processInfo.filter((p) => p.type === 'renderer')) {
    try {
      kb += Number(readFileSync(`/proc/${p.id}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]);
    } catch { /* gone meanwhile */ }
  }
  return kb / 1024;
}

test('five minutes of 1920x1080 @ 30: the page\'s memory does not grow', { timeout: 8 * 60_000 }, async () => {
  const minutes = Number(process.env.MEMORY_MINUTES ?? 5);
  const own = await startBrowser();
  const edge = await startEdge(['--size', '1920x1080', '--fps', '30']);
  try {
    const cdp = await own.newBrowserCDPSession();
    const page = await own.newPage({ viewport: { width: 1280, height: 800 } });
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(edge.viewer);
    await waitForStats(page, (s) => s.connected && s.frames >= 30, 20000);
    // The first minute settles the caches and the decoder's pools.
    await sleep(60_000);
    const samples = [];
    const start = await readStats(page);
    const perMinute = 8;
    for (let i = 0; i < (minutes - 1) * perMinute; i++) {
      await sleep(60_000 / perMinute);
      samples.push(await rendererRssMb(cdp));
    }
    const end = await readStats(page);
    // One sample swings ±40 MB with the garbage collector (1080p bitmaps are 8 MB each),
    // and a whole minute can sit high: 424 430 440 455 … 463 494 518 509 in a run with
    // no trend (the medians of the first and last minute, 435 against 502, failed CI).
    // What a leak grows is what stays after a collection, and the collector's sawtooth
    // runs about two minutes (431 → 521 MB and back): the lowest sample of the first half
    // against the lowest of the second. One 1080p frame a second kept would be +1 GB
    // between them; one every ten seconds, +96 MB.
    const lowest = (v) => Math.min(...v);
    const half = samples.length / 2;
    const first = lowest(samples.slice(0, half));
    const last = lowest(samples.slice(half));
    console.log('renderer RSS MB over time:', samples.map((v) => v.toFixed(0)).join(' '),
      `| ${end.frames - start.frames} frames, ${end.engine}`);
    // Frames kept flowing (the rate itself is the benchmark's business, not this test's).
    assert.ok(end.frames - start.frames > (minutes - 1) * 60 * 5, 'frames kept flowing');
    assert.ok(last <= first + 64, `renderer memory grew from ${first.toFixed(0)} to ${last.toFixed(0)} MB`);
    assert.deepEqual(problems, []);
  } finally {
    await edge.stop();
    await own.close();
  }
});
