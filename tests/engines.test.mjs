// The viewer's core in the two other browser engines, through W3C WebDriver (plain HTTP):
// WebKit (WebKitGTK's MiniBrowser under Xvfb: the engine of every iPhone browser) and
// Firefox (ESR, headless, through geckodriver). Chromium runs everything else
// (e2e.test.mjs). Needs what scripts/setup.sh installs: xvfb, webkit2gtk-driver,
// firefox-esr and geckodriver.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARTIFACTS, startEdge, freePort, sleep, publishRaw } from './util.mjs';

const TOOLS = process.env.MQCAM_TOOLS ?? join(homedir(), '.cache', 'mqcam', 'tools');
const scratch = mkdtempSync(join(tmpdir(), 'mqcam-engines-'));
const children = [];

/** A process that is killed when the tests end. */
function run(cmd, args, env = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  children.push(child);
  return { child, output: () => out };
}

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };

/** A W3C WebDriver session: each method is one HTTP request. */
class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  static async start(base, capabilities) {
    // WebKitWebDriver without a display hangs on this request: never wait forever.
    const r = await fetch(`${base}/session`, {
      method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ capabilities }), signal: AbortSignal.timeout(60_000),
    });
    const { value } = await r.json();
    if (!value.sessionId) throw new Error(`no WebDriver session: ${JSON.stringify(value)}`);
    return new Session(base, value.sessionId);
  }

  async cmd(method, path, body) {
    const r = await fetch(`${this.base}/session/${this.id}${path}`, {
      method, headers: JSON_TYPE, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000),
    });
    const { value } = await r.json();
    if (value && value.error) throw new Error(`WebDriver ${path}: ${value.error}: ${value.message}`);
    return value;
  }

  go(url) { return this.cmd('POST', '/url', { url }); }
  /** Runs `fn` (a function) in the page with `args`; returns its JSON-able result. */
  exec(fn, ...args) { return this.cmd('POST', '/execute/sync', { script: `return (${fn}).apply(null, arguments)`, args }); }
  size(width, height) { return this.cmd('POST', '/window/rect', { width, height }); }
  /** The window's picture, saved as a PNG file. */
  async screenshot(path) { writeFileSync(path, Buffer.from(await this.cmd('GET', '/screenshot'), 'base64')); }
  quit() { return fetch(`${this.base}/session/${this.id}`, { method: 'DELETE' }).catch(() => {}); }
}

/** Waits until the driver answers /status. */
async function driverReady(base, output) {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${base}/status`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`WebDriver at ${base} never answered:\n${output()}`);
}

/** An X server for WebKit, which has no headless mode. */
async function xvfb() {
  for (let n = 90 + Math.floor(Math.random() * 100); ; n++) {
    if (existsSync(`/tmp/.X11-unix/X${n}`)) continue;
    run('Xvfb', [`:${n}`, '-screen', '0', '1280x1024x24', '-nolisten', 'tcp']);
    for (let i = 0; i < 50 && !existsSync(`/tmp/.X11-unix/X${n}`); i++) await sleep(100);
    return `:${n}`;
  }
}

/** Firefox below 500 px wide needs this profile (its toolbar sets a minimum width). */
function narrowFirefoxProfile() {
  const dir = join(scratch, 'firefox-profile');
  mkdirSync(join(dir, 'chrome'), { recursive: true });
  writeFileSync(join(dir, 'chrome', 'userChrome.css'), ':root, :root * { min-width: 0 !important; }\n');
  writeFileSync(join(dir, 'user.js'), 'user_pref("toolkit.legacyUserProfileCustomizations.stylesheets", true);\n');
  return dir;
}

const ENGINES = {
  webkit: {
    // MiniBrowser's window is at least 447 px wide.
    phoneWidth: 447,
    async start() {
      const port = await freePort();
      const display = await xvfb();
      // Compositing on a software GL doubles latency and triples its p95 (ENV.md).
      const driver = run('WebKitWebDriver', [`--port=${port}`], { DISPLAY: display, WEBKIT_DISABLE_COMPOSITING_MODE: '1' });
      const base = `http://127.0.0.1:${port}`;
      await driverReady(base, driver.output);
      return Session.start(base, { alwaysMatch: { 'webkitgtk:browserOptions': {
        binary: '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser', args: ['--automation'] } } });
    },
  },
  firefox: {
    phoneWidth: 390,
    async start() {
      const port = await freePort();
      const driver = run(join(TOOLS, 'bin', 'geckodriver'), ['--port', String(port)]);
      const base = `http://127.0.0.1:${port}`;
      await driverReady(base, driver.output);
      return Session.start(base, { alwaysMatch: { 'moz:firefoxOptions': {
        binary: '/usr/lib/firefox-esr/firefox-esr', args: ['-headless', '-profile', narrowFirefoxProfile()] } } });
    },
  },
};

