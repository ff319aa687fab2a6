"""The `snakemake --report` page of the demo run, opened in headless Chromium like a reader would.

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package. Without them the
test is skipped, except under CI=true, where .ci/run installs them and a skip would hide a
broken report: there it fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from conftest import copy_workdir, run_snakemake

CATEGORIES = {"Data", "Cats vs dogs", "CIFAR-10", "Results"}
CONTENT_IMAGE = "div.grow.flex.items-center.justify-center img"
WAIT_SECONDS = 30


def browser_unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"{reason}: under CI=true the browser test must run, so .ci/run must install it"
        )
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_paths() -> tuple[str, str]:
    """Chromium's and chromedriver's paths. Session-scoped and named before `demo_run`, so a
    missing browser skips (or fails) the test without waiting for the demo workflow."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        browser_unavailable("selenium is not installed (pip install -e '.[test]')")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        browser_unavailable(
            "Chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
        )
    return browser, driver


@pytest.fixture
def chromium(browser_paths, tmp_path):
    """A headless Chromium driven through Debian's chromedriver, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    browser, driver = browser_paths
    options = Options()
    options.binary_location = browser
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1600,1000",
        f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-profile-', dir=tmp_path)}",
    ):
        options.add_argument(flag)
    # An explicit driver path: Selenium then never tries to download one.
    session = webdriver.Chrome(options=options, service=Service(driver))
    yield session
    session.quit()


def click(chromium, find) -> None:
    """Click the element `find(chromium)` returns, as a reader would.

    The report is a React page that re-renders after every click, and on a loaded machine a
    button can still be moving when Chromium checks what lies under its centre: the click is
    then refused ("element click intercepted", nothing is dispatched) or the element is gone
    ("stale"). So find it afresh and click again until the page has settled.
    """
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    def clicked(page) -> bool:
        find(page).click()
        return True

    WebDriverWait(
        chromium,
        WAIT_SECONDS,
        ignored_exceptions=(ElementClickInterceptedException, StaleElementReferenceException),
    ).until(clicked)


def show_each_result(chromium, category: str, subcategory: str, subcategory_count: int):
    """Open a category (and subcategory) from the menu, then click every result's view button
    that opens in the page; yield after each click, so the caller can look at what it shows."""
    from selenium.webdriver.common.by import By

    def menu_entry(label: str):
        return lambda page: page.find_element(By.XPATH, f"//nav//a[normalize-space()='{label}']")

    click(
        chromium, lambda page: page.find_element(By.CSS_SELECTOR, "nav ol li:first-child a")
    )  # home
    click(chromium, menu_entry(category))
    if subcategory_count > 1:
        click(chromium, menu_entry(subcategory))
    view_buttons = "nav table a[iconname='eye']"
    # Images and HTML open in the page (href "#"); other files are downloads. Read in one
    # script, so no button can go stale between finding it and reading its link.
    opens_in_page = chromium.execute_script(
        f'return Array.from(document.querySelectorAll("{view_buttons}"))'
        ".map(button => button.getAttribute('href').endsWith('#'))"
    )
    assert opens_in_page, f"no results listed under {category} / {subcategory}"
    for index, in_page in enumerate(opens_in_page):
        if in_page:
            # Found afresh each time: showing a result re-renders the page.
            click(
                chromium,
                lambda page, index=index: page.find_elements(By.CSS_SELECTOR, view_buttons)[index],
            )
            yield


def shown_figure(chromium) -> str | None:
    """The results path of the image the page shows, once it has loaded; None if not an image."""
    from selenium.webdriver.support.ui import WebDriverWait

    if not chromium.execute_script(f"return document.querySelector('{CONTENT_IMAGE}') !== null"):
        return None
    WebDriverWait(chromium, WAIT_SECONDS).until(
        lambda page: page.execute_script(
            f"return document.querySelector('{CONTENT_IMAGE}').complete"
        )
    )
    width = chromium.execute_script(
        f"return document.querySelector('{CONTENT_IMAGE}').naturalWidth"
    )
    assert width > 0, "a figure in the report did not load (broken image)"
    return chromium.execute_script(
        f"const source = document.querySelector('{CONTENT_IMAGE}').src;"
        "return Object.keys(results).find(path => results[path].data_uri === source) || null"
    )


@pytest.mark.workflow
@pytest.mark.browser
def test_the_report_shows_every_figure_in_chromium(browser_paths, demo_run, tmp_path, chromium):
    workdir = copy_workdir(demo_run, tmp_path / "run")
    report = tmp_path / "report.html"
    run_snakemake(workdir, "--report", str(report))
    figures = {str(path.relative_to(workdir)) for path in (workdir / "results").rglob("*.png")}
    assert figures, "the demo run drew no figure"

    chromium.get(report.as_uri())
    image_results = set(
        chromium.execute_script(
            "return Object.keys(results).filter(path => results[path].mime_type.startsWith('image/'))"
        )
    )
    assert image_results == figures  # every figure is in the report, and nothing else
    layout = chromium.execute_script(
        "return Object.fromEntries(Object.entries(categories).map("
        "([name, subcategories]) => [name, Object.keys(subcategories)]))"
    )
    assert CATEGORIES <= set(layout)
    # The results' first view is a picture: the report lists subcategories alphabetically.
    assert sorted(layout["Results"], key=str.casefold)[0] == "At a glance"

    seen = set()
    screenshot = tmp_path / "report-figure.png"
    overview_screenshot = tmp_path / "report-overview.png"
    for category, subcategories in layout.items():
        for subcategory in subcategories:
            for _ in show_each_result(chromium, category, subcategory, len(subcategories)):
                figure = shown_figure(chromium)
                if figure is None:
                    continue
                seen.add(figure)
                if figure.endswith("grid_comparison.png") and not screenshot.exists():
                    chromium.save_screenshot(str(screenshot))
                if figure.endswith("overview.png") and not overview_screenshot.exists():
                    chromium.save_screenshot(str(overview_screenshot))
    broken = chromium.execute_script(
        "return Array.from(document.images).filter(image => !(image.naturalWidth > 0)).length"
    )

    assert seen == figures  # every figure was opened from the menu, and loaded
    assert broken == 0
    assert screenshot.stat().st_size > 0
    assert {"results/figures/catsdogs/overview.png", "results/figures/cifar10/overview.png"} <= seen
    assert overview_screenshot.stat().st_size > 0
