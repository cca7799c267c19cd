// A network link of our own, between the browser and the broker: a TCP relay that
// passes bytes at a set rate each way and delivers them a set time later, queueing what
// comes faster (as the buffer in front of a real bottleneck does: a phone's cellular
// link queues deeply). Why not only Chromium's emulation: it throttles a WebSocket by
// its reads, not by its bytes, so what a socket gets depends on its messages' sizes
// (measured: "100 Mbit/s" carried ~7 Mbit/s of 34 KB frames and ~80 of 190 KB frames
// in the same minute; "20 Mbit/s" ~6.8 either way). This relay is what the numbers
// labelled "relay" in BENCHMARKS.md went through.
import net from 'node:net';

/** One direction of the link: bytes leave at `kbps`, arrive `delayMs` later, in order. */
class Direction {
  constructor(out, link) {
    this.out = out;
    this.link = link;
    this.free = 0; // when the link finishes sending what it has (ms, performance.now)
    this.queue = []; // [due, piece], due ascending
    this.timer = null;
  }

  push(chunk) {
    // Pieces of 4 KB: a long frame arrives as it is sent, not all at its end.
    for (let at = 0; at < chunk.length; at += 4096) {
      const piece = chunk.subarray(at, at + 4096);
      this.free = Math.max(performance.now(), this.free) + (piece.length * 8) / this.link.kbps;
      this.queue.push([this.free + this.link.delayMs, piece]);
    }
    this.schedule();
  }

  // One timer for the head of the queue, so pieces never overtake each other.
  schedule() {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const now = performance.now();
      while (this.queue.length && this.queue[0][0] <= now + 0.5) {
        const [, piece] = this.queue.shift();
        if (!this.out.destroyed) this.out.write(piece);
      }
      this.schedule();
    }, Math.max(0, this.queue[0][0] - performance.now()));
  }
}

/**
 * Starts a relay on a loopback port to `target` ({ host, port }): `kbps` each way,
 * `delayMs` one way. Returns { port, close() }.
 */
export async function startLink(target, { kbps, delayMs }) {
  const link = { kbps, delayMs };
  const sockets = new Set();
  const server = net.createServer((client) => {
    const broker = net.connect(target.port, target.host);
    for (const s of [client, broker]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => { client.destroy(); broker.destroy(); sockets.delete(s); });
    }
    const down = new Direction(client, link);
    const up = new Direction(broker, link);
    broker.on('data', (d) => down.push(d));
    client.on('data', (d) => up.push(d));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(resolve);
    }),
  };
}
