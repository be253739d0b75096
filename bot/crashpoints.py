"""Named points where a test kills the process the way a power cut would (SIGKILL, no cleanup).

`GONGZHI_CRASH_AT=<point>:<marker file>`: the first time the process reaches `<point>`, it creates
the marker and kills itself; once the marker exists the point is passed (the restarted process
runs on). Unset, `reach` is one dictionary lookup.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

_SPEC = os.environ.get("GONGZHI_CRASH_AT", "")
POINTS = ("inbox.stored", "update.handled", "update.committed", "webhook.stored")


def reach(point: str) -> None:
    if not _SPEC:
        return
    name, _, marker = _SPEC.partition(":")
    if name == point and marker and not Path(marker).exists():
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
