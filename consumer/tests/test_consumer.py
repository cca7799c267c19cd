"""Unit tests of the reference consumer's I/O-free parts: python -m unittest (in consumer/)."""
import struct
import unittest

import cv2
import numpy as np

from mqcam_detect import stamp
from mqcam_detect.alarm import Alarm
from mqcam_detect.detectors import bright


def stamped(jpeg: bytes, sequence=7, capture_us=1_764_460_000_000_000) -> bytes:
    fields = struct.pack("<QQQIIQ", sequence, capture_us, capture_us + 5000, 64, 48, 0)
    segment = b"MQCF" + bytes([2, 0]) + fields
    return b"\xff\xd8\xff\xe9" + struct.pack(">H", len(segment) + 2) + segment + jpeg[2:]


class StampTest(unittest.TestCase):
    def setUp(self):
        image = np.zeros((48, 64, 3), np.uint8)
        self.jpeg = cv2.imencode(".jpg", image)[1].tobytes()

    def test_a_stamped_frame_is_a_jpeg_and_its_stamp_reads(self):
        payload = stamped(self.jpeg)
        st, jpeg = stamp.parse(payload)
        self.assertEqual((st.sequence, st.width, st.height), (7, 64, 48))
        self.assertIs(jpeg, payload)
        self.assertEqual(cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR).shape, (48, 64, 3))

    def test_a_version_1_payload_reads(self):
        header = b"MQCF" + bytes([1, 0]) + struct.pack("<H", 48) + struct.pack("<QQQIIQ", 3, 10, 11, 64, 48, 12)
        st, jpeg = stamp.parse(header + self.jpeg)
        self.assertEqual((st.sequence, st.published_us, jpeg), (3, 12, self.jpeg))

    def test_a_plain_jpeg_has_no_stamp_and_garbage_is_refused(self):
        self.assertEqual(stamp.parse(self.jpeg)[0], None)
        with self.assertRaises(ValueError):
            stamp.parse(b"GIF89a")


class AlarmTest(unittest.TestCase):
    def test_up_at_once_down_after_the_hold_no_flapping(self):
        a = Alarm(hold_s=3)
        self.assertEqual(a.update(True, 0.0), True)
        self.assertEqual(a.update(False, 1.0), None, "a missed frame does not clear it")
        self.assertEqual(a.update(True, 2.0), None)
        self.assertEqual(a.update(False, 4.9), None)
        self.assertEqual(a.update(False, 5.0), False, "3 s after the last sighting")
        self.assertEqual(a.update(False, 9.0), None)


class ZoneTest(unittest.TestCase):
    def test_a_box_touching_the_zone_counts(self):
        from mqcam_detect.__main__ import touches
        zone = (0.0, 0.0, 0.3, 1.0)
        self.assertTrue(touches((0.25, 0.3, 0.1, 0.1), zone))
        self.assertFalse(touches((0.35, 0.3, 0.1, 0.1), zone))


class BrightTest(unittest.TestCase):
    def test_the_white_square_is_found_where_it_is(self):
        image = np.full((180, 320, 3), 90, np.uint8)
        image[60:90, 100:130] = 255
        found = bright()(image)
        self.assertEqual(len(found), 1)
        label, score, (x, y, w, h) = found[0]
        self.assertEqual(label, "bright")
        self.assertAlmostEqual(x, 100 / 320, places=2)
        self.assertAlmostEqual(y, 60 / 180, places=2)
        self.assertAlmostEqual(w, 30 / 320, places=2)


if __name__ == "__main__":
    unittest.main()
