"""mqcam-detect: runs a detector on a camera's frames from the MQTT bus and publishes what
it finds (``<prefix>/<camera>/detections``) and the camera's alarm (``.../alarm``).

It always works on the newest frame: frames that arrive while it is busy replace the
one waiting (counted as stale), so its results never fall behind the live picture.
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time
from urllib.parse import urlparse

import cv2
import numpy as np
import paho.mqtt.client as mqtt

from . import stamp
from .alarm import Alarm
from .detectors import DETECTORS


class Newest:
    """One slot: a new frame replaces the one not yet taken (which is counted)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self.stale = 0

    def put(self, item):
        with self._cond:
            if self._item is not None:
                self.stale += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout):
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item


def parse_args(argv):
    p = argparse.ArgumentParser(prog="mqcam-detect", description=__doc__.split("\n\n")[0])
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://HOST:PORT (default %(default)s)")
    p.add_argument("--login", default=os.environ.get("MQCAM_LOGIN"),
                   help="USER:PASSWORD with the right to publish (the edge's --publisher-login); "
                        "or the MQCAM_LOGIN environment variable, which keeps it out of `ps`")
    p.add_argument("--prefix", default="mqcam")
    p.add_argument("--camera", default="cam1")
    p.add_argument("--rendition", default="frame", choices=["frame", "half", "quarter"],
                   help="which stream to read: frame (full size), half or quarter")
    p.add_argument("--detector", default="people", choices=sorted(DETECTORS))
    p.add_argument("--name", help="producer name in the results (default: the detector's)")
    p.add_argument("--zone", help="X,Y,W,H in image fractions: only objects touching it raise the alarm "
                                   "(all are published)")
    p.add_argument("--hold", type=float, default=3.0, help="seconds with nothing seen before the alarm clears")
    p.add_argument("--no-alarm", action="store_true", help="publish detections only")
    p.add_argument("--every", type=float, default=5.0, help="seconds between printed rates")
    a = p.parse_args(argv)
    url = urlparse(a.broker if "://" in a.broker else "mqtt://" + a.broker)
    if url.scheme not in ("mqtt", "tcp") or not url.hostname:
        p.error(f"--broker {a.broker!r}: expected mqtt://HOST:PORT")
    a.host, a.port = url.hostname, url.port or 1883
    if a.login is not None and ":" not in a.login:
        p.error("--login wants USER:PASSWORD")
    a.name = a.name or a.detector
    if a.zone is not None:
        raw = a.zone
        try:
            a.zone = tuple(float(v) for v in raw.split(","))
            assert len(a.zone) == 4 and a.zone[2] > 0 and a.zone[3] > 0
        except (ValueError, AssertionError):
            p.error(f"--zone {raw!r}: expected X,Y,W,H in image fractions, e.g. 0,0,0.5,1")
    return a


def touches(box, zone) -> bool:
    """Whether two (x, y, w, h) boxes overlap."""
    (x, y, w, h), (zx, zy, zw, zh) = box, zone
    return x < zx + zw and zx < x + w and y < zy + zh and zy < y + h


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    detect = DETECTORS[a.detector]()
    base = f"{a.prefix}/{a.camera}"
    frames_topic, results_topic, alarm_topic = f"{base}/{a.rendition}", f"{base}/detections", f"{base}/alarm"
    newest = Newest()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"mqcam-detect-{a.camera}-{os.getpid()}")
    if a.login:
        user, password = a.login.split(":", 1)
        client.username_pw_set(user, password)
    client.reconnect_delay_set(min_delay=1, max_delay=30)

    def on_connect(c, userdata, flags, reason, props):
        if reason.is_failure:
            print(f"mqcam-detect: the broker refused the connection: {reason}", file=sys.stderr, flush=True)
            return
        c.subscribe(frames_topic, qos=0)
        print(f"mqcam-detect: connected; reading {frames_topic}", flush=True)

    def on_disconnect(c, userdata, flags, reason, props):
        print(f"mqcam-detect: disconnected ({reason}); reconnecting", file=sys.stderr, flush=True)

    def on_message(c, userdata, msg):
        newest.put((msg.payload, time.time()))

    client.on_connect, client.on_disconnect, client.on_message = on_connect, on_disconnect, on_message
    print(f"mqcam-detect: {a.detector} detector on {frames_topic} at mqtt://{a.host}:{a.port}"
          + (f" as {a.login.split(':', 1)[0]}" if a.login else ""), flush=True)
    client.connect_async(a.host, a.port, keepalive=30)
    client.loop_start()

    alarm = Alarm(a.hold)
    done, bad, lags, last_print = 0, 0, [], time.monotonic()
    try:
        while True:
            item = newest.take(timeout=1.0)
            now = time.time()
            if item is not None:
                payload, arrived = item
                try:
                    st, jpeg = stamp.parse(payload)
                    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                    if st is None or image is None:
                        raise ValueError("not a stamped JPEG")
                except ValueError:
                    bad += 1
                    continue
                found = detect(image)
                result = {
                    "sequence": st.sequence,
                    "capture_us": st.capture_us,
                    "producer": a.name,
                    "objects": [{"label": l, "score": round(s, 3), "box": [round(v, 5) for v in b]}
                                for (l, s, b) in found],
                }
                client.publish(results_topic, json.dumps(result), qos=0)
                done += 1
                lags.append(time.time() * 1000 - st.capture_us / 1000)
                alarming = [f for f in found if a.zone is None or touches(f[2], a.zone)]
                change = None if a.no_alarm else alarm.update(bool(alarming), now)
                if change is not None:
                    labels = sorted({l for (l, _, _) in alarming}) or ["nothing"]
                    reason = f"{', '.join(labels)} seen" if change else "all clear"
                    body = {"active": change, "reason": reason, "at_us": int(now * 1e6), "source": a.name}
                    client.publish(alarm_topic, json.dumps(body), qos=1, retain=True)
                    print(f"mqcam-detect: alarm {'raised' if change else 'cleared'}: {reason}", flush=True)
            elif not a.no_alarm:
                # No frames (camera idle or gone): the alarm still clears after the hold.
                change = alarm.update(False, now)
                if change is False:
                    body = {"active": False, "reason": "all clear", "at_us": int(now * 1e6), "source": a.name}
                    client.publish(alarm_topic, json.dumps(body), qos=1, retain=True)
                    print("mqcam-detect: alarm cleared: all clear", flush=True)
            if time.monotonic() - last_print >= a.every:
                span = time.monotonic() - last_print
                lag = f"lag p50 {statistics.median(lags):.0f} ms" if lags else "no frames"
                print(f"mqcam-detect: {done / span:.1f} fps, {lag}, {newest.stale} stale dropped, {bad} bad",
                      flush=True)
                done, lags, last_print = 0, [], time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        client.loop_stop()
        client.disconnect()


if __name__ == "__main__":
    main()
