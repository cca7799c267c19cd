"""mqcam's reference consumer: frames in, detections and alarms out, over MQTT.

Modules, in the order a frame meets them:
- ``stamp``: reads the frame stamp (wire format version 2, and version 1 payloads).
- ``detectors``: OpenCV detectors that ship inside the opencv package (no model download).
- ``alarm``: when to raise and clear the camera's alarm (a hold time, so it does not flap).
- ``__main__``: the MQTT client: newest frame wins, publishes results, prints its rate.
"""
