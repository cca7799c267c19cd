#!/usr/bin/env python3
"""The seed pipeline this project grew out of (paho-mqtt + OpenCV, QoS 0, binary JPEG
payloads, one process per side), made measurable for ../bench.sh.

A moving test pattern stands in for the camera; each payload is an 8-byte capture time
(µs since the epoch, little-endian) followed by the JPEG. The subscriber decodes every
frame, as the seed does before showing it, and prints one JSON line at the end:
frames, fps, latency_ms_p50/p95/p99. The publisher prints frames and fps.

  seed_pipeline.py pub --port 1883 --topic t --seconds 10 --size 640x480 --fps 30 --quality 75
  seed_pipeline.py sub --port 1883 --topic t --seconds 12

Needs: paho-mqtt, opencv-python-headless, numpy (bench.sh installs them in a venv).
"""
import argparse
import json
import struct
import time

import cv2
import numpy as np
import paho.mqtt.client as mqtt

STAMP = struct.Struct("<Q")


def client(args) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.connect(args.host, args.port, keepalive=30)
    c.loop_start()
    return c


def pub(args) -> dict:
    w, h = (int(v) for v in args.size.split("x"))
    ramp = np.tile(np.linspace(0, 255, w, dtype=np.uint8), (h, 1))
    c = client(args)
    sent, start = 0, time.monotonic()
    interval = 1.0 / args.fps if args.fps else 0.0
    while time.monotonic() - start < args.seconds:
        shift = (sent * 4) % w
        img = cv2.merge([np.roll(ramp, shift, axis=1), ramp, np.roll(ramp, -shift, axis=1)])
        captured = time.time_ns() // 1000
        ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, args.quality])
        if ok:
            c.publish(args.topic, STAMP.pack(captured) + jpeg.tobytes(), qos=0)
            sent += 1
        if interval:
            time.sleep(max(0.0, start + sent * interval - time.monotonic()))
    elapsed = time.monotonic() - start
    c.loop_stop()
    return {"frames": sent, "fps": sent / elapsed}


def sub(args) -> dict:
    latencies, first, last = [], None, None

    def on_message(_c, _u, msg):
        nonlocal first, last
        (captured,) = STAMP.unpack_from(msg.payload)
        img = cv2.imdecode(np.frombuffer(msg.payload, np.uint8, offset=STAMP.size), cv2.IMREAD_COLOR)
        if img is None:
            return
        now = time.time_ns() // 1000
        latencies.append((now - captured) / 1000.0)
        first = first or time.monotonic()
        last = time.monotonic()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_message = on_message
    c.on_connect = lambda cl, *_: cl.subscribe(args.topic, qos=0)
    c.connect(args.host, args.port, keepalive=30)
    c.loop_start()
    time.sleep(args.seconds)
    c.loop_stop()
    ordered = sorted(latencies)

    def pct(p):
        return ordered[min(len(ordered) - 1, max(0, int(np.ceil(p / 100 * len(ordered))) - 1))] if ordered else None

    span = (last - first) if first and last and last > first else None
    return {
        "frames": len(latencies),
        "fps": (len(latencies) - 1) / span if span else 0.0,
        "latency_ms_p50": pct(50),
        "latency_ms_p95": pct(95),
        "latency_ms_p99": pct(99),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("role", choices=["pub", "sub"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--topic", default="bench/seed")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--size", default="640x480")
    p.add_argument("--fps", type=float, default=30)
    p.add_argument("--quality", type=int, default=75)
    args = p.parse_args()
    print(json.dumps(pub(args) if args.role == "pub" else sub(args)), flush=True)


if __name__ == "__main__":
    main()
