// The arm64 (Raspberry Pi) build, run here under qemu-user: the test pattern through its
// own mozjpeg (NEON), its embedded broker and the viewer site built into it, to a native
// MQTT client and to the viewer in headless Chromium. It proves the cross-built binary works, not how fast
// a Pi is: qemu runs it several times slower, hence the small size and low rate.
//
// Needs scripts/build-arm64.sh first (./test.sh runs it); skipped when that binary is
// missing. ARM64_EDGE overrides where it is looked for.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, startEdge, startBrowser, openViewer, waitForStats, readStats, canvasSpread, sleep, mqttTcpClient, parsePublish } from './util.mjs';

const BIN = process.env.ARM64_EDGE
  ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'aarch64-unknown-linux-gnu', 'release', 'edge');
// Debian's qemu-user-static (scripts/setup.sh) or qemu-user; -L: the arm64 C library's root.
const QEMU = ['qemu-aarch64-static', 'qemu-aarch64'].find((q) => spawnSync(q, ['--version']).status === 0);
const SYSROOT = '/usr/aarch64-linux-gnu';
const skip = !existsSync(BIN) ? `no arm64 edge at ${BIN} (scripts/build-arm64.sh builds it)`
  : !QEMU ? 'no qemu-aarch64(-static) (scripts/setup.sh installs qemu-user-static)'
    : false;

const SIZE = [320, 240];
const FPS = 10;

/** The stamp of a frame payload (docs/wire.md, version 2): APP9 `MQCF` right after SOI. */
function stamp(payload) {
  assert.deepEqual([...payload.subarray(0, 4)], [0xff, 0xd8, 0xff, 0xe9], 'a JPEG starting with the APP9 stamp');
  assert.equal(payload.subarray(6, 10).toString(), 'MQCF');
  return {
    version: payload[10],
    sequence: Number(payload.readBigUInt64LE(12)),
    captureUs: Number(payload.readBigUInt64LE(20)),
    width: payload.readUInt32LE(36),
    height: payload.readUInt32LE(40),
    end: [payload.at(-2), payload.at(-1)],
  };
}

let browser;
let edge;
before(async () => {
  if (skip) return;
  const file = execFileSync('file', ['-b', BIN]).toString();
  assert.match(file, /ARM aarch64/, `${BIN} is an arm64 binary`);
  // No --site: the page comes from the binary (scripts/build-arm64.sh builds the site in).
  edge = await startEdge(['--camera', `cam1=pattern,size=${SIZE.join('x')},fps=${FPS}`],
    undefined, { command: [QEMU, '-L', SYSROOT, BIN], startMs: 60000 });
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
  await edge?.stop();
});

test('arm64 edge under qemu: a native MQTT client receives stamped frames', { skip }, async () => {
  // mosquitto_sub, a client that knows nothing of ours: one whole JPEG.
  const one = execFileSync('mosquitto_sub', ['-h', edge.tcpHost, '-p', String(edge.tcpPort), '-t', 'mqcam/cam1/frame',
    '-C', '1', '-N', '-W', '30'], { maxBuffer: 1 << 24 });
  assert.deepEqual([one[0], one[1], one.at(-2), one.at(-1)], [0xff, 0xd8, 0xff, 0xd9], 'mosquitto_sub got a whole JPEG');

  // Then a few frames read for their stamps: rising sequence numbers, the right size,
  // captured moments ago (same clock: the edge runs on this machine).
  const client = await mqttTcpClient(edge.tcpHost, edge.tcpPort);
  try {
    await client.subscribe(['mqcam/cam1/frame']);
    const stamps = [];
    while (stamps.length < 5) {
      const { topic, payload } = parsePublish(await client.next(3, 30000));
      if (topic === 'mqcam/cam1/frame') stamps.push(stamp(payload));
    }
    console.log('arm64 frames:', JSON.stringify(stamps.map(({ sequence, width, height }) => ({ sequence, width, height }))));
    for (const s of stamps) {
      assert.equal(s.version, 2);
      assert.deepEqual([s.width, s.height], SIZE);
      assert.deepEqual(s.end, [0xff, 0xd9], 'the JPEG ends with EOI');
      const ageMs = Date.now() - s.captureUs / 1000;
      assert.ok(ageMs > -1000 && ageMs < 10000, `captured ${ageMs} ms ago`);
    }
    for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i].sequence > stamps[i - 1].sequence, 'sequence numbers rise');
  } finally {
    client.close();
  }
});

test('arm64 edge under qemu: headless Chromium loads its page and draws frames', { skip }, async () => {
  // Full size pinned: under qemu the edge is slow enough that the viewer's automatic
  // quality may step down to the half rendition (160x120, seen once in CI), and this
  // test is about the arm64 binary's frames, not that choice.
  const { page, problems } = await openViewer(browser, `${edge.viewer}?quality=full`);
  await waitForStats(page, (s) => s.connected && s.frames >= 5, 60000);
  // Let the fps window fill with frames drawn at the steady rate.
  await sleep(2500);
  const s = await readStats(page);
  console.log('arm64 viewer stats:', JSON.stringify(s));
  assert.deepEqual([s.width, s.height], SIZE);
  assert.ok(s.fps > 0, `fps ${s.fps}`);
  assert.equal(s.errors, 0, 'no bad payloads');
  const px = await canvasSpread(page);
  assert.ok(px.max - px.min > 100 && px.distinct > 20, `canvas looks blank: ${JSON.stringify(px)}`);
  assert.deepEqual(problems, [], 'console stays clean');
});