/** #stats's data attributes, numbers parsed where they are numbers. */
async function stats(session) {
  return session.exec(() => {
    const d = { ...document.querySelector('#stats').dataset };
    for (const k of Object.keys(d)) if (d[k] !== '' && !Number.isNaN(Number(d[k]))) d[k] = Number(d[k]);
    return d;
  });
}

async function waitFor(session, predicate, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await stats(session);
    if (predicate(last)) return last;
    await sleep(200);
  }
  throw new Error(`${what}: never happened; last #stats: ${JSON.stringify(last)}`);
}

/** Polls `fn` in the page until it returns something truthy; returns that. */
async function waitPage(session, fn, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await session.exec(fn);
    if (last && last.ok) return last;
    await sleep(200);
  }
  throw new Error(`${what}: never happened; last: ${JSON.stringify(last)}`);
}

/** Counts the page's uncaught errors from now on (WebKit's driver has no console log). */
function watchErrors(session) {
  return session.exec(() => {
    window.__errors = [];
    addEventListener('error', (e) => window.__errors.push(String(e.message)));
    addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason)));
  });
}

let edge;
before(async () => { edge = await startEdge(['--no-login', '--size', '640x480', '--fps', '30']); });
after(async () => {
  await edge?.stop();
  for (const c of children) c.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

for (const [name, engine] of Object.entries(ENGINES)) {
  test(`${name}: live frames drawn by the worker at the camera's rate, then on a phone-width window`, async () => {
    const session = await engine.start();
    try {
      await session.size(1024, 768);
      await session.go(edge.viewer);
      await watchErrors(session);
      await waitFor(session, (s) => s.connected === 'true' && s.frames >= 20, 'frames');
      await sleep(4000); // a full fps window at the steady rate
      const s = await stats(session);
      console.log(`${name}:`, JSON.stringify({ fps: s.fps, p50: s.latencyP50Ms, p95: s.latencyP95Ms, engine: s.engine,
        present: s.stageDrawnPresentedP50Ms, window: s.flowWindow }));
      assert.equal(s.engine, 'worker', 'decoded and drawn in a worker');
      assert.equal(s.width, 640);
      assert.ok(s.fps >= 20 && s.fps <= 40, `fps ${s.fps} not near 30`);
      assert.ok(s.latencyP50Ms > 0 && s.latencyP50Ms < 200, `latency p50 ${s.latencyP50Ms} ms`);
      assert.equal(s.errors, 0);

      // A phone's width: the picture fits, nothing scrolls sideways, frames go on.
      await session.size(engine.phoneWidth, 844);
      await sleep(1000);
      const layout = await session.exec(() => {
        const canvas = document.querySelector('#view').getBoundingClientRect();
        const overlay = document.querySelector('#stats').getBoundingClientRect();
        return { inner: innerWidth, scroll: document.documentElement.scrollWidth, canvas: canvas.width, overlayRight: overlay.right };
      });
      assert.ok(layout.inner <= engine.phoneWidth + 20, `window not narrowed: ${JSON.stringify(layout)}`);
      assert.ok(layout.scroll <= layout.inner && layout.canvas <= layout.inner && layout.overlayRight <= layout.inner,
        `does not fit: ${JSON.stringify(layout)}`);
      const before = await stats(session);
      await sleep(2000);
      assert.ok((await stats(session)).frames > before.frames + 20, 'frames go on at phone width');
      assert.deepEqual(await session.exec(() => window.__errors), [], 'no page errors');
    } finally {
      await session.quit();
    }
  });

  test(`${name}: a hidden page disconnects and picks the stream up again when shown`, async () => {
    const session = await engine.start();
    try {
      await session.go(edge.viewer);
      await waitFor(session, (s) => s.connected === 'true' && s.frames >= 10, 'frames');
      // Remember what the page showed while hidden: it cannot be asked then.
      await session.exec(() => {
        window.__whileHidden = null;
        document.addEventListener('visibilitychange', () => {
          if (document.hidden) setTimeout(() => { window.__whileHidden = { ...document.querySelector('#stats').dataset }; }, 1500);
        });
      });
      // Hide it: another tab in front (Firefox), or the window minimized (WebKit's
      // MiniBrowser opens new windows beside the first, both visible).
      const first = await session.cmd('GET', '/window');
      let hidden;
      if (name === 'firefox') {
        const other = await session.cmd('POST', '/window/new', { type: 'tab' });
        await session.cmd('POST', '/window', { handle: other.handle });
        await sleep(3000);
        await session.cmd('POST', '/window', { handle: first });
      } else {
        await session.cmd('POST', '/window/minimize', {});
        await sleep(3000);
        await session.size(1024, 768); // restores it
      }
      hidden = await session.exec(() => window.__whileHidden);
      assert.ok(hidden !== null, `${name} never reported the page hidden`);
      assert.equal(hidden.connected, 'false');
      assert.match(hidden.state, /paused/);
      const back = await stats(session);
      await waitFor(session, (s) => s.connected === 'true' && s.frames >= back.frames + 10, 'frames after shown again');
    } finally {
      await session.quit();
    }
  });

  test(`${name}: the grid of three cameras, a tile opens one, an alarm takes the screen and gives it back`, async () => {
    const publisher = { username: 'sensor', password: 'engines-s3cret' };
    const cams = await startEdge(['--no-login', '--publisher-login', `${publisher.username}:${publisher.password}`,
      '--camera', 'door=pattern,size=320x240,fps=10', '--camera', 'yard=pattern,size=320x240,fps=10',
      '--camera', 'shed=pattern,size=320x240,fps=10']);
    const prefix = cams.topic.split('/').slice(0, -2).join('/');
    const raise = (camera, active, reason) => publishRaw(cams.tcpHost, cams.tcpPort, `${prefix}/${camera}/alarm`,
      [Buffer.from(JSON.stringify({ active, reason, at_us: Date.now() * 1000, source: 'test' }))], publisher);
    const banner = () => {
      const el = document.querySelector('#alarm');
      let shown = !!el && !el.hidden && el.getClientRects().length > 0;
      for (let e = el; shown && e; e = e.parentElement) {
        const cs = getComputedStyle(e);
        if (cs.display === 'none' || cs.visibility === 'hidden') shown = false;
      }
      return { ok: shown, shown, text: el ? el.textContent : null };
    };
    const session = await engine.start();
    try {
      await session.size(engine.phoneWidth, 844);
      await session.go(cams.viewer);
      await watchErrors(session);
      // Three tiles, each with a picture drawn, the page on the grid.
      const grid = await waitPage(session, () => {
        const tiles = [...document.querySelectorAll('#grid button.tile')].map((t) => ({
          camera: t.dataset.camera, state: t.dataset.state, previews: Number(t.dataset.previews) }));
        const view = document.querySelector('#stats').dataset.view;
        return { ok: view === 'grid' && tiles.length === 3 && tiles.every((t) => t.state === 'live' && t.previews >= 1), view, tiles };
      }, 'three live tiles with pictures');
      assert.deepEqual(grid.tiles.map((t) => t.camera).sort(), ['door', 'shed', 'yard']);
      await sleep(300);
      await session.screenshot(join(ARTIFACTS, `grid-${name}.png`));

      // A tile opens its camera full-size.
      await session.exec(() => document.querySelector('#grid button.tile[data-camera="yard"]').click());
      await waitFor(session, (st) => st.view === 'camera' && st.camera === 'yard' && st.frames >= 5, 'the yard full-size with frames');
      assert.equal(new URL(await session.cmd('GET', '/url')).searchParams.get('camera'), 'yard');
      await session.screenshot(join(ARTIFACTS, `camera-${name}.png`));

      // An alarm on another camera takes the screen, with the banner; cleared, the yard is back.
      await raise('shed', true, 'door opened');
      await waitFor(session, (st) => st.camera === 'shed' && st.alarm === 'shed', 'the shed\'s alarm takes the screen', 15_000);
      const b = await waitPage(session, banner, '#alarm shown', 5000);
      assert.match(b.text, /shed/);
      assert.match(b.text, /door opened/);
      await raise('shed', false, '');
      await waitFor(session, (st) => st.camera === 'yard' && st.alarm === '' && st.view === 'camera', 'back to the yard', 15_000);
      assert.equal((await session.exec(banner)).shown, false, 'the banner goes away');
      assert.deepEqual(await session.exec(() => window.__errors), [], 'no page errors');
    } finally {
      await session.quit();
      await cams.stop();
    }
  });

  test(`${name}: a camera's recordings: open, a scrub on the timeline, play, a step back, live again`, async () => {
    const rec = await startEdge(['--no-login', '--size', '320x240', '--fps', '10', '--record', 'continuous',
      '--record-dir', join(scratch, `rec-${name}`)]);
    const session = await engine.start();
    // Pointer events on the timeline as a mouse makes them (WebDriver's actions differ
    // between the two drivers; the page's handlers are what is tested).
    const scrubTo = (t) => session.exec((t) => {
      const el = document.querySelector('#timeline');
      const r = el.getBoundingClientRect();
      const x = r.left + ((t - Number(el.dataset.startUs)) / Number(el.dataset.spanUs)) * r.width;
      const at = (type, dx) => el.dispatchEvent(new PointerEvent(type, { pointerId: 1, isPrimary: true, bubbles: true,
        clientX: x + dx, clientY: r.top + r.height / 2, button: 0, buttons: type === 'pointerup' ? 0 : 1 }));
      at('pointerdown', 12);
      at('pointermove', 6);
      at('pointermove', 0);
      at('pointerup', 0);
    }, t);
    const click = (sel) => session.exec((sel) => document.querySelector(sel).click(), sel);
    try {
      await sleep(6000);
      await session.size(engine.phoneWidth, 844);
      await session.go(rec.viewer);
      await watchErrors(session);
      await waitFor(session, (s) => s.frames >= 5, 'live frames');
      // The button is there for a camera its edge records (its directory entry says so).
      await waitPage(session, () => ({ ok: getComputedStyle(document.querySelector('#btn-recordings')).display !== 'none' }),
        'the recordings button', 10_000);
      await click('#btn-recordings');
      const opened = await waitFor(session, (s) => s.mode === 'playback' && s.playbackState === 'paused' && s.playbackAtUs > 0,
        'the recordings open on the newest frame', 15_000);
      await waitPage(session, () => ({ ok: Number(document.querySelector('#timeline').dataset.spanUs) <= 120e6 }),
        'the timeline fitted to the footage', 15_000);
      // A scrub 3 s back: the preview at or before it (2 a second).
      const target = opened.playbackAtUs - 3e6;
      await scrubTo(target);
      const scrubbed = await waitFor(session, (s) => s.playbackState === 'paused' && s.playbackTargetUs <= target + 100e3
        && s.playbackAtUs <= s.playbackTargetUs && s.playbackTargetUs - s.playbackAtUs <= 600e3, 'the frame 3 s back', 10_000);
      await session.screenshot(join(ARTIFACTS, `playback-${name}.png`));
      await click('#pb-play');
      await waitFor(session, (s) => s.playbackState === 'playing' && s.playbackAtUs > scrubbed.playbackAtUs + 1e6, 'playing on', 10_000);
      await click('#pb-play');
      const paused = await waitFor(session, (s) => s.playbackState === 'paused', 'paused', 5000);
      await click('#pb-step-back');
      await waitFor(session, (s) => s.playbackState === 'paused' && s.playbackAtUs < paused.playbackAtUs, 'a step back', 5000);
      await click('#pb-live');
      await waitFor(session, (s) => s.mode === 'live' && s.frames >= 5 && s.latencyP50Ms > 0, 'live again', 10_000);
      assert.deepEqual(await session.exec(() => window.__errors), [], 'no page errors');
    } finally {
      await session.quit();
      await rec.stop();
    }
  });
}
