"""A ``convzoo serve`` subprocess for the cases: free ports, ready when it says so, its RSS."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path


class ServerProcess:
    """Start ``convzoo serve --repository REPOSITORY ARGS...`` on a free port and wait until ready."""

    def __init__(self, repository: Path, *args: str, timeout: float = 600) -> None:
        command = [
            sys.executable,
            "-m",
            "convzoo.cli.commands",
            "serve",
            "--repository",
            str(repository),
            "--port",
            "0",
            "--metrics-port",
            "-1",
            "--http-port",
            "0",
            *args,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self.port = 0
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(timeout) or not self.port or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("convzoo serve did not become ready:\n" + "\n".join(self.log[-20:]))

    def _read(self) -> None:
        for line in self.process.stderr:
            self.log.append(line.rstrip("\n"))
            if match := re.search(r"gRPC listening on [\d.]+:(\d+)", line):
                self.port = int(match.group(1))
            if "server ready on" in line:
                self._ready.set()
        self._ready.set()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        """The server's resident set size now (Linux ``/proc``)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise OSError("no VmRSS in /proc status")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (the server drains), then kill if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
