// The open bus, end to end: frames any MQTT client can use (mosquitto_sub, a few lines of
// Python with OpenCV that know nothing of our stamp), and the reference consumer
// (consumer/, Python) whose detections the viewer draws over the right frames and whose
// alarm takes the screen and gives it back.
// Needs the release edge and site (scripts/build.sh) and the consumer's virtualenv
// (scripts/setup.sh); ./test.sh does both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ARTIFACTS, startEdge, startBrowser, sleep, decodePng, untilStats } from './util.mjs';

const PYTHON = join(process.env.MQCAM_VENV ?? join(homedir(), '.cache/mqcam/venv'), 'bin/python');
const PUBLISHER = { user: 'detector', password: 'consumer-secret' };

let browser;
before(async () => { browser = await startBrowser(); });
after(async () => { await browser?.close(); });

/** Runs the reference consumer from this checkout; its output is kept for the asserts. */
function startConsumer(edge, args) {
  const child = spawn(PYTHON, ['-u', '-m', 'mqcam_detect', '--broker', `mqtt://${edge.tcpHost}:${edge.tcpPort}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, PYTHONPATH: join(ROOT, 'consumer'), MQCAM_LOGIN: `${PUBLISHER.user}:${PUBLISHER.password}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  return {
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await Promise.race([exited, sleep(3000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

test('any MQTT client gets a plain JPEG from every frame and preview message: mosquitto_sub to files, OpenCV without our code', async () => {
  const edge = await startEdge(['--camera', 'door=pattern,size=320x240,fps=15', '--camera', 'yard=pattern,size=160x120,fps=15']);
  const dir = mkdtempSync(join(tmpdir(), 'mqcam-sub-'));
  try {
    const oneFile = execFileSync('mosquitto_sub', ['-h', edge.tcpHost, '-p', String(edge.tcpPort), '-t', 'mqcam/door/frame',
      '-C', '1', '-N', '-W', '15'], { maxBuffer: 1 << 24 });
    // The shell way: `mosquitto_sub -C 1 > frame.jpg`, opened by something that knows JPEG only.
    const path = join(dir, 'frame.jpg');
    execFileSync('sh', ['-c', `mosquitto_sub -h ${edge.tcpHost} -p ${edge.tcpPort} -t mqcam/door/frame -C 1 -N -W 15 > ${path}`]);
    assert.ok(oneFile.length > 1000 && oneFile[0] === 0xff && oneFile[1] === 0xd8, 'a JPEG on stdout');
    // A few lines of Python that know MQTT and OpenCV, not our format: every frame and
    // preview message decodes as it is.
    const script = `
import sys, cv2, numpy as np, paho.mqtt.client as mqtt
seen = {}
def on_message(c, u, m):
    img = cv2.imdecode(np.frombuffer(m.payload, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, m.topic
    seen.setdefault(m.topic, []).append(img.shape)
    if all(len(seen.get(t, [])) >= 5 for t in ("mqcam/door/frame", "mqcam/door/preview", "mqcam/yard/preview")):
        c.disconnect()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
c.on_message = on_message
c.on_connect = lambda c, u, f, r, p: c.subscribe([("mqcam/door/frame", 0), ("mqcam/+/preview", 0)])
c.connect("${edge.tcpHost}", ${edge.tcpPort})
c.loop_forever()
print(sorted((t, len(v), v[0]) for t, v in seen.items()))
print(cv2.imread(sys.argv[1]).shape)
`;
    const out = execFileSync(PYTHON, ['-c', script, path], { timeout: 30000 }).toString();
    console.log(out.trim());
    assert.match(out, /\('mqcam\/door\/frame', \d+, \(240, 320, 3\)\)/);
    assert.match(out, /\('mqcam\/yard\/preview', \d+, \(\d+, \d+, 3\)\)/);
    assert.match(out, /\(240, 320, 3\)\s*$/, 'the file mosquitto_sub wrote opens as a JPEG');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await edge.stop();
  }
});

test('the edge\'s HTTP API: /metrics read by Prometheus\'s own parser, /api/cameras, /healthz; the same login as the broker', async () => {
  const edge = await startEdge(['--camera', 'door=pattern,size=320x240,fps=10', '--camera', 'yard=pattern,size=160x120,fps=10',
    '--username', 'viewer', '--password', 'http-secret', '--publisher-login', `${PUBLISHER.user}:${PUBLISHER.password}`]);
  try {
    const base = new URL(edge.viewer);
    base.search = '';
    base.hash = '';
    const auth = (login) => ({ headers: { authorization: `Basic ${Buffer.from(login).toString('base64')}` } });
    for (const path of ['metrics', 'api/cameras', 'stats.json']) {
      assert.equal((await fetch(new URL(path, base))).status, 401, `${path} without a login`);
      assert.equal((await fetch(new URL(path, base), auth('viewer:wrong'))).status, 401, `${path} with a wrong password`);
    }
    assert.equal(await (await fetch(new URL('healthz', base))).text(), 'ok\n');
    await sleep(1500);
    const metrics = await fetch(new URL('metrics', base), auth('viewer:http-secret'));
    assert.match(metrics.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    const script = `
import sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f for f in text_string_to_metric_families(sys.stdin.read())}
captured = {s.labels["camera"]: s.value for s in families["mqcam_frames_captured"].samples}
assert set(captured) == {"door", "yard"} and all(v > 0 for v in captured.values()), captured
assert families["mqcam_encode_seconds"].type == "histogram"
print(len(families), "families;", captured)
`;
    const out = execFileSync(PYTHON, ['-c', script], { input: text, timeout: 20000 }).toString();
    console.log(out.trim());
    const cameras = await (await fetch(new URL('api/cameras', base), auth(`${PUBLISHER.user}:${PUBLISHER.password}`))).json();
    assert.deepEqual(cameras.cameras.map((c) => c.name).sort(), ['door', 'yard']);
  } finally {
    await edge.stop();
  }
});

/** #stats of the page, as a plain object. */
async function stats(page) {
  return page.$eval('#stats', (el) => ({ ...el.dataset }));
}

const until = async (...args) => (await untilStats(...args))[1];

/** The producer's colour, as the viewer picks it (engine.rs `producer_colour`). */
function producerColour(name) {
  const colours = ['#ffd400', '#00e5ff', '#ff4fd8', '#7cff4f', '#ff8a00', '#b28cff'];
  let h = 0;
  for (const b of Buffer.from(name)) h = (Math.imul(h, 31) + b) >>> 0;
  return colours[h % colours.length].slice(1).match(/../g).map((x) => parseInt(x, 16));
}

test('the reference consumer\'s boxes are drawn over the frames they belong to, and its alarm takes the screen and gives it back', async () => {
  const edge = await startEdge([
    '--camera', 'door=pattern,size=320x240,fps=5',
    '--camera', 'yard=pattern,size=320x240,fps=5',
    '--publisher-login', `${PUBLISHER.user}:${PUBLISHER.password}`,
  ]);
  // One consumer draws boxes (no alarm); another, later, watches a zone for the alarm.
  const boxes = startConsumer(edge, ['--camera', 'yard', '--detector', 'bright', '--no-alarm', '--every', '2']);
  let watcher = null;
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  try {
    const page = await context.newPage();
    await page.goto(`${edge.viewer}?camera=yard&detections-age=250`);
    await until(page, (d) => d.camera === 'yard' && Number(d.detections) >= 1, 20000, 'boxes over the yard');

    // Its boxes come with the frames they belong to: the frame on screen, or the one
    // before while the result is on its way (at 5 fps and a 250 ms age, never older).
    const samples = [];
    for (let i = 0; i < 40; i++) {
      const d = await stats(page);
      samples.push([Number(d.frameSeq), Number(d.detections), d.detectionsSeq === '' ? null : Number(d.detectionsSeq)]);
      await sleep(75);
    }
    const drawn = samples.filter(([, n]) => n > 0);
    console.log(`samples with boxes: ${drawn.length}/${samples.length}; frame−result: ${drawn.map(([f, , s]) => f - s).join(' ')}`);
    assert.ok(drawn.length >= samples.length / 2, `boxes on most frames: ${JSON.stringify(samples)}`);
    for (const [frame, , seq] of drawn) assert.ok(seq <= frame && frame - seq <= 1, `a result for frame ${seq} over frame ${frame}`);
    const d = await stats(page);
    assert.equal(d.detectionsProducers, 'bright');
    assert.ok(Number(d.detectionsLagMs) >= 0 && Number(d.detectionsLagMs) < 1000, `producer lag ${d.detectionsLagMs} ms`);

    // On screen: paused on a frame whose own result is drawn, the box is around the white
    // square (its left and bottom edges within a few pixels of the square's).
    let frozen = null;
    for (let i = 0; i < 8 && !frozen; i++) {
      await page.keyboard.press('p');
      await sleep(400);
      const s = await stats(page);
      if (s.paused === 'true' && s.detectionsSeq === s.frameSeq && Number(s.detections) >= 1) frozen = s;
      else { await page.keyboard.press('p'); await sleep(300); }
    }
    assert.ok(frozen, 'paused on a frame with its own result');
    const { width, height, bpp, px } = decodePng(await page.locator('#view').screenshot());
    const colour = producerColour('bright');
    const box = { left: width, right: -1, bottom: -1 };
    // The square: the columns and rows with many grey-white pixels (the texture's light
    // patches are tinted and scattered).
    const columns = new Array(width).fill(0);
    const rows = new Array(height).fill(0);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const [r, g, b] = px.subarray((y * width + x) * bpp, (y * width + x) * bpp + 3);
        if (Math.abs(r - colour[0]) + Math.abs(g - colour[1]) + Math.abs(b - colour[2]) < 60) {
          box.left = Math.min(box.left, x); box.right = Math.max(box.right, x); box.bottom = Math.max(box.bottom, y);
        }
        if (r > 215 && g > 215 && b > 215 && Math.max(r, g, b) - Math.min(r, g, b) < 14 && y < height * 0.75) {
          columns[x]++;
          rows[y]++;
        }
      }
    }
    const dense = (counts) => counts.map((n, i) => (n >= 20 ? i : -1)).filter((i) => i >= 0);
    const [cols, rws] = [dense(columns), dense(rows)];
    const square = { left: Math.min(...cols), right: Math.max(...cols), top: Math.min(...rws), bottom: Math.max(...rws) };
    console.log('box', JSON.stringify(box), 'square', JSON.stringify(square), `(${width}x${height})`);
    assert.ok(box.right >= 0 && cols.length > 0 && rws.length > 0, 'a box and a square on screen');
    assert.ok(Math.abs(box.left - square.left) <= 6 && Math.abs(box.bottom - square.bottom) <= 6,
      `the box around the square: box ${JSON.stringify(box)}, square ${JSON.stringify(square)}`);
    await page.tap('#view');
    await page.screenshot({ path: join(ARTIFACTS, 'detections-phone.png') });

    // The toggle hides them (and says so), and shows them again.
    await page.keyboard.press('d');
    assert.equal(await page.$eval('body', (b) => b.dataset.marks), 'hidden');
    assert.equal(await page.$eval('#marks', (c) => getComputedStyle(c).display), 'none');
    await page.keyboard.press('d');
    assert.equal(await page.$eval('body', (b) => b.dataset.marks), 'shown');
    await page.keyboard.press('p');

    // Turned a quarter (the picture laid out wider than the phone), the overlay still
    // covers the picture exactly (it once sat 227 px to the side).
    await page.$eval('#btn-rotate', (b) => b.click());
    await sleep(500);
    const [view, marks] = await page.evaluate(() => ['view', 'marks'].map((id) => document.getElementById(id).getBoundingClientRect().toJSON()));
    for (const k of ['x', 'y', 'width', 'height']) assert.ok(Math.abs(view[k] - marks[k]) <= 1, `sideways ${k}: picture ${view[k]}, overlay ${marks[k]}`);
    await page.screenshot({ path: join(ARTIFACTS, 'detections-sideways-phone.png') });

    // The user watches the door; the watcher's alarm (the square in the yard's left 30 %)
    // takes the screen, and when the square has left it for the hold time, gives it back.
    await page.goto(`${edge.viewer}?camera=door`);
    await until(page, (x) => x.camera === 'door' && Number(x.frames) >= 1, 15000, 'the door playing');
    watcher = startConsumer(edge, ['--camera', 'yard', '--detector', 'bright', '--name', 'watcher', '--zone', '0,0,0.3,1',
      '--hold', '0.6', '--every', '2']);
    await until(page, (x) => x.camera === 'yard' && x.alarm === 'yard', 30000, 'the watcher\'s alarm on the yard');
    assert.match(await page.$eval('#alarm', (el) => el.textContent), /bright seen/);
    await until(page, (x) => x.alarm === '' && x.camera === 'door', 30000, 'the alarm cleared, back on the door');
    const out = watcher.output();
    console.log([...boxes.output().split('\n'), ...out.split('\n')].filter((l) => /fps|alarm/.test(l)).slice(0, 6).join('\n'));
    assert.match(out, /alarm raised: bright seen/);
    assert.match(out, /alarm cleared/);
    assert.match(boxes.output(), /\d+\.\d fps, lag p50 \d+ ms, \d+ stale dropped, 0 bad/);
  } finally {
    await context.close();
    await boxes.stop();
    await watcher?.stop();
    await edge.stop();
  }
});
