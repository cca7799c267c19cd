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
// The viewer is two modules (wasm-viewer/page and wasm-viewer/engine), both loaded from
// here. The worker gets the engine's at once. Where this script has all the engine
// needs (the edge put /edge.json in the page, or the address names broker and camera),
// it hands the worker the canvas and those inputs itself (`mqcamBegin`, called from
// just after the <canvas>), and the page's module is loaded only once the first
// picture is drawn, a login is asked or the grid is to be shown (0.4 s after the
// engine connected, 1.5 s after the start at the latest): on a slow link the first
// picture waits for the engine's bytes alone, not for the page's too (2 Mbit/s, 80 ms:
// 606 ms instead of 757 with one module). Otherwise the page's
// module loads at once and starts the engine (a static host without /edge.json in the
// page; a browser that cannot hand a canvas to a worker, where the page loads the
// engine's module itself through `window.mqcamEngine()`).
//
// The page (wasm-viewer/src/page/ui.rs) takes the worker from `window.mqcamWorker`. Which
// brokers to use is worked out by target.rs; this guesses the first of them from the
// same inputs in the same order (the engine connects to the first; the others are for
// failover); the engine connects to the real one: a socket dialled to another URL is
// dropped.
(() => {
  // The modules' names, made from their content by scripts/module-names.mjs at build.
  const ENGINE = 'viewer-engine';
  const PAGE = 'viewer-page';
  const files = (name) => ({
    glue: new URL(`${name}.js`, document.baseURI).href,
    wasm: new URL(`${name}_bg.wasm`, document.baseURI).href,
  });
  const engine = files(ENGINE);
  // The engine on the page (no worker): its module, instantiated.
  window.mqcamEngine = async () => {
    const glue = await import(engine.glue);
    await glue.default({ module_or_path: engine.wasm });
    return glue;
  };
  // The page's module; instantiating it starts the page. Once.
  let page = null;
  const loadPage = () => {
    page ??= (async () => {
      const { glue, wasm } = files(PAGE);
      const bindings = await import(glue);
      await bindings.default({ module_or_path: wasm });
      window.wasmBindings = bindings; // snapshot(), for tests and scripts
    })().catch((e) => setTimeout(() => { throw e; })); // an error event in the console
  };

  // The engine's loader, run in the worker (see wasm-viewer/src/page/worker.rs for the
  // messages): it imports the engine's glue at once and instantiates the module when
  // the page hands it over compiled ("module"); the page's first message that is not a
  // "dial" or the module starts the engine; any after it wait for it.
  function engineWorker(firstBroker, engine) {
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
    let compiled;
    const module = new Promise((r) => { compiled = r; });
    self.onmessage = ({ data }) => {
      if (data && data.type === 'dial') {
        dial(data.broker);
      } else if (data && data.type === 'module') {
        compiled(data);
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
      const glue = await import(engine.glue);
      mark('glue');
      const { module: compiledModule, resources } = await module;
      await glue.default({ module_or_path: compiledModule });
      mark('instance');
      const start = await next();
      // How fast the module came, for the engine's first guess of the link (plan.rs).
      if (start && start.type === 'begin') start.inputs.resources = resources;
      // It handles what came meanwhile, then listens itself.
      glue.worker_main(start, queue, socket);
    })().catch((e) => setTimeout(() => { throw e; })); // an error event the page shows
  }

  const query = new URLSearchParams(location.search);
  const canMove = 'OffscreenCanvas' in window && 'transferControlToOffscreen' in HTMLCanvasElement.prototype;
  if (query.get('worker') === '0' || !canMove || !('Worker' in window)) {
    loadPage();
    return;
  }
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
  const source = new Blob([`(${engineWorker})(${JSON.stringify(broker ?? null)}, ${JSON.stringify(engine)});`],
    { type: 'text/javascript' });
  const worker = new Worker(URL.createObjectURL(source), { type: 'module' });
  window.mqcamWorker = worker;
  // The engine's module is fetched and compiled here, now (V8 compiles off the main
  // thread), and handed to the worker compiled: its download starts before the worker
  // runs (30-60 ms after it was asked for). A server that does not say application/wasm
  // gets the plain way. With it go this page's resource timings (how fast it came).
  const wasm = () => fetch(engine.wasm);
  WebAssembly.compileStreaming(wasm())
    .catch(() => wasm().then((r) => r.arrayBuffer()).then((bytes) => WebAssembly.compile(bytes)))
    .then((module) => {
      const resources = performance.getEntriesByType('resource').map((e) => e.toJSON());
      worker.postMessage({ type: 'module', module, resources });
    })
    .catch((e) => setTimeout(() => { throw e; }));

  // As wasm-viewer/src/page/plan.rs: told broker and camera, /edge.json is not needed.
  const told = query.getAll('broker').length > 0 && (query.has('topic') || query.has('camera'));
  if (!told && !edge) {
    loadPage();
    return;
  }
  // Called by the page just after the picture's <canvas> (index.html): the engine starts
  // on it with what plan.rs works out in the worker from these inputs.
  window.mqcamBegin = () => {
    let canvas;
    try {
      canvas = document.getElementById('view').transferControlToOffscreen();
    } catch {
      loadPage();
      return;
    }
    const entries = (store) => { try { return { ...store() }; } catch { return {}; } };
    const inputs = {
      search: location.search, hash: location.hash, protocol: location.protocol, hostname: location.hostname,
      edge: told ? null : edge, local: entries(() => localStorage), session: entries(() => sessionStorage),
      hidden: document.hidden, timeOrigin: performance.timeOrigin,
    };
    // What the engine says before the page's module listens; the page shows it first.
    const heard = [];
    window.mqcamHeard = heard;
    // A #stats attribute in a "view" message (its attrs: [k, v, …]).
    const said = (data, k) => {
      const attrs = data?.type === 'view' && Array.isArray(data.attrs) ? data.attrs : [];
      const i = attrs.indexOf(k);
      return i >= 0 && i % 2 === 0 ? attrs[i + 1] : undefined;
    };
    let connected = false;
    worker.onmessage = ({ data }) => {
      heard.push(data);
      if (data?.type === 'login' || data?.type === 'grid' || said(data, 'data-first-picture-ms') !== undefined) {
        loadPage();
      } else if (!connected && said(data, 'data-connected') === 'true') {
        // Connected, and no picture a moment later (a camera that sends nothing): the
        // page says so. Sooner, the page's bytes would slow the first picture's on a
        // slow link (2 Mbit/s, loaded at the connection: 656 ms instead of 606, once).
        connected = true;
        setTimeout(loadPage, 400);
      }
    };
    worker.onerror = (e) => {
      window.mqcamFailed = e.message;
      loadPage();
    };
    window.mqcamBoot.told = performance.timeOrigin + performance.now();
    worker.postMessage({ type: 'begin', canvas, inputs, boot: window.mqcamBoot }, [canvas]);
    window.mqcamBegun = true;
    // No picture yet (a camera offline, a broker away): the page says so.
    setTimeout(loadPage, 1500);
  };
})();
