"""The HTML report opened in real headless Chromium: no errors, nothing fetched, every plot drawn, dataset markup
shown as text. Needs `pip install playwright` and `apt-get install -y chromium` (no `playwright install`).

Outside CI the test skips when either is missing; in CI (CI=true) it must run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentfab.inspect import write_report
from fixtures import small_builds
from fixtures.small_builds import XSS

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
SHAPES = "rect,line,path,circle,polygon,polyline"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        if not _in_ci():
            pytest.skip(f"playwright is not installed ({exc}); `pip install playwright` to run this test")
        raise
    if not CHROMIUM.exists():
        if not _in_ci():
            pytest.skip(f"{CHROMIUM} is missing; `apt-get install -y chromium` to run this test")
        pytest.fail(f"CI needs {CHROMIUM}: add `apt-get install -y chromium` to the CI image")
    return sync_playwright


def _poisoned_build(out: Path) -> Path:
    """A small real build whose first shards carry a script tag in a request, a user turn and a tool name."""
    small_builds.make_build(out, {"name": "browser", "seed": 5, "records": 200, "shard_size": 100,
                                  "worlds": ["bank", "library"], "negatives": 0.2})
    return small_builds.poison_first_shards(out, results_too=False)


def test_the_report_renders_in_chromium_offline_without_errors(tmp_path):
    sync_playwright = _sync_playwright()
    report = write_report(_poisoned_build(tmp_path / "build"), tmp_path / "report.html")
    screenshot = tmp_path / "report.png"
    console, page_errors, dialogs, requests = [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.resolve().as_uri(), wait_until="load")

            plots = page.locator(".plot")
            assert plots.count() >= 9
            for i in range(plots.count()):
                plot = plots.nth(i)
                plot.scroll_into_view_if_needed()
                assert plot.is_visible(), f"plot {i} is hidden"
                box = plot.bounding_box()
                assert box and box["width"] > 0 and box["height"] > 0, f"plot {i} has no size"
                drawn = plot.evaluate(
                    "(el, sel) => [...el.querySelectorAll('svg')].flatMap(s => [...s.querySelectorAll(sel)])"
                    ".filter(n => { const b = n.getBBox(); return b.width > 0 || b.height > 0; }).length", SHAPES)
                assert drawn > 0, f"plot {i} draws no SVG shape"
                assert plot.locator("svg title").count() >= 1 and plot.locator("figcaption").inner_text().strip()

            assert page.locator("script").count() == 0
            shown = page.locator("pre", has_text=XSS).first
            shown.scroll_into_view_if_needed()
            assert shown.is_visible()
            label = page.locator(".plot svg text", has_text="alert(1)").first  # labels may be clipped with "…"
            assert "<script>alert(1)" in label.text_content() and label.is_visible()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    print(f"report screenshot: {screenshot}")
    assert not [m for m in console if m[0] == "error"], console
    assert not page_errors, page_errors
    assert not dialogs, dialogs
    assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests
    assert screenshot.stat().st_size > 10_000
