"""The Prometheus endpoint (``--metrics-port``, ``/metrics``): Triton's counters under Triton's
exact names, then the gauges and latency histograms of the statistics' collector."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from convzoo.server.statistics import Statistics


class MetricsServer:
    """Serves ``/metrics`` on a thread; ``port`` is the bound one (useful with 0)."""

    def __init__(self, statistics: Statistics, host: str, port: int):
        registry = CollectorRegistry()
        registry.register(statistics)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's spelling)
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404, "metrics are at /metrics")
                    return
                body = statistics.triton_counters_text().encode() + generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args) -> None:  # noqa: A002 (scrapes are not worth a log line)
                pass

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise OSError(f"cannot bind metrics to {host}:{port} ({exc.strerror})") from None
        self._server.daemon_threads = True
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
