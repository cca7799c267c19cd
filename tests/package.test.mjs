// The Debian package as a user installs it: a clean Debian root (debootstrap, minbase),
// `apt install ./mqcam_*.deb` inside it, then the service started as its systemd unit
// says (its user and groups, its command line, its options file), and the viewer reached
// with the link `mqcam-login` prints: a native MQTT subscriber and headless Chromium get
// its frames. Then reinstalling keeps the password and an edited options file, removing
// keeps the state, purging deletes it. No systemd runs as PID 1 here, so the unit itself
// is checked with `systemd-analyze verify` and started by this test as systemd would.
//
// Needs root (chroot), the packages from `scripts/package.sh` (target/debian/), and
// network access to a Debian mirror once (the root is cached in ~/.cache/mqcam).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ARTIFACTS, freePort, startBrowser, openPhone, waitForStats, sleep, mqttTcpClient, parsePublish } from './util.mjs';

const DEBS = join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debian');
const deb = (arch) => readdirSync(DEBS).filter((f) => f.endsWith(`_${arch}.deb`)).map((f) => join(DEBS, f))[0];
const CACHE = join(process.env.MQCAM_CACHE ?? join(homedir(), '.cache/mqcam'), 'debian-bookworm-minbase-systemd.tar');
const MIRROR = process.env.MQCAM_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const isRoot = process.getuid?.() === 0;

let root;
let browser;

/** Runs a command inside the Debian root; returns its stdout (stderr joined on failure). */
function inRoot(args, { user, input, env } = {}) {
  const chroot = user ? ['chroot', `--userspec=${user}`, root, ...args] : ['chroot', root, ...args];
  return execFileSync(chroot[0], chroot.slice(1), {
    encoding: 'utf8', input, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', ...env },
    stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 24,
  });
}

/** The unit's `Key=` values (a key may repeat). */
function unitValues(text, key) {
  return text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1).trim());
}

before(async () => {
  if (!isRoot || !existsSync(DEBS)) return;
  root = mkdtempSync(join(tmpdir(), 'mqcam-debian-'));
  if (existsSync(CACHE)) {
    execFileSync('tar', ['-C', root, '-xf', CACHE]);
  } else {
    // A clean Debian 12 as a minimal install has it: essential packages, apt and
    // systemd (not running: there is no PID 1 of its own in a chroot).
    execFileSync('debootstrap', ['--variant=minbase', '--include=systemd', 'bookworm', root, MIRROR], { stdio: 'ignore', timeout: 600_000 });
    mkdirSync(join(CACHE, '..'), { recursive: true });
    execFileSync('tar', ['-C', root, '-cf', CACHE, '.']);
  }
  chmodSync(root, 0o755); // a system's / (mkdtemp makes it 0700: no user could get in)
  execFileSync('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  if (root) {
    try { execFileSync('umount', [join(root, 'proc')]); } catch { /* not mounted */ }
    rmSync(root, { recursive: true, force: true });
  }
});

