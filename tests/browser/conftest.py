"""A live server (a real thread serving the app) and Debian's Chromium via Playwright."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = url          # as a deployment sets it: links on cards and QR codes
    yield url
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def tablet(browser):
    """A landscape tablet: 1024×768 with touch, as organisers and judges use in the hall."""
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True, is_mobile=False,
                              locale="zh-CN", device_scale_factor=1)
    page = ctx.new_page()
    yield page
    ctx.close()
