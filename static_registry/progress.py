"""Progress of long transfers, on stderr.

In the runner's log (not a TTY) a line is printed every ``interval`` seconds or every
``step`` percent, whichever comes first: ``label: 42% (430.1/1024.0 MiB), 85.2 MiB/s, ETA 7s``.
On a terminal a single line is redrawn with ``\\r``. The object is a callable that takes a
number of bytes just transferred, so it can be handed to boto3 (which calls it from several
threads at once: updates are serialised by a lock) or called by a reader wrapper.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

MIB = 1024 * 1024


def format_duration(seconds: float) -> str:
    """``7s``, ``2m05s``, ``1h02m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Progress:
    """Counts bytes of one transfer and reports them at a bounded rate."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        interactive: bool = False,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 10.0,
        step: int = 10,
        bar_width: int = 30,
        tty_interval: float = 0.2,
    ) -> None:
        self.label = label
        self.total = max(0, total)
        self.interactive = interactive
        self.stream = stream
        self.clock = clock
        self.interval = interval
        self.step = step
        self.bar_width = bar_width
        self.tty_interval = tty_interval
        self.done = 0
        self.started = clock()
        self._last_time = self.started
        self._last_percent = 0
        self._finished = False
        self._lock = threading.Lock()

    # -- input ---------------------------------------------------------------------------

    def __call__(self, amount: int) -> None:
        """Add ``amount`` bytes (boto3's ``Callback`` signature)."""
        self.advance(amount)

    def advance(self, amount: int) -> None:
        with self._lock:
            self.done = min(self.total, max(0, self.done + amount)) if self.total else 0
            self._maybe_report()

    def update(self, done: int) -> None:
        """Set the absolute number of bytes transferred (never goes backwards)."""
        with self._lock:
            if done > self.done:
                self.done = min(self.total, done)
            self._maybe_report()

    def finish(self) -> None:
        """Print the final state once (a closing newline on a terminal)."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            now = self.clock()
            if self.interactive:
                self._write("\r" + self.bar(now) + "\n")
            else:
                self._write(self.line(now, final=True) + "\n")

    # -- formatting ----------------------------------------------------------------------

    def percent(self) -> int:
        if not self.total:
            return 100
        return int(self.done * 100 // self.total)

    def rate(self, now: float) -> float:
        """Bytes per second since the start."""
        elapsed = now - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self, now: float) -> str:
        rate = self.rate(now)
        if self.done >= self.total:
            return "0s"
        if rate <= 0:
            return "?"
        return format_duration((self.total - self.done) / rate)

    def line(self, now: float, *, final: bool = False) -> str:
        """One log line: ``label: 42% (430.1/1024.0 MiB), 85.2 MiB/s, ETA 7s``."""
        head = (
            f"{self.label}: {self.percent()}% "
            f"({self.done / MIB:.1f}/{self.total / MIB:.1f} MiB), "
            f"{self.rate(now) / MIB:.1f} MiB/s"
        )
        if final:
            return f"{head}, {format_duration(now - self.started)} in all"
        return f"{head}, ETA {self.eta(now)}"

    def bar(self, now: float) -> str:
        """The single terminal line: ``label [#####.....]  42%  85.2 MiB/s  ETA 7s``."""
        filled = self.bar_width * self.percent() // 100
        return (
            f"{self.label} [{'#' * filled}{'.' * (self.bar_width - filled)}] "
            f"{self.percent():3d}% {self.rate(now) / MIB:7.1f} MiB/s  ETA {self.eta(now):<7}"
        )

    # -- output --------------------------------------------------------------------------

    def _maybe_report(self) -> None:
        if self._finished:
            return
        now = self.clock()
        if self.interactive:
            if now - self._last_time >= self.tty_interval:
                self._last_time = now
                self._write("\r" + self.bar(now))
            return
        percent = self.percent()
        if self.done >= self.total:
            return  # ``finish`` prints the last line
        next_step = (self._last_percent // self.step + 1) * self.step
        if now - self._last_time >= self.interval or percent >= next_step:
            self._last_time = now
            self._last_percent = percent
            self._write(self.line(now) + "\n")

    def _write(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stderr
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stderr must not fail an upload
