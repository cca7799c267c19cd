import { startEdge, startBrowser, emulateLink, sleep, untilStats } from './util.mjs';
const [kbps, quality] = [Number(process.argv[2]), process.argv[3]];
const browser = await startBrowser();
const edge = await startEdge(['--size', '1280x720', '--fps', '30']);
const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
const page = await context.newPage();
await emulateLink(page, { kbps, latencyMs: 80 });
await page.goto(`${edge.viewer}?quality=${quality}`);
await untilStats(page, (d) => Number(d.frames) >= 1, 15000, 'a first frame');
for (let i = 0; i < 12; i++) {
  await sleep(1000);
  const d = await page.$eval('#stats', (el) => ({ ...el.dataset }));
  console.log(`${d.rendition} fps ${d.fps} win ${d.flowWindow} int ${d.frameIntervalMs} link ${d.linkKbps} est ${d.linkEstimateKbps} p→r ${d.stagePublishedReceivedP50Ms}/${d.stagePublishedReceivedP95Ms} dec ${d.stageReceivedDecodedP50Ms} clockRtt? ${d.clockUncertaintyMs} lat ${d.latencyP50Ms}`);
}
await context.close(); await edge.stop(); await browser.close();
