from __future__ import annotations

import io
import threading

from static_registry.progress import MIB, Progress, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_format_duration() -> None:
    assert format_duration(0) == "0s"
    assert format_duration(7.4) == "7s"
    assert format_duration(125) == "2m05s"
    assert format_duration(3720) == "1h02m"


def test_log_lines_every_ten_percent_with_rate_and_eta() -> None:
    clock, out = Clock(), io.StringIO()
    p = Progress("Uploading x", 100 * MIB, stream=out, clock=clock, interval=10)
    clock.now += 1
    p(5 * MIB)  # 5 %: nothing yet
    assert out.getvalue() == ""
    clock.now += 1
    p(5 * MIB)  # 10 % after 2 s → 5 MiB/s, 90 MiB left → 18 s
    assert out.getvalue() == "Uploading x: 10% (10.0/100.0 MiB), 5.0 MiB/s, ETA 18s\n"
    clock.now += 1
    p(1 * MIB)  # 11 %: no new line
    assert out.getvalue().count("\n") == 1
    clock.now += 60
    p(0)  # 60 s passed without a step: a line anyway
    assert out.getvalue().count("\n") == 2
    assert out.getvalue().splitlines()[-1].startswith("Uploading x: 11% (11.0/100.0 MiB), 0.2 MiB/s")
    p(89 * MIB)
    p.finish()
    p.finish()  # once only
    last = out.getvalue().splitlines()[-1]
    assert last == "Uploading x: 100% (100.0/100.0 MiB), 1.6 MiB/s, 1m03s in all"


def test_tty_bar_redraws_one_line() -> None:
    clock, out = Clock(), io.StringIO()
    p = Progress("up", 10 * MIB, stream=out, clock=clock, interactive=True, bar_width=10)
    clock.now += 1
    p.update(5 * MIB)
    assert out.getvalue() == "\rup [#####.....]  50%     5.0 MiB/s  ETA 1s     "
    clock.now += 0.05
    p.update(6 * MIB)  # redraws at most every 0.2 s
    assert out.getvalue().count("\r") == 1
    clock.now += 1
    p.update(10 * MIB)
    p.finish()
    assert out.getvalue().endswith("\rup [##########] 100%     4.9 MiB/s  ETA 0s     \n")
    assert "\n" not in out.getvalue()[:-1]


def test_update_never_goes_back_and_is_clamped() -> None:
    out = io.StringIO()
    p = Progress("x", 100, stream=out, clock=Clock())
    p.update(50)
    p.update(20)
    assert p.done == 50
    p(1000)
    assert p.done == 100


def test_thread_safe_counting() -> None:
    out = io.StringIO()
    total = 8 * 1000 * 1024
    p = Progress("x", total, stream=out, interval=0.0)

    def work() -> None:
        for _ in range(1000):
            p(1024)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert p.done == total
    for line in out.getvalue().splitlines():
        assert line.startswith("x: ")
