#!/usr/bin/env python3
"""A stand-in network camera for the edge's HTTP source tests (Python 3 stdlib only).

Serves JPEG files the way IP cameras do, written independently of the edge's parser:

  /stream    MJPEG: one endless multipart/x-mixed-replace response, a part per frame
  /snapshot  the next JPEG, one per request

    python3 tests/camera_server.py --port 0 --jpegs DIR_OR_FILE [--fps 15]
        [--style crlf|nocrlf|nolength|chunked] [--user U --password P]
        [--silence-after N] [--truncate-every N] [--die-after N]

Prints "listening on PORT" once bound. Stdlib Python cannot encode JPEG, so the
pictures come from files (the tests encode them with the edge's encoder).

The styles copy what real cameras send:
  crlf      boundary=frame; each part: --frame, headers with Content-Length, the JPEG,
            CRLF (mjpg-streamer, ustreamer). Snapshots have a Content-Length.
  nocrlf    boundary=--frame (the dashes in the parameter); parts with Content-Length
            and no CRLF between the JPEG and the next --frame line (some IP cameras).
  nolength  boundary="frame" (quoted) after a preamble; parts without Content-Length.
            Snapshots have no length either: the body ends when the connection closes.
  chunked   as crlf, inside Transfer-Encoding: chunked with chunks that do not line up
            with the parts. Snapshots are chunked too.

Faults, counted in frames (stream parts and snapshots together):
  --silence-after N   after N frames, keep every connection open and send nothing
  --truncate-every N  every Nth part of a stream carries only the first half of its
                      JPEG (its Content-Length still announces the whole)
  --die-after N       after N frames, exit (connections close)
"""

import argparse
import base64
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOUNDARY_PARAM = {
    "crlf": "boundary=frame",
    "nocrlf": "boundary=--frame",
    "nolength": 'boundary="frame"',
    "chunked": "boundary=frame",
}


def load_jpegs(path):
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.lower().endswith((".jpg", ".jpeg")))
        files = [os.path.join(path, n) for n in names]
    else:
        files = [path]
    jpegs = []
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        if not data.startswith(b"\xff\xd8"):
            sys.exit(f"{f} is not a JPEG")
        jpegs.append(data)
    if not jpegs:
        sys.exit(f"{path} holds no JPEG files")
    return jpegs


class Camera:
    """What all connections share: the pictures, the options and the frame count."""

    def __init__(self, args):
        self.args = args
        self.jpegs = load_jpegs(args.jpegs)
        self.lock = threading.Lock()
        self.frames = 0
        self.silent = threading.Event()

    def next_frame(self):
        """The next picture, or None once the camera has gone silent."""
        with self.lock:
            if self.args.silence_after is not None and self.frames >= self.args.silence_after:
                self.silent.set()
                return None
            jpeg = self.jpegs[self.frames % len(self.jpegs)]
            self.frames += 1
            return jpeg

    def after_frame(self):
        if self.args.die_after is not None and self.frames >= self.args.die_after:
            sys.stdout.flush()
            os._exit(0)

    def authorized(self, header):
        if self.args.user is None:
            return True
        login = f"{self.args.user}:{self.args.password or ''}".encode()
        return header == "Basic " + base64.b64encode(login).decode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "StandInCamera/1.0"

    def log_message(self, *args):
        pass  # The tests read stdout; requests are not news.

    def do_GET(self):
        cam = self.server.camera
        if not cam.authorized(self.headers.get("Authorization")):
            body = b"login required\n"
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="camera"')
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        path = self.path.split("?")[0]
        try:
            if path == "/stream":
                self.stream(cam)
            elif path == "/snapshot":
                self.snapshot(cam)
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def hang(self, cam):
        """Silence: the connection stays open, nothing more is sent."""
        while True:
            time.sleep(1)

    def snapshot(self, cam):
        style = self.server.camera.args.style
        jpeg = cam.next_frame()
        if jpeg is None:
            self.hang(cam)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        if style == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = len(jpeg) // 2
            for piece in (jpeg[:half], jpeg[half:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif style == "nolength":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(jpeg)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)
        self.wfile.flush()
        cam.after_frame()

    def stream(self, cam):
        args = cam.args
        style = args.style
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace;" + BOUNDARY_PARAM[style])
        self.send_header("Cache-Control", "no-cache")
        if style == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True

        def send(data):
            if style == "chunked":
                # Chunks cut across part boundaries, one with an extension.
                third = max(1, len(data) // 3)
                pieces = [data[:7], data[7:third], data[third:]]
                for i, piece in enumerate(p for p in pieces if p):
                    ext = b";part=%d" % i if i == 1 else b""
                    self.wfile.write(b"%x%s\r\n%s\r\n" % (len(piece), ext, piece))
            else:
                self.wfile.write(data)
            self.wfile.flush()

        if style == "nolength":
            send(b"This is a stand-in camera; the parts follow.\r\n")
        period = 1.0 / max(args.fps, 0.1)
        part = 0
        while True:
            jpeg = cam.next_frame()
            if jpeg is None:
                self.hang(cam)
            part += 1
            data = jpeg
            if args.truncate_every and part % args.truncate_every == 0:
                data = jpeg[: len(jpeg) // 2]
            head = b"--frame\r\nContent-Type: image/jpeg\r\n"
            if style != "nolength":
                head += b"Content-Length: %d\r\n" % len(jpeg)
            head += b"X-Timestamp: %.6f\r\n\r\n" % time.time()
            tail = b"" if style == "nocrlf" else b"\r\n"
            send(head + data + tail)
            cam.after_frame()
            time.sleep(period)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--jpegs", required=True, help="a JPEG file or a directory of them")
    p.add_argument("--fps", type=float, default=15)
    p.add_argument("--style", choices=sorted(BOUNDARY_PARAM), default="crlf")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--silence-after", type=int)
    p.add_argument("--truncate-every", type=int)
    p.add_argument("--die-after", type=int)
    args = p.parse_args()

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.camera = Camera(args)
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
