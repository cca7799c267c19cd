// The system on a real broker cluster: two RabbitMQ nodes on loopback (scripts/cluster.sh),
// two edges as if on two hosts (one publishing to each node), viewers on node B.
// RabbitMQ enforces the logins and topic permissions here, not our gate. The last test
// kills node B mid-stream (and starts it again): keep it last.
//
// Run: node --test cluster.test.mjs (scripts/setup.sh installs rabbitmq-server; the test
// starts its own nodes in a temporary directory and always stops them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startEdge, startBrowser, openViewer, emulateLink, sampleLatencies, percentile, waitForStats, sleep, freePort } from './util.mjs';

const CLUSTER = join(ROOT, 'scripts', 'cluster.sh');
const PREFIX = 'mqcam';
const EDGE_LOGIN = ['edge', 'edge-secret-1'];
const VIEWER_LOGIN = ['viewer', 'viewer-secret-1'];

let dir;
let recordDir;
let ports;
let browser;
const edges = [];

const cluster = (...args) => execFileSync(CLUSTER, [args[0], dir, ...args.slice(1)], { encoding: 'utf8', timeout: 240000 });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mqcam-cluster-'));
  const started = Date.now();
  ports = Object.fromEntries(cluster('start').trim().split('\n').map((l) => l.split('=')).map(([k, v]) => [k, Number(v)]));
  cluster('users', PREFIX, EDGE_LOGIN.join(':'), VIEWER_LOGIN.join(':'));
  console.log(`cluster of two nodes up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(ports)}`);
  // Each edge is given its own node first and the other as the one to fail over to.
  // The door's edge records (its recordings are played back across the nodes).
  recordDir = mkdtempSync(join(tmpdir(), 'mqcam-cluster-rec-'));
  const edgeOn = (node, other, camera, extra = []) => startEdge([...extra, '--broker', `mqtt://127.0.0.1:${ports[`MQTT_${node}`]}`,
    '--broker', `mqtt://127.0.0.1:${ports[`MQTT_${other}`]}`,
    '--username', EDGE_LOGIN[0], '--password', EDGE_LOGIN[1], '--camera', camera, '--size', '1280x720', '--fps', '30',
    '--viewer-broker', `ws://127.0.0.1:${ports.WS_B}/ws`, '--viewer-broker', `ws://127.0.0.1:${ports.WS_A}/ws`]);
  // The edge on node A serves the page; the page's broker is node B, then node A.
  const recording = ['--record', 'continuous', '--record-dir', recordDir, '--pre-roll', '0'];
  edges.push(await edgeOn('A', 'B', 'door', recording), await edgeOn('B', 'A', 'yard'));
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  for (const e of edges) await e.stop();
  if (dir) {
    spawnSync(CLUSTER, ['stop', dir], { stdio: 'inherit', timeout: 120000 });
    rmSync(dir, { recursive: true, force: true });
  }
  if (recordDir) rmSync(recordDir, { recursive: true, force: true });
});

const login = `#username=${VIEWER_LOGIN[0]}&password=${VIEWER_LOGIN[1]}`;

