"""When a camera's alarm goes up and comes down: up as soon as something is seen, down
only after nothing has been seen for ``hold_s`` (a person who stands still for a frame
or two, or a detector that misses one, must not make it flap)."""
from typing import Optional


class Alarm:
    def __init__(self, hold_s: float):
        self.hold_s = hold_s
        self.active = False
        self.last_seen: Optional[float] = None

    def update(self, seen: bool, now: float) -> Optional[bool]:
        """Feeds one frame's result; returns True to raise, False to clear, None: no change."""
        if seen:
            self.last_seen = now
            if not self.active:
                self.active = True
                return True
            return None
        if self.active and self.last_seen is not None and now - self.last_seen >= self.hold_s:
            self.active = False
            return False
        return None
