// Loads the viewer's engine into this dedicated worker (see wasm-viewer/src/worker.rs).
// The page's first message says where its WebAssembly glue is and carries the compiled
// module, so nothing is fetched or compiled twice, and the canvas to draw into.
const early = [];
self.onmessage = async ({ data }) => {
  self.onmessage = (e) => early.push(e.data); // until the engine listens
  const glue = await import(data.glue);
  await glue.default({ module_or_path: data.module });
  glue.worker_main(data, early);
};