/** mosquitto_pub/_sub against a node: the exit code and what it printed. */
function client(tool, node, [user, password], args, timeoutMs = 4000) {
  const r = spawnSync(tool, ['-h', '127.0.0.1', '-p', String(ports[`MQTT_${node}`]), '-u', user, '-P', password, ...args],
    { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, timedOut: r.error?.code === 'ETIMEDOUT', out: `${r.stdout}${r.stderr}` };
}

test('one viewer on node B lists the cameras of both edges (on nodes A and B) and plays each', async () => {
  const { page, problems } = await openViewer(browser, `${edges[0].viewer}${login}`, { width: 390, height: 844 });
  try {
    // The directory: retained messages do not reach RabbitMQ's wildcard subscribers, so
    // the camera list comes from the edges' answers to the viewer's request.
    await page.waitForFunction(() => document.querySelectorAll('#grid button.tile').length === 2, null, { timeout: 20000 });
    const names = await page.$$eval('#grid button.tile', (t) => t.map((b) => b.dataset.camera).sort());
    assert.deepEqual(names, ['door', 'yard']);
    for (const camera of ['door', 'yard']) {
      const started = Date.now();
      await page.goto(`${edges[0].viewer}?camera=${camera}&quality=full${login}`);
      const s = await waitForStats(page, (x) => x.connected && x.frames >= 30 && x.width === 1280, 20000);
      const shown = await page.$eval('#stats', (el) => ({ ...el.dataset }));
      console.log(`${camera}: first frame ${shown.firstFrameMs} ms after page load, ${s.fps} fps, latency p50 ${s.p50} / p95 ${s.p95} ms (${((Date.now() - started) / 1000).toFixed(1)} s to 30 frames)`);
      assert.ok(s.p95 < 300, `${camera}: latency p95 ${s.p95} ms across the cluster`);
      // How fast is the benchmark's to say; this catches the stream held for the retained
      // frame that never crosses nodes (2.2–2.4 s before the edge counted it so).
      assert.ok(Number(shown.firstFrameMs) < 1500, `${camera}: first frame ${shown.firstFrameMs} ms after page load`);
      assert.equal(s.errors, 0, `${camera}: no errors`);
    }
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

test('playback across the cluster: a viewer on node B opens the recordings of the edge on node A and steps through them', async () => {
  const { page, problems } = await openViewer(browser, `${edges[0].viewer}?camera=door${login}`, { width: 390, height: 844 });
  const shown = () => page.$eval('#stats', (el) => ({ ...el.dataset }));
  const until = async (what, ok) => {
    const deadline = Date.now() + 15000;
    for (;;) {
      const s = await shown();
      if (ok(s)) return s;
      if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(s)}`);
      await sleep(50);
    }
  };
  try {
    await waitForStats(page, (x) => x.connected && x.frames >= 5, 20000);
    // The button is there because the directory (answered across the nodes) says door records.
    await page.click('#view');
    await page.click('#btn-recordings');
    const opened = await until('the recordings open', (s) => s.mode === 'playback' && s.playbackState === 'paused' && s.playbackAtUs);
    const newest = Number(opened.playbackAtUs);
    assert.ok(Date.now() * 1000 - newest < 5e6, `the newest recorded frame is recent: ${opened.playbackAtUs}`);
    // A frame back, over the bus through node B to the edge on node A and back.
    await page.click('#pb-step-back');
    const back = await until('a step back', (s) => Number(s.playbackAtUs) < newest);
    assert.ok(newest - Number(back.playbackAtUs) <= 1e6, `one preview interval back: ${newest - Number(back.playbackAtUs)} µs`);
    await page.click('#pb-live');
    await until('live again', (s) => s.mode !== 'playback');
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

test('RabbitMQ enforces the logins: a viewer reads frames and writes only acks; nobody without the password', () => {
  // Allowed: reading a camera's frames, writing an acknowledgement.
  const frame = client('mosquitto_sub', 'B', VIEWER_LOGIN, ['-t', `${PREFIX}/door/frame`, '-C', '1', '-N'], 8000);
  assert.equal(frame.code, 0, `the viewer reads frames on node B: ${frame.out.slice(0, 200)}`);
  assert.equal(client('mosquitto_pub', 'B', VIEWER_LOGIN, ['-t', `${PREFIX}/door/ack/v-test`, '-m', 'x', '-q', '1']).code, 0,
    'the viewer may acknowledge');
  // Refused: a viewer publishing camera topics (RabbitMQ closes the connection).
  for (const topic of ['door/frame', 'door/status', 'door/alarm', 'door/detections', '_dir/edges/e1', 'door/clock/res/v1']) {
    const r = client('mosquitto_pub', 'B', VIEWER_LOGIN, ['-t', `${PREFIX}/${topic}`, '-m', 'x', '-q', '1']);
    assert.notEqual(r.code, 0, `a viewer must not publish ${topic}: ${r.out}`);
  }
  // Refused: a viewer subscribing to everything or to others' acknowledgements; RabbitMQ
  // closes the connection, and mosquitto_sub keeps trying until the timeout.
  for (const filter of ['#', `${PREFIX}/#`, `${PREFIX}/door/ack/+`, `${PREFIX}/door/clock/req/+`]) {
    const r = client('mosquitto_sub', 'B', VIEWER_LOGIN, ['-t', filter, '-C', '1', '-d'], 3000);
    assert.ok(!/received SUBACK/.test(r.out), `a viewer must not subscribe to ${filter}: ${r.out.slice(0, 300)}`);
  }
  // A wrong password: refused at CONNECT, on either node.
  for (const node of ['A', 'B']) {
    const r = client('mosquitto_pub', node, [VIEWER_LOGIN[0], 'guess'], ['-t', `${PREFIX}/door/ack/v`, '-m', 'x']);
    assert.notEqual(r.code, 0, `node ${node} refuses a wrong password`);
    assert.match(r.out, /refused|not authori[sz]ed|bad user name or password/i);
  }
  // The edge's login is limited to its prefix.
  assert.notEqual(client('mosquitto_pub', 'A', EDGE_LOGIN, ['-t', 'other/door/frame', '-m', 'x', '-q', '1']).code, 0);
});

test('a viewer with the wrong password is told so by the page and asked again', async () => {
  const { page, problems } = await openViewer(browser, `${edges[0].viewer}?camera=door#username=viewer&password=guess`);
  try {
    const s = await waitForStats(page, (st) => /refused the login/.test(st.state), 15000);
    console.log(`wrong password: #stats said "${s.state}"`);
    assert.equal(s.frames, 0);
    assert.ok(await page.isVisible('#login'), 'the login form shows again');
    await page.fill('#login-user', VIEWER_LOGIN[0]);
    await page.fill('#login-password', VIEWER_LOGIN[1]);
    await page.click('#login button');
    await waitForStats(page, (st) => st.connected && st.frames >= 5, 15000);
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

test('a slow viewer on node B: the edge\'s flow control keeps its latency bounded (RabbitMQ alone would queue)', async () => {
  const { page, problems } = await openViewer(browser, `${edges[0].viewer}?camera=door&quality=full${login}`);
  try {
    await waitForStats(page, (x) => x.connected && x.frames >= 10, 20000);
    // 1280x720 full frames (~100 KB) over 4 Mbit/s: ~5 fit per second of 30 made.
    await emulateLink(page, { kbps: 4000, latencyMs: 40 });
    await sleep(5000);
    const { latencies, frames } = await sampleLatencies(page, 15000);
    const p50 = percentile(latencies, 50);
    const p95 = percentile(latencies, 95);
    console.log(`slow viewer on the cluster (full pinned, 4 Mbit/s): ${frames} frames in 15 s, latency p50 ${p50} / p95 ${p95} ms, max ${Math.max(...latencies)} ms`);
    assert.ok(frames >= 15, `frames still arrive: ${frames} in 15 s`);
    assert.ok(p95 < 1000, `latency stays bounded: p95 ${p95} ms`);
    // Not growing: the last samples are no later than the first ones (a queue grows).
    const third = Math.max(1, Math.floor(latencies.length / 3));
    const early = percentile(latencies.slice(0, third), 50);
    const late = percentile(latencies.slice(-third), 50);
    assert.ok(late < early + 300, `latency does not grow: ${early} ms early, ${late} ms late`);
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

/** The page's #stats as it changes: when (page ms since the epoch), frames, state, broker. */
function recordStats(page) {
  return page.evaluate(() => {
    const el = document.querySelector('#stats');
    const seen = [];
    window.__statsSeen = seen;
    const note = () => {
      const d = el.dataset;
      const last = seen[seen.length - 1];
      if (!last || last.frames !== d.frames || last.state !== d.state || last.broker !== d.broker) {
        seen.push({ at: Date.now(), frames: d.frames, state: d.state, broker: d.broker, connected: d.connected });
      }
    };
    note();
    new MutationObserver(note).observe(el, { attributes: true });
  });
}

const wsUrl = (port) => `ws://127.0.0.1:${port}/ws`;
const brokerShown = (page) => page.$eval('#stats', (el) => el.dataset.broker);

test('a viewer given a dead broker first connects through the next one at once', async () => {
  const dead = wsUrl(await freePort());
  const url = `${edges[0].viewer}?broker=${encodeURIComponent(dead)}&broker=${encodeURIComponent(wsUrl(ports.WS_A))}&camera=door${login}`;
  const started = Date.now();
  const { page, problems } = await openViewer(browser, url);
  try {
    await waitForStats(page, (s) => s.connected && s.frames >= 5, 15000);
    assert.equal(await brokerShown(page), wsUrl(ports.WS_A));
    const shown = await page.$eval('#stats', (el) => el.dataset.firstFrameMs);
    console.log(`dead first broker: first frame ${shown} ms after page load through the second (${Date.now() - started} ms to 5 frames)`);
    // The browser reports the socket it could not open; nothing else may go wrong.
    assert.deepEqual(problems.filter((p) => !p.includes(`WebSocket connection to '${dead}' failed`)), []);
  } finally {
    await page.close();
  }
});

// Last: it kills node B (and starts it again at the end).
test('node B dies mid-stream: its viewer goes on through node A within 5 s, and the edge that published to B publishes to A', async () => {
  const b = wsUrl(ports.WS_B);
  const a = wsUrl(ports.WS_A);
  // The edge of `door` publishes to node A; this viewer starts on node B.
  const url = `${edges[0].viewer}?broker=${encodeURIComponent(b)}&broker=${encodeURIComponent(a)}&camera=door${login}`;
  const { page, problems } = await openViewer(browser, url);
  try {
    await waitForStats(page, (s) => s.connected && s.frames >= 30, 20000);
    assert.equal(await brokerShown(page), b, 'the first broker given is the one used');
    await recordStats(page);
    await sleep(1000);
    const killedAt = Date.now();
    cluster('kill', 'b');
    const framesAtKill = (await waitForStats(page, () => true)).frames;
    await waitForStats(page, (s) => s.connected && s.frames >= framesAtKill + 30, 10000);
    const seen = await page.evaluate(() => window.__statsSeen);
    // Each new frame count as the page showed it (it refreshes #stats 4 times a second:
    // each time is good to 250 ms), and the broker it was on then.
    const counted = seen.filter((x, i) => i > 0 && x.frames !== seen[i - 1].frames);
    const firstViaA = counted.find((x) => x.at > killedAt && x.broker === a);
    assert.ok(firstViaA, `frames through node A after the kill: ${JSON.stringify(seen.slice(-5))}`);
    const lastViaB = [...counted].reverse().find((x) => x.at < firstViaA.at);
    const gap = firstViaA.at - lastViaB.at;
    const states = seen.filter((x) => x.at > lastViaB.at && x.at <= firstViaA.at).map((x) => `"${x.state}" (${x.broker === a ? 'A' : 'B'})`);
    console.log(`failover: last frame through node B → first through node A ${gap} ms (kill → first frame through A ${firstViaA.at - killedAt} ms); #stats showed: ${[...new Set(states)].join(' → ')}`);
    assert.ok(gap < 5000, `new frames within 5 s of the last one: ${gap} ms`);
    assert.equal(await brokerShown(page), a, 'now on node A');
    const s = await waitForStats(page, (x) => x.connected, 1000);
    assert.equal(s.errors, 0, 'no errors');
    assert.deepEqual(problems, []);
    // The edge of `yard` lost node B too: its frames now reach node A.
    const yard = client('mosquitto_sub', 'A', VIEWER_LOGIN, ['-t', `${PREFIX}/yard/frame`, '-C', '1', '-N'], 10000);
    console.log(`yard's edge: a frame on node A ${Date.now() - killedAt} ms after the kill`);
    assert.equal(yard.code, 0, `yard's frames reach node A after node B died: ${yard.out.slice(0, 200)}`);
  } finally {
    await page.close();
    // Node B back for whatever runs next (a dead node makes `stop` slow, too).
    try {
      const t = Date.now();
      cluster('restart', 'b');
      console.log(`node B restarted in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    } catch (e) {
      console.log(`node B did not restart: ${e.message}`);
    }
  }
});
