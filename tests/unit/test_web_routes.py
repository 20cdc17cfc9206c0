"""The page's routes, in-process: the page and its files, the reports folder, and refusals."""

from __future__ import annotations

import json

from convzoo.base import web
from convzoo.server.http.web import WebRoutes, is_public, owns


def test_the_page_and_its_files_are_public_and_carry_a_content_security_policy():
    routes = WebRoutes()
    page = routes.handle("GET", "/")
    assert page.status == 200 and page.content_type.startswith("text/html")
    assert b'src="static/app.js"' in page.body and "default-src 'self'" in page.headers["content-security-policy"]
    chart = routes.handle("GET", "/static/vendor/chart.umd.min.js")
    assert chart.status == 200 and chart.content_type.startswith("text/javascript")
    assert b"Released under the MIT License" in chart.body
    assert routes.handle("GET", "/static/vendor/chart.js-LICENSE.md").status == 200  # the licence ships with it
    assert is_public("/") and is_public("/static/app.js") and not is_public("/reports") and not is_public("/v2")
    assert not owns("/v2/models/x/infer") and routes.handle("GET", "/v2/health/ready") is None


def test_nothing_outside_the_static_files_is_served():
    routes = WebRoutes()
    for path in ("/static/../__init__.py", "/static/__init__.py", "/static/", "/static/vendor", "/static/missing.js"):
        reply = routes.handle("GET", path)
        assert reply.status == 404 and "no such file" in json.loads(reply.body)["error"], path
    assert routes.handle("POST", "/").status == 405
    assert set(web.CONTENT_TYPES) >= {".html", ".js", ".css"}


def test_reports_are_listed_compared_and_refused_by_name(tmp_path):
    good = {"model": {"name": "resnet18", "card": {"macs": 2_000_000_000}}, "metrics": {"top1": 50.0}}
    (tmp_path / "a.json").write_text(json.dumps(good))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "notes.txt").write_text("not a report")
    (tmp_path.parent / "outside.json").write_text(json.dumps(good))
    routes = WebRoutes(tmp_path)

    listing = json.loads(routes.handle("GET", "/reports").body)
    assert [r["name"] for r in listing["reports"]] == ["a.json", "broken.json"]
    assert listing["reports"][0]["model"] == "resnet18" and "not a JSON report" in listing["reports"][1]["error"]

    compared = json.loads(routes.handle("GET", "/reports/compare", "name=a.json").body)
    assert compared["models"][0]["name"] == "resnet18" and compared["models"][0]["gmacs"] == 2.0
    assert json.loads(routes.handle("GET", "/reports/a.json").body) == good

    for path, query, status in [
        ("/reports/compare", "", 400),
        ("/reports/compare", "name=broken.json", 400),
        ("/reports/compare", "name=../outside.json", 404),
        ("/reports/../outside.json", "", 404),
        ("/reports/notes.txt", "", 404),
    ]:
        reply = routes.handle("GET", path, query)
        assert reply.status == status and json.loads(reply.body)["error"], (path, query)


def test_without_a_reports_folder_the_listing_is_empty():
    assert json.loads(WebRoutes().handle("GET", "/reports").body) == {"folder": None, "reports": []}


def test_serve_refuses_a_reports_folder_it_cannot_show(tmp_path, cli):
    (tmp_path / "repo").mkdir()
    code, _, err = cli("serve", "--repository", tmp_path / "repo", "--reports", tmp_path / "missing")
    assert code == 1 and "--reports" in err and "not a folder" in err and len(err.splitlines()) == 1
    code, _, err = cli("serve", "--repository", tmp_path / "repo", "--reports", tmp_path, "--http-port", "-1")
    assert code == 1 and "drop --http-port -1" in err and len(err.splitlines()) == 1
