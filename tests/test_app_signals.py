"""`privmarket app`: SIGTERM / SIGINT reach the solara server, which exits and frees its port."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("solara")
START_S = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_a_signal_to_the_app_stops_its_server(sig):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "market.cli", "app", "quickstart", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_S
        while not _listening(port):
            assert proc.poll() is None, "privmarket app exited early"
            assert time.monotonic() < deadline, "the server did not listen in time"
            time.sleep(0.2)
        children = _children(proc.pid)
        assert children, "solara runs as a child process"
        proc.send_signal(sig)                       # to privmarket only, not to its process group
        assert proc.wait(timeout=30) == 0
        for child in children:
            assert not _alive(child), f"server process {child} still running"
        assert not _listening(port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
