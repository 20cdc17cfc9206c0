"""The web page and the reports it compares, beside the v2 REST API on the HTTP port.

``GET /`` is the page, ``GET /static/<file>`` its files (``convzoo.base.web``); both need no
token, so a browser can load the page and then ask for one. ``GET /reports`` lists the JSON
reports of ``serve --reports DIR``, ``GET /reports/<name>`` returns one, and
``GET /reports/compare?name=A&name=B`` what the compare view draws
(``convzoo.plugins.compare_html.comparison``); these are data and need the token like the API.
Transport-free: ``WebRoutes.handle`` gives a ``WebReply`` for a path it owns and ``None`` else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from convzoo.base import web
from convzoo.plugins.compare import load
from convzoo.plugins.compare_html import comparison

# Scripts, styles and connections from this server only; pictures also from blob: (the preview).
PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = ("/", "/index.html")


@dataclass(frozen=True)
class WebReply:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: dict(PAGE_HEADERS))


def _json(value, status: int = 200) -> WebReply:
    return WebReply(status, "application/json", json.dumps(value, allow_nan=False).encode())


def _error(status: int, message: str) -> WebReply:
    return _json({"error": message}, status)


def is_public(path: str) -> bool:
    """The page and its static files: served without the bearer token."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def owns(path: str) -> bool:
    """Whether ``path`` belongs to the page rather than the v2 API."""
    return is_public(path) or path == "/reports" or path.startswith("/reports/")


class ReportsFolder:
    """The evaluation reports (``*.json``) of one folder, by file name; nothing outside it."""

    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder is not None else None

    def names(self) -> list[str]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.suffix == ".json" and p.is_file())

    def path(self, name: str) -> Path:
        """The report called ``name``; KeyError unless the folder lists it."""
        if name not in self.names():
            raise KeyError(name)
        return self.folder / name

    def listing(self) -> dict:
        """Each report's name and model, or why it cannot be compared."""
        entries = []
        for name in self.names():
            try:
                (report,) = load([self.folder / name])
                model = report["model"]
                entries.append({"name": name, "model": model.get("name") if isinstance(model, dict) else str(model)})
            except (ValueError, OSError) as exc:
                entries.append({"name": name, "error": str(exc).removeprefix(f"{self.folder / name}: ")})
        return {"folder": str(self.folder) if self.folder else None, "reports": entries}


class WebRoutes:
    """GET handlers for the page, its files and the reports."""

    def __init__(self, reports: Path | None = None):
        self.reports = ReportsFolder(reports)

    def handle(self, method: str, path: str, query: str = "") -> WebReply | None:
        if not owns(path):
            return None
        if method not in ("GET", "HEAD"):
            return _error(405, f"{method} is not allowed on {path}; use GET")
        if path in PUBLIC_PATHS:
            return self._asset("index.html")
        if path.startswith("/static/"):
            return self._asset(path.removeprefix("/static/"))
        if path == "/reports":
            return _json(self.reports.listing())
        if path == "/reports/compare":
            return self._compare(parse_qs(query).get("name", []))
        return self._report(path.removeprefix("/reports/"))

    def _asset(self, name: str) -> WebReply:
        try:
            return WebReply(200, web.content_type(name), web.asset(name))
        except KeyError:
            return _error(404, f"no such file: /static/{name}")

    def _report(self, name: str) -> WebReply:
        try:
            return WebReply(200, "application/json", self.reports.path(name).read_bytes())
        except KeyError:
            return _error(404, f"no report named {name!r} (GET /reports lists them)")

    def _compare(self, names: list[str]) -> WebReply:
        if not names:
            return _error(400, "name the reports to compare: /reports/compare?name=A.json&name=B.json")
        try:
            paths = [self.reports.path(name) for name in names]
        except KeyError as missing:
            return _error(404, f"no report named {missing.args[0]!r} (GET /reports lists them)")
        try:
            return _json(comparison(load(paths), names))
        except ValueError as exc:
            return _error(400, str(exc).removeprefix(f"{self.reports.folder}/"))
