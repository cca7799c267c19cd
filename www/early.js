// Runs while index.html is still being read, before the page's WebAssembly is here: it
// starts the engine's worker and, when the page says where the broker is, the worker's
// socket to it, so the WebSocket handshake (a round trip: 80 ms and up on a phone)
// overlaps the module's download and start instead of following them. At 2 Mbit/s and
// 80 ms the first visit's first picture came 50–70 ms sooner (0.89 → 0.84 s, measured).
// The broker's address is written into the worker's own source, so the worker dials as
// its first act instead of waiting for a message (which came 1–56 ms after the worker
// started): a second visit's first picture at 2 Mbit/s and 80 ms came in a median 367 ms
// instead of 429 (6 visits each, navigation → picture on screen). A module worker and a
// classic one start equally fast here (median 397 ms for classic).
//
// The page (wasm-viewer/src/ui.rs) takes the worker from `window.mqcamWorker`. Which
// brokers to use is worked out by target.rs; this guesses the first of them from the
// same inputs in the same order (the engine connects to the first; the others are for
// failover), and the page tells the worker the real one: a socket dialled to another URL
// is dropped.
(() => {
  // The engine's loader, run in the worker (see wasm-viewer/src/worker.rs for the
  // messages). The first message that is not a "dial" says where the module's glue is
  // and carries the compiled module (nothing is fetched or compiled twice); the next
  // starts the engine; any after those wait for it.
  function engineWorker(firstBroker) {
    // When its steps to the first picture happened (the engine reads them: #stats's
    // data-first-steps, wasm-viewer/src/picture/startup.rs).
    const boot = {};
    self.mqcamBoot = boot;
    const mark = (step) => { boot[step] ??= performance.timeOrigin + performance.now(); };
    mark('worker');
    const queue = [];
    let wake = null;
    let socket = null;
    const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => { wake = r; }));
    const dial = (broker) => {
      let url;
      try { url = new URL(broker).href; } catch { return; } // the engine says what is wrong
      if (socket && socket.url === url && socket.readyState <= WebSocket.OPEN) return;
      socket?.close();
      socket = new WebSocket(url, 'mqtt');
      socket.binaryType = 'arraybuffer';
      socket.addEventListener('open', () => mark('open'), { once: true });
    };
    self.onmessage = ({ data }) => {
      if (data && data.type === 'dial') {
        dial(data.broker);
      } else if (wake) {
        const w = wake;
        wake = null;
        w(data);
      } else {
        queue.push(data);
      }
    };
    if (firstBroker) dial(firstBroker);
    (async () => {
      const load = await next();
      const glue = await import(load.glue);
      mark('glue');
      await glue.default({ module_or_path: load.module });
      mark('instance');
      const start = await next();
      // It handles what came meanwhile, then listens itself.
      glue.worker_main(start, queue, socket);
    })().catch((e) => setTimeout(() => { throw e; })); // an error event the page shows
  }

  const query = new URLSearchParams(location.search);
  const canMove = 'OffscreenCanvas' in window && 'transferControlToOffscreen' in HTMLCanvasElement.prototype;
  if (query.get('worker') === '0' || !canMove || !('Worker' in window)) return;
  let edge = null;
  try {
    edge = JSON.parse(document.getElementById('edge-json')?.textContent ?? 'null');
  } catch { /* the page reports a bad edge.json */ }
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const first = (list) => (Array.isArray(list) ? list.find((b) => typeof b === 'string' && b) : undefined);
  // A hidden page (opened in the background) dials when it is shown: the page says so.
  const broker = document.hidden ? null : (first(query.getAll('broker')) || first(edge?.brokers) || edge?.broker
    || (edge?.ws_port ? `${scheme}://${location.hostname}:${edge.ws_port}${edge.ws_path || '/mqtt'}` : null));
  // From a blob: URL, not a file of the site: no request (a 304 on every second visit).
  // When the worker was asked for (see engineWorker's marks).
  window.mqcamBoot = { spawn: performance.timeOrigin + performance.now() };
  const source = new Blob([`(${engineWorker})(${JSON.stringify(broker ?? null)});`], { type: 'text/javascript' });
  window.mqcamWorker = new Worker(URL.createObjectURL(source), { type: 'module' });
})();
