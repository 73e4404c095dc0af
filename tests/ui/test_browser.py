"""The dashboard in headless Chromium on the running stack: press critical for one server and
watch its tile turn; then a screenshot of every view under tests/artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from tests.ui.conftest import API_TOKEN

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.broker, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TARGET = "ppdb001"
DANGER_OR_WORSE = ("danger", "critical", "imminent_failure")


@pytest.fixture
def page(stack: Settings) -> Iterator[playwright.Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(f"http://{stack.ui_host}:{stack.ui_port}/")
        try:
            yield page
        finally:
            browser.close()


def open_tab(page: playwright.Page, title: str) -> None:
    page.get_by_text(title, exact=True).first.click()
    page.wait_for_timeout(1500)  # the next redraw (300 ms) and the browser's layout


def tile(page: playwright.Page, server_id: str) -> playwright.Locator:
    return page.locator(f'.fc-tile[data-server="{server_id}"]')


def shoot(page: playwright.Page, index: int, title: str) -> None:
    name = re.sub(r"[^a-z]+", "-", title.lower()).strip("-")
    page.screenshot(path=str(ARTIFACTS / f"{index:02d}-{name}.png"), full_page=True)


def test_critical_turns_the_tile_red_and_every_view_renders(page: playwright.Page) -> None:
    open_tab(page, "Heatmap")
    playwright.expect(tile(page, TARGET)).to_be_visible(timeout=120_000)

    open_tab(page, "Scenarios")
    page.locator(".fc-token input").fill(API_TOKEN)
    page.locator(".fc-target select").select_option(TARGET)
    page.get_by_role("button", name="critical", exact=True).click()
    playwright.expect(page.get_by_text(f"Last command: critical to {TARGET}")).to_be_visible(
        timeout=15_000
    )

    open_tab(page, "Heatmap")
    target = tile(page, TARGET)
    playwright.expect(target).to_have_attribute(
        "data-severity", re.compile("|".join(DANGER_OR_WORSE)), timeout=60_000
    )
    assert target.get_attribute("data-severity") in DANGER_OR_WORSE

    titles = ["Overview", "Heatmap", "Top servers", "Server detail", "Alerts", "Scenarios",
              "Pipeline", "History", "Model insight", "Cost & remediation", "Guide"]
    for index, title in enumerate(titles, start=1):
        if title == "Server detail":
            open_tab(page, "Heatmap")
            tile(page, TARGET).click()  # a click on a tile opens its detail
            page.wait_for_timeout(2000)
            playwright.expect(page.get_by_text("driven by").first).to_be_visible()
        elif title == "Model insight":
            open_tab(page, title)
            page.get_by_role("button", name="Explain the latest forecast").click()
            playwright.expect(page.get_by_text("Bars: how much weight")).to_be_visible(
                timeout=90_000
            )
            page.wait_for_timeout(1000)
        else:
            open_tab(page, title)
        shoot(page, index, title)
    assert len(list(ARTIFACTS.glob("*.png"))) >= len(titles)