test('the .deb installs into a clean Debian, and its service streams to a phone with the login mqcam-login prints', { timeout: 300_000 }, async (t) => {
  if (!isRoot) return t.skip('needs root (chroot)');
  if (!existsSync(DEBS) || !deb('amd64')) return t.skip('no package: scripts/package.sh');
  const package_ = deb('amd64');
  writeFileSync(join(root, 'tmp/mqcam.deb'), readFileSync(package_));

  // apt resolves the package's dependencies against what a minimal Debian has.
  const installed = inRoot(['apt-get', 'install', '-y', '--no-install-recommends', '/tmp/mqcam.deb'], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
  assert.match(installed, /sudo mqcam-login/, 'the install says how to get the login');
  assert.doesNotMatch(installed, /password=/, 'and never prints the password (apt logs its output)');

  // Its user, in the group that owns cameras, and its private state directory.
  assert.match(inRoot(['id', 'mqcam']), /groups=.*\(video\)/);
  const state = statSync(join(root, 'var/lib/mqcam'));
  assert.equal(state.mode & 0o777, 0o750);
  assert.equal(inRoot(['stat', '-c', '%U:%G', '/var/lib/mqcam']).trim(), 'mqcam:mqcam');
  assert.equal(inRoot(['dpkg-query', '-W', '-f', '${Conffiles}', 'mqcam']).trim().split(' ')[0], '/etc/mqcam/edge.toml');
  // Enabled: it starts at the next boot.
  assert.equal(inRoot(['systemctl', 'is-enabled', 'mqcam.service']).trim(), 'enabled');

  // The unit as systemd reads it (this is the real parser: bad keys, a missing binary
  // or user fail here).
  const unitPath = join(root, 'lib/systemd/system/mqcam.service');
  const unit = readFileSync(unitPath, 'utf8');
  const verify = execFileSync('systemd-analyze', ['verify', `--root=${root}`, 'mqcam.service'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(verify.trim(), '', verify);
  const security = execFileSync('systemd-analyze', ['security', '--offline=true', `--root=${root}`, 'mqcam.service'], { encoding: 'utf8' });
  const exposure = Number(security.match(/Overall exposure level for mqcam.service: ([\d.]+)/)?.[1]);
  t.diagnostic(`systemd-analyze security: exposure ${exposure} (0 best, 10 worst)`);
  assert.ok(exposure <= 2.5, `a hardened unit: ${security.split('\n').slice(-2).join(' ')}`);
  for (const key of ['ProtectSystem=strict', 'NoNewPrivileges=yes', 'ProtectHome=yes', 'DevicePolicy=closed', 'DeviceAllow=char-video4linux rw']) {
    assert.ok(unit.includes(`\n${key}\n`), key);
  }

  // The user edits the options file as its comments say: ports free on this machine
  // (the defaults may be taken here) and a camera of their choice.
  const [http, ws, tcp] = [await freePort(), await freePort(), await freePort()];
  const options = readFileSync(join(root, 'etc/mqcam/edge.toml'), 'utf8')
    + `\nhttp_port = ${http}\nws_port = ${ws}\ntcp_port = ${tcp}\n\n[[camera]]\nname = "porch"\nsource = "pattern"\nsize = "320x240"\nfps = 15\n`;
  writeFileSync(join(root, 'etc/mqcam/edge.toml'), options);

  // Started as the unit says: its user, its groups, its command line; stdout and stderr
  // to a pipe, as to the journal.
  const [exec] = unitValues(unit, 'ExecStart');
  const [user] = unitValues(unit, 'User');
  const groups = unitValues(unit, 'SupplementaryGroups').join(',');
  const argv = exec.split(/\s+/);
  // systemd tells a service its stderr is the journal's stream (JOURNAL_STREAM: the
  // stream's device and inode); here that stream is the pipe this test reads.
  const child = spawn('sh', ['-c', 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"', 'sh',
    'chroot', `--userspec=${user}:${user}`, `--groups=${groups}`, root, ...argv], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  try {
    const deadline = Date.now() + 20000;
    while (!/topic:\s+mqcam\/porch\/frame/.test(out) && Date.now() < deadline && child.exitCode === null) await sleep(100);
    assert.match(out, /topic:\s+mqcam\/porch\/frame/, `the service's edge started:\n${out}`);
    assert.match(out, /kept in \/var\/lib\/mqcam\/viewer-password .*`mqcam-edge login` prints the link/, out);
    const password = readFileSync(join(root, 'var/lib/mqcam/viewer-password'), 'utf8').trim();
    assert.ok(!out.includes(password), 'the password never goes into the log');
    assert.equal(inRoot(['stat', '-c', '%U %a', '/var/lib/mqcam/viewer-password']).trim(), 'mqcam 600');

    // The site is the one built into the binary: the package has no other.
    const page = await fetch(`http://127.0.0.1:${http}/`);
    assert.equal(page.status, 200);
    // The built viewer: early.js names its modules by their content (scripts/module-names.mjs).
    assert.match(await page.text(), /const ENGINE = 'viewer-engine-[0-9a-f]{16}'/);

    // mqcam-login, as root (sudo's job done) prints the link with the password.
    const login = inRoot(['mqcam-login']);
    assert.ok(login.includes(`viewer:     http://127.0.0.1:${http}/#password=${password}`), login);
    assert.match(login, /Scan with a phone/);
    assert.doesNotMatch(login, /nothing answers/, 'the edge answers');
    // Anyone else is told what to do instead of getting a stack of errors.
    assert.throws(() => inRoot(['/usr/bin/mqcam-edge', 'login', '--config', '/etc/mqcam/edge.toml', '--state-dir', '/var/lib/mqcam'], { user: 'nobody:nogroup' }),
      (e) => /permission denied.*sudo/.test(String(e.stderr)));

    // A native subscriber with the viewer's login gets stamped JPEG frames.
    const client = await mqttTcpClient('127.0.0.1', tcp, { login: { username: 'viewer', password } });
    try {
      assert.deepEqual(await client.subscribe(['mqcam/porch/frame']), [0]);
      const frame = parsePublish(await client.next(3, 10000));
      assert.equal(frame.topic, 'mqcam/porch/frame');
      assert.ok(frame.payload[0] === 0xff && frame.payload[1] === 0xd8, 'a JPEG');
    } finally {
      client.close();
    }

    // A phone opens the link mqcam-login printed and draws the frames.
    const link = login.match(/viewer:\s+(\S+)/)[1];
    const { context, page: phone, problems } = await openPhone(browser, link);
    try {
      const stats = await waitForStats(phone, (s) => s.connected && s.frames >= 10, 20000);
      assert.equal(stats.width, 320);
      mkdirSync(ARTIFACTS, { recursive: true });
      await phone.screenshot({ path: join(ARTIFACTS, 'package-phone.png') });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  } finally {
    child.kill('SIGTERM');
    const deadline = Date.now() + 5000;
    while (child.exitCode === null && Date.now() < deadline) await sleep(50);
    assert.equal(child.exitCode, 0, `SIGTERM (systemctl stop) ends it cleanly:\n${out.slice(-2000)}`);
  }
  writeFileSync(join(ARTIFACTS, 'package-service.log'), out);
  // A service's log: no colour codes, and the QR code and password only on a terminal;
  // each line with its priority for the journal (which stamps the time itself), and
  // nothing once a second.
  assert.ok(!out.includes('\x1b['), 'no ANSI colour codes into the journal');
  assert.doesNotMatch(out, /Scan with a phone/);
  const logLines = out.split('\n').filter((l) => /^<\d>/.test(l));
  assert.ok(logLines.length >= 3 && logLines.some((l) => l.startsWith('<6>edge::run: running')), out);
  assert.ok(!logLines.some((l) => /\d{4}-\d\d-\d\dT/.test(l)), `no timestamps of our own:\n${out}`);
  assert.ok(!logLines.some((l) => /publishing/.test(l)), `no line a second:\n${out}`);

  // Reinstalling (an upgrade) keeps the password and the edited options.
  const password = readFileSync(join(root, 'var/lib/mqcam/viewer-password'), 'utf8');
  inRoot(['apt-get', 'install', '-y', '--reinstall', '/tmp/mqcam.deb'], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
  assert.equal(readFileSync(join(root, 'var/lib/mqcam/viewer-password'), 'utf8'), password);
  assert.equal(readFileSync(join(root, 'etc/mqcam/edge.toml'), 'utf8'), options);
  // Removing keeps the state (recordings, password) and options; purging deletes them.
  inRoot(['apt-get', 'remove', '-y', 'mqcam']);
  assert.ok(!existsSync(join(root, 'usr/bin/mqcam-edge')));
  assert.ok(existsSync(join(root, 'var/lib/mqcam/viewer-password')) && existsSync(join(root, 'etc/mqcam/edge.toml')));
  inRoot(['apt-get', 'purge', '-y', 'mqcam']);
  assert.ok(!existsSync(join(root, 'var/lib/mqcam')) && !existsSync(join(root, 'etc/mqcam')));
});

test('the arm64 package holds the same files, with an arm64 binary', async (t) => {
  if (!existsSync(DEBS) || !deb('arm64') || !deb('amd64')) return t.skip('no arm64 package: scripts/package.sh arm64');
  const files = (p) => execFileSync('dpkg-deb', ['-c', p], { encoding: 'utf8' }).split('\n').map((l) => l.split(/\s+/).slice(5).join(' ')).filter(Boolean).sort();
  assert.deepEqual(files(deb('arm64')), files(deb('amd64')));
  assert.equal(execFileSync('dpkg-deb', ['-f', deb('arm64'), 'Architecture'], { encoding: 'utf8' }).trim(), 'arm64');
  const dir = mkdtempSync(join(tmpdir(), 'mqcam-arm64-deb-'));
  try {
    execFileSync('dpkg-deb', ['-x', deb('arm64'), dir]);
    const fd = openSync(join(dir, 'usr/bin/mqcam-edge'), 'r');
    const head = Buffer.alloc(20);
    readSync(fd, head, 0, 20, 0);
    closeSync(fd);
    assert.equal(head.subarray(0, 4).toString('latin1'), '\x7fELF');
    assert.equal(head.readUInt16LE(18), 183, 'e_machine: EM_AARCH64');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
