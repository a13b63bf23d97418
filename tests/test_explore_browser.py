"""The explorer in a real browser: JupyterLab started by `launch_jupyterlab`, driven by
headless Chromium through selenium; and the static report opened in the same browser.

Needs Debian's ``chromium`` and ``chromium-driver`` (and selenium). Without them the tests
skip, except under CI (``CI`` set), where a missing browser is a failure. Screenshots go to
``benchmarks/out/explore/`` (git-ignored).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import socket
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

from electrode_design import explore as ex

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "benchmarks" / "out" / "explore"


def _browser_paths():
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    return chromium, driver


def _need_browser():
    chromium, driver = _browser_paths()
    try:
        import selenium  # noqa: F401
    except ImportError:
        chromium = None
    if chromium and driver:
        return chromium, driver
    reason = ("headless Chromium, chromedriver and selenium are needed "
              "(apt-get install chromium chromium-driver; pip install selenium)")
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def driver():
    chromium, chromedriver = _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1800", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(chromedriver), options=opts)
    drv.set_script_timeout(30)
    yield drv
    drv.quit()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _png(element_or_driver) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(element_or_driver.screenshot_as_png)).convert("RGB")).astype(np.int16)


def _ink(img: np.ndarray) -> float:
    """Fraction of pixels that are not near-white background."""
    return float((np.abs(img - 255).sum(axis=2) > 30).mean())


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return 1.0
    return float((np.abs(a - b).sum(axis=2) > 30).mean())


def _wait(predicate, timeout: float, what: str, step: float = 0.25):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _settled_shot(element, *, timeout: float, min_ink: float, differ_from=None, min_change: float = 0.0):
    """Screenshot of ``element`` once it has ink, (optionally) differs from ``differ_from``,
    and is unchanged between two polls (rendering done)."""
    last = None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        img = _png(element)
        ok = _ink(img) >= min_ink and (differ_from is None or _changed(img, differ_from) >= min_change)
        if ok and last is not None and _changed(img, last) < 0.001:
            return img
        last = img if ok else None
        time.sleep(0.4)
    raise AssertionError("the plot area did not settle into a rendered plot")


def _save(img: np.ndarray, name: str) -> Path:
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    Image.fromarray(img.astype(np.uint8)).save(path)
    return path


def _network_failures(drv) -> list[str]:
    return [e["message"] for e in drv.get_log("browser")
            if e.get("source") == "network" and "favicon" not in e["message"]]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab (token known) on a free port over a temp root with the explorer notebook and
    a catalog of small example results (plus a missing and a corrupt store)."""
    _need_browser()
    root = tmp_path_factory.mktemp("lab")
    catalog = root / "results" / "catalog.yml"
    ex.write_example_catalog(catalog)
    nb = json.loads((REPO / "nbs" / "explorer.ipynb").read_text())
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    (root / "explorer.ipynb").write_text(json.dumps(nb))
    settings = root / ".settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    token = uuid.uuid4().hex
    port = _free_port()
    started = time.monotonic()
    proc = ex.launch_jupyterlab(
        catalog_path=catalog, port=port, open_browser=False, notebook=root / "explorer.ipynb", wait=False,
        extra_args=[f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True",
                    "--ServerApp.port_retries=0", "--LabApp.expose_app_in_browser=True"],
        env={"JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(root / ".workspaces")},
        log_path=root / "lab.log")
    url = f"http://127.0.0.1:{port}"

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited: {(root / 'lab.log').read_text()[-3000:]}")
        try:
            req = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
            return urllib.request.urlopen(req, timeout=2).status == 200
        except OSError:
            return False

    try:
        _wait(up, 60, "JupyterLab to start")
        yield {"url": url, "token": token, "root": root, "catalog": catalog, "started": started}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except Exception:
            proc.kill()
            proc.wait(timeout=10)


def test_explorer_in_jupyterlab(driver, lab):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    t0 = time.monotonic()
    driver.get(f"{lab['url']}/lab/tree/explorer.ipynb?token={lab['token']}")
    kernel_ready = ("const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                    "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
                    " && w.sessionContext.session.kernel.connectionStatus === 'connected');")
    _wait(lambda: driver.execute_script(kernel_ready), 60, "the notebook and its kernel")
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")

    def find(css):
        found = driver.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    _wait(lambda: find(".ed-explorer .ed-entries select"), 90, "the explorer widget")
    table = find(".ed-table").text
    assert "store missing" in table and "cannot open" in table, table

    Select(find(".ed-entries select")).select_by_value(
        next(o.get_attribute("value") for o in find(".ed-entries select").find_elements(By.TAG_NAME, "option")
             if o.text.startswith("sim_example_0")))
    maps = _wait(lambda: find(".ed-sim-maps"), 60, "the simulation section")
    driver.execute_script("arguments[0].scrollIntoView();", maps)
    before = _settled_shot(maps, timeout=60, min_ink=0.05)

    handle = find(".ed-dod-slider .noUi-handle")
    handle.click()
    moved = time.monotonic()
    handle.send_keys(Keys.ARROW_LEFT)
    handle.send_keys(Keys.ARROW_LEFT)
    after = _settled_shot(maps, timeout=30, min_ink=0.05, differ_from=before, min_change=0.01)
    elapsed, redraw = time.monotonic() - t0, time.monotonic() - moved

    p_before = _save(before, "browser_sim_maps_before.png")
    p_after = _save(after, "browser_sim_maps_after.png")
    driver.save_screenshot(str(SHOTS / "browser_full_page.png"))
    print(f"\nexplorer browser test: {elapsed:.1f} s in the browser, slider to settled redraw <= {redraw:.1f} s "
          f"(screenshot polling), "
          f"{time.monotonic() - lab['started']:.1f} s with server start; screenshots {p_before}, {p_after}")

    assert _changed(before, after) >= 0.01
    outputs = driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-OutputArea-output')).map(e => e.innerText).join('\\n');")
    assert "Traceback" not in outputs, outputs[-3000:]
    assert not find(".ed-log .jp-OutputArea-output"), "a callback raised (see the explorer's log area)"
    offline = [m for m in _network_failures(driver) if "cdn" in m.lower() or "http" in m.lower()]
    assert not offline, offline


def test_report_renders_offline(driver, tmp_path):
    catalog = tmp_path / "catalog.yml"
    ex.write_example_catalog(catalog, broken=False)
    report = ex.report_html(["gitt_example_0", "gitt_example_1", "micro_example_0", "sim_example_0"],
                            tmp_path / "report.html", catalog_path=catalog)
    driver.get_log("browser")  # drop earlier messages
    driver.get(report.as_uri())
    from selenium.webdriver.common.by import By

    body = driver.find_element(By.TAG_NAME, "body")
    _wait(lambda: driver.execute_script("return document.readyState") == "complete", 30, "the report to load")
    shot = _settled_shot(body, timeout=60, min_ink=0.05)
    path = _save(shot, "report.png")
    colours = len(np.unique(shot.reshape(-1, 3), axis=0))
    print(f"\nreport screenshot {path}: ink {_ink(shot):.2f}, {colours} colours")
    assert colours > 100  # colour maps and lines, not a blank page with text
    assert not _network_failures(driver)
