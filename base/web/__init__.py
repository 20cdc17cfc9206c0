"""The web page's static files: HTML, CSS, JavaScript and the vendored chart library.

Plain files with no build step. They live in ``base`` because two rooms use them: the server
serves the page (``convzoo.server.http.web``) and ``convzoo compare --html`` inlines the compare
view into one self-contained file (``convzoo.plugins.compare_html``).
"""

from __future__ import annotations

from importlib import resources

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}


def asset(name: str) -> bytes:
    """The bytes of one static file (``app.js``, ``vendor/chart.umd.min.js``); KeyError if none."""
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") for part in parts) or name.endswith(".py"):
        raise KeyError(name)
    node = resources.files(__name__).joinpath(*parts)
    if not node.is_file():
        raise KeyError(name)
    return node.read_bytes()


def content_type(name: str) -> str:
    """The Content-Type to serve ``name`` with."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    return CONTENT_TYPES.get(suffix, "application/octet-stream")
