"""`gongzhi run --webhook --workers N`: N worker processes behind one port, on one machine.

Each worker is a plain `gongzhi run --webhook --reuse-port`; the kernel spreads Telegram's
connections over them (SO_REUSEPORT). They share the work through PostgreSQL (`bot.leader`,
`bot.inbox.claim`). This supervisor only starts them, starts again one that dies, and passes a
SIGTERM/SIGINT on to all. On several machines, run one worker per process manager unit instead
(the README's `gongzhi@.service`).
"""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger(__name__)

RESTART_AFTER = 1.0  # seconds: a worker that keeps dying must not spin the machine
STOP_GRACE = 30.0


def _start(index: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--webhook", "--reuse-port"])
    log.info("worker %d started (pid %d)", index, proc.pid)
    return proc


def supervise(count: int) -> int:
    stopping, code = False, 0

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs = [_start(i) for i in range(count)]
    try:
        while not stopping:
            time.sleep(0.2)
            for i, proc in enumerate(procs):
                if proc.poll() is not None and not stopping:
                    if proc.returncode == 2:  # a configuration error: every worker would fail alike
                        stopping, code = True, 2
                        break
                    log.warning("worker %d (pid %d) exited with %s; starting it again", i, proc.pid, proc.returncode)
                    time.sleep(RESTART_AFTER)
                    procs[i] = _start(i)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
