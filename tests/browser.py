"""Headless Chromium for the UI tests: Debian's /usr/bin/chromium driven by Playwright (never
`playwright install`), screenshots kept in the test's tmp_path and in var/test-artifacts/, and the
page's console errors collected so a test can assert there were none."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.real_parts import missing_real_part

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "var" / "test-artifacts"

needs_chromium = [pytest.mark.browser]  # chromium() itself fails (CI) or skips when the browser is missing


class PageLog:
    """Console errors and uncaught exceptions of a page."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def unexpected(self, *allowed: str) -> list[str]:
        """Errors not containing any of ``allowed`` (e.g. the 401 a login form is there to answer)."""
        return [e for e in self.errors if not any(a in e for a in allowed)]


@contextmanager
def chromium() -> Iterator[object]:
    """A Playwright Browser; closed on exit."""
    if not CHROMIUM.exists():
        missing_real_part(f"needs Debian chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        missing_real_part("needs the playwright package (dev extra)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in_by_keyboard(page, base_url: str, username: str, password: str) -> None:
    """The login form, typed as a user types it (real mouse clicks and key presses); returns once signed in."""
    page.goto(base_url)
    page.click("#login-username")
    page.keyboard.type(username)
    page.click("#login-password")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_selector("#nav:not([hidden])")


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(path.read_bytes())
    return path


class UvicornThread:
    """An ASGI app served by uvicorn on 127.0.0.1 in a thread of the test process."""

    def __init__(self, app, port: int) -> None:
        import uvicorn

        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "UvicornThread":
        self.thread.start()
        for _ in range(1000):  # wait for the socket, not for a fixed time
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.02)
        assert self.server.started, "uvicorn did not start"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
