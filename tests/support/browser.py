"""A real headless Chromium (Debian's `chromium`, driven by Playwright; never a downloaded browser) that opens a
local HTML file with the network blocked: every request other than the file itself is refused and recorded, and
every console message and page error is kept, so a test sees whether a page is really self-contained.

Without /usr/bin/chromium (or Playwright) a browser test fails with one line saying how to get it
(`.ci/browser`) or how to run without the browser tests (`-m "not browser"`); it is never skipped silently.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAPTOP = {"width": 1366, "height": 768}
MISSING = ("{what} is not installed: run .ci/browser (as root it installs Debian's chromium), or run the other "
           "tests with: python -m pytest -m 'not browser'")


@dataclass
class Visit:
    """An opened page, and what it tried to do: requests leaving the file, console messages, page errors."""

    page: object  # playwright's Page
    url: str
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (type, text)
    errors: list[str] = field(default_factory=list)

    def console_errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"] + self.errors

    def problems(self) -> list[str]:
        """What makes the page not self-contained or broken: requests that left the file, console errors."""
        return ([f"request left the file: {url}" for url in self.requests]
                + [f"console error: {text}" for text in self.console_errors()])

    def charts(self) -> dict[str, dict]:
        """Every `figure[data-chart]`'s SVG as drawn: its axis labels, and per series the number of its shapes
        with a non-empty drawn box (getBBox), by series name."""
        return self.page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('figure[data-chart]')]
            .map(figure => [figure.dataset.chart, {
                axes: Object.fromEntries([...figure.querySelectorAll('[data-axis]')]
                    .map(text => [text.dataset.axis, text.textContent])),
                series: Object.fromEntries([...figure.querySelectorAll('g[data-series]')]
                    .map(g => [g.dataset.series, [...g.querySelectorAll('path, rect, circle')]
                        .filter(shape => { const box = shape.getBBox(); return box.width > 0 || box.height > 0; })
                        .length]))}]))""")

    def cells(self, selector: str) -> list[dict]:
        """Each element matching `selector`: its data- attributes and its text as shown."""
        return self.page.evaluate(
            "selector => [...document.querySelectorAll(selector)].map(e => ({...e.dataset, text: e.innerText}))",
            selector)


def _playwright():
    if not CHROMIUM.exists():
        pytest.fail(MISSING.format(what=f"Chromium ({CHROMIUM})"), pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(MISSING.format(what="Playwright (the 'test' extra)"), pytrace=False)
    return sync_playwright


@contextmanager
def opened(path: Path) -> Iterator[Visit]:
    """`path` opened in headless Chromium at a laptop's size (1366 x 768), the network blocked, after it loaded."""
    sync_playwright = _playwright()
    url = path.resolve().as_uri()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = browser.new_context(viewport=LAPTOP, service_workers="block")
            page = context.new_page()
            visit = Visit(page, url)

            def route(request_route):
                if request_route.request.url == url:
                    request_route.continue_()
                else:
                    visit.requests.append(request_route.request.url)
                    request_route.abort()

            page.route("**/*", route)
            page.on("console", lambda message: visit.console.append((message.type, message.text)))
            page.on("pageerror", lambda error: visit.errors.append(str(error)))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")
            yield visit
        finally:
            browser.close()


def chart_problems(charts: dict[str, dict], expected: dict[str, list[str]]) -> list[str]:
    """Every expected chart is there, with its x and y axis labels and exactly the expected series, each drawn."""
    problems = []
    for name, series in expected.items():
        chart = charts.get(name)
        if chart is None:
            problems.append(f"chart {name}: missing")
            continue
        problems += [f"chart {name}: no {axis} axis label" for axis in ("x", "y") if not chart["axes"].get(axis)]
        if sorted(chart["series"]) != sorted(series):
            problems.append(f"chart {name}: series {sorted(chart['series'])}, expected {sorted(series)}")
        problems += [f"chart {name}: series {s} draws nothing" for s, shapes in chart["series"].items() if not shapes]
    return problems


def screenshot(path: Path, image: Path) -> None:
    """A full-page PNG of `path` as a laptop shows it (for a person to look at; not used by the tests)."""
    with opened(path) as visit:
        visit.page.screenshot(path=str(image), full_page=True)
