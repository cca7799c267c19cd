import { startEdge, startBrowser, emulateLink, sleep, untilStats } from './util.mjs';
const variant = process.argv[2];
const browser = await startBrowser();
const edge = await startEdge(['--size', '1280x720', '--fps', '30']);
const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
const page = await context.newPage();
await emulateLink(page, { kbps: 2000, latencyMs: 80 });
await page.goto(edge.viewer);
await untilStats(page, (d) => Number(d.frames) >= 1, 15000, 'a first frame');
await sleep(8000);
const t0 = Date.now();
if (variant === 'a') await emulateLink(page, { kbps: Infinity, latencyMs: 80 });
if (variant === 'b') await emulateLink(page, { kbps: Infinity, latencyMs: 0 });
if (variant === 'd') await emulateLink(page, { kbps: 50000, latencyMs: 0 });
if (variant === 'e') await emulateLink(page, { kbps: 50000, latencyMs: 20 });
if (variant === 'c') { await page.__cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 }); await page.__cdp.send('Network.disable'); }
let last = 0;
for (let i = 0; i < 24; i++) {
  const d = await page.$eval('#stats', (el) => ({ ...el.dataset }));
  console.log(`${((Date.now()-t0)/1000).toFixed(1)}s ${d.rendition} fps ${d.fps} link ${d.linkKbps} pub→recv p50 ${d.stagePublishedReceivedP50Ms} frames ${d.frames - last}`);
  last = d.frames;
  await sleep(500);
}
await context.close(); await edge.stop(); await browser.close();
