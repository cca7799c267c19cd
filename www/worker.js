// Loads the viewer's engine into this dedicated worker (see wasm-viewer/src/worker.rs).
// Built into the WebAssembly module (ui.rs: include_str!) and started from a blob: URL,
// so it is not a file of the site.
// The page's first message says where its WebAssembly glue is and carries the compiled
// module (nothing is fetched or compiled twice), sent as soon as the page starts so the
// worker loads while the page is still finding the broker. The next message starts the
// engine with the canvas to draw into; any after it are for the engine.
// A "dial" message says where the broker is: the socket opens at once, its handshake
// overlapping the module's load, and goes to the engine with the start message.
const early = [];
let waiting = null; // resolves with the start message
let socket = null;
self.onmessage = async ({ data: load }) => {
  self.onmessage = ({ data }) => {
    if (data && data.type === 'dial') {
      socket = new WebSocket(data.broker, 'mqtt');
      socket.binaryType = 'arraybuffer';
    } else if (waiting) {
      waiting(data);
      waiting = null;
    } else {
      early.push(data);
    }
  };
  const glue = await import(load.glue);
  await glue.default({ module_or_path: load.module });
  const start = early.length ? early.shift() : await new Promise((resolve) => { waiting = resolve; });
  self.onmessage = ({ data }) => early.push(data); // until the engine listens
  glue.worker_main(start, early, socket);
};
