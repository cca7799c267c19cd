// The system on a real broker cluster: two RabbitMQ nodes on loopback (scripts/cluster.sh),
// two edges as if on two hosts (one publishing to each node), viewers on node B.
// RabbitMQ enforces the logins and topic permissions here, not our gate.
//
// Run: node --test cluster.test.mjs (scripts/setup.sh installs rabbitmq-server; the test
// starts its own nodes in a temporary directory and always stops them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startEdge, startBrowser, openViewer, emulateLink, sampleLatencies, percentile, waitForStats, sleep } from './util.mjs';

const CLUSTER = join(ROOT, 'scripts', 'cluster.sh');
const PREFIX = 'mqcam';
const EDGE_LOGIN = ['edge', 'edge-secret-1'];
const VIEWER_LOGIN = ['viewer', 'viewer-secret-1'];

let dir;
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
  const edgeOn = (node, camera) => startEdge(['--broker', `mqtt://127.0.0.1:${ports[`MQTT_${node}`]}`,
    '--username', EDGE_LOGIN[0], '--password', EDGE_LOGIN[1], '--camera', camera, '--size', '1280x720', '--fps', '30',
    '--viewer-broker', `ws://127.0.0.1:${ports.WS_B}/ws`]);
  // The edge on node A serves the page; the page's broker is node B.
  edges.push(await edgeOn('A', 'door'), await edgeOn('B', 'yard'));
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  for (const e of edges) await e.stop();
  if (dir) {
    spawnSync(CLUSTER, ['stop', dir], { stdio: 'inherit', timeout: 120000 });
    rmSync(dir, { recursive: true, force: true });
  }
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
      assert.equal(s.errors, 0, `${camera}: no errors`);
    }
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
