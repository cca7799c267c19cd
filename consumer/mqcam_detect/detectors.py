"""Detectors that come inside OpenCV's package: nothing to download.

Each takes a BGR image and returns ``[(label, score, (x, y, w, h))]`` with the box in
0..1 image fractions, as mqcam's detections topic wants them.
"""
from typing import Callable, List, Tuple

import cv2
import numpy as np

Found = List[Tuple[str, float, Tuple[float, float, float, float]]]


def _fractions(boxes, width: int, height: int):
    return [(x / width, y / height, w / width, h / height) for (x, y, w, h) in boxes]


def people() -> Callable[[np.ndarray], Found]:
    """OpenCV's HOG + linear SVM people detector (Dalal & Triggs), on a picture at most
    640 wide (it is slow, and people in a camera's view are big enough there)."""
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(image: np.ndarray) -> Found:
        h, w = image.shape[:2]
        scale = min(1.0, 640.0 / w)
        small = cv2.resize(image, (int(w * scale), int(h * scale))) if scale < 1 else image
        rects, weights = hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
        sh, sw = small.shape[:2]
        return [
            ("person", float(min(1.0, max(0.0, wt / 2.0))), box)
            for box, wt in zip(_fractions(rects, sw, sh), np.ravel(weights) if len(rects) else [])
        ]

    return detect


def faces() -> Callable[[np.ndarray], Found]:
    """OpenCV's bundled Haar cascade for frontal faces."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def detect(image: np.ndarray) -> Found:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        h, w = gray.shape
        rects = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        return [("face", 1.0, box) for box in _fractions(rects, w, h)]

    return detect


def bright() -> Callable[[np.ndarray], Found]:
    """Bright, roughly square blobs covering at least 0.5 % of the picture: the test
    pattern's moving white square, or a light switched on. Deterministic, so the
    end-to-end tests use it."""

    def detect(image: np.ndarray) -> Found:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        h, w = gray.shape
        _, mask = cv2.threshold(gray, 225, 255, cv2.THRESH_BINARY)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        found = []
        for c in contours:
            x, y, bw, bh = cv2.boundingRect(c)
            fill = cv2.contourArea(c) / float(bw * bh) if bw * bh else 0.0
            if bw * bh >= 0.005 * w * h and 0.5 <= bw / bh <= 2.0 and fill >= 0.8:
                found.append(("bright", round(fill, 3), (x / w, y / h, bw / w, bh / h)))
        return found

    return detect


DETECTORS = {"people": people, "faces": faces, "bright": bright}
