"""Headless Chromium with the network cut off, for tests that must prove a page works offline.

Chromium is told to send every request to a dead proxy and to resolve no host name, so any
fetch a page tries fails; the performance log then shows which requests it attempted, and the
browser log shows console errors. Use ``open_page`` from tests; ``screenshot`` is for eyeballing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMEDRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")

OFFLINE_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)

# For pages served on 127.0.0.1 (the Locust web UI): loopback goes direct, anything else hits the
# dead proxy, so a test still cannot reach the network.
LOOPBACK_FLAGS = tuple(
    flag for flag in OFFLINE_FLAGS if not flag.startswith(("--proxy-bypass-list", "--host-resolver-rules"))
) + ("--proxy-bypass-list=127.0.0.1",)

# URL schemes a self-contained page may load without touching the network.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "devtools:")


def _first_existing(paths: tuple[str, ...], name: str) -> str | None:
    for path in paths:
        if os.path.exists(path):
            return path
    return shutil.which(name)


def chromium_path() -> str | None:
    return _first_existing(CHROMIUM_CANDIDATES, "chromium")


def chromedriver_path() -> str | None:
    return _first_existing(CHROMEDRIVER_CANDIDATES, "chromedriver")


def require_browser() -> tuple[str, str]:
    """Skip the calling test unless Chromium, chromedriver and selenium are all present."""
    chromium, driver = chromium_path(), chromedriver_path()
    if not chromium or not driver:
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium and chromium-driver (.ci/run installs them)")
        pytest.skip("chromium/chromedriver not installed")
    pytest.importorskip("selenium")
    return chromium, driver


class Page:
    """A loaded page plus what the browser logged while loading it."""

    def __init__(self, driver) -> None:
        self.driver = driver

    def console_errors(self) -> list[dict]:
        """Browser-log entries at SEVERE level (uncaught exceptions, console.error, failed loads)."""
        return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def requested_urls(self) -> list[str]:
        """Every URL the page asked the network stack for, from the DevTools performance log."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def non_local_requests(self) -> list[str]:
        return [u for u in self.requested_urls() if not u.startswith(LOCAL_SCHEMES)]

    def wait_for(self, script: str, timeout: float = 30.0):
        """Poll a JavaScript expression until it is truthy; returns its value."""
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
            lambda d: d.execute_script(f"return ({script});")
        )

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)


@contextlib.contextmanager
def open_page(path: str | os.PathLike, width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """Open a local file in offline headless Chromium via chromedriver; yields a ``Page``."""
    with _chromium(OFFLINE_FLAGS, width, height) as page:
        page.driver.get(Path(path).resolve().as_uri())
        yield page


@contextlib.contextmanager
def open_url(url: str, width: int = 1600, height: int = 1000) -> Iterator[Page]:
    """Open a page served on 127.0.0.1 in headless Chromium (fresh profile, no other network)."""
    with _chromium(LOOPBACK_FLAGS, width, height) as page:
        page.driver.get(url)
        yield page


@contextlib.contextmanager
def _chromium(flags: tuple[str, ...], width: int, height: int) -> Iterator[Page]:
    chromium, driver_path = require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in flags:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield Page(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(path: str | os.PathLike, png: str | os.PathLike, width: int = 1400,
               height: int = 4000, budget_ms: int = 5000) -> Path:
    """Render a local file to a PNG with the chromium CLI (no driver needed), offline."""
    chromium = chromium_path()
    if not chromium:
        raise RuntimeError("chromium not installed")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        subprocess.run(
            [chromium, *OFFLINE_FLAGS, f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "--hide-scrollbars",
             f"--virtual-time-budget={budget_ms}", f"--screenshot={Path(png).resolve()}",
             Path(path).resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return Path(png)
