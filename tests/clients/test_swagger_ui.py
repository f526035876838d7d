"""The API explorer in a real browser: headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium) opens /docs on `frazil serve` with no internet access needed, both OpenAPI
documents render their operations, "Authorize" takes an API key id and secret through the OAuth2
client-credentials flow against Frazil's token endpoint, and "list namespaces" tried from the
page answers 200 with the namespaces of the environment. Screenshots are saved under
target/browser/ (a CI artifact)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, start_server, stop_server, unique

SHOTS = REPO_ROOT / "target" / "browser"
WAIT_S = 30


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("swagger")
    server = start_server("sqlite", base, f"sqlite://{base / 'frazil.db'}")
    yield server
    stop_server(server)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromedriver are installed by scripts/ensure-chromium.sh"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,2400", "--disable-dev-shm-usage"]:
        options.add_argument(arg)
    web = webdriver.Chrome(service=Service(driver), options=options)
    web.set_page_load_timeout(WAIT_S)
    yield web
    web.quit()


def wait_for(web, condition, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = condition(web)
            if result:
                return result
        except Exception:  # an element replaced while the page re-renders: look again
            pass
        time.sleep(0.2)
    SHOTS.mkdir(parents=True, exist_ok=True)
    web.save_screenshot(str(SHOTS / "failure.png"))
    raise AssertionError(f"timed out waiting for {what}; screenshot in {SHOTS / 'failure.png'}")


def operations(web) -> list:
    from selenium.webdriver.common.by import By

    return web.find_elements(By.CSS_SELECTOR, ".opblock")


def select_document(web, name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    select = Select(web.find_element(By.CSS_SELECTOR, ".topbar select"))
    names = [option.text for option in select.options]
    matching = [text for text in names if name in text.lower()]
    assert len(matching) == 1, f"no single definition named like {name!r} in {names}"
    select.select_by_visible_text(matching[0])


def test_swagger_ui_lists_both_apis_and_tries_a_call(served, browser):
    from selenium.webdriver.common.by import By

    web = browser
    SHOTS.mkdir(parents=True, exist_ok=True)
    http = served.http()
    prefix = served.api_prefix("tableflow")
    ns = unique("ui")
    assert http.post(f"{prefix}/namespaces", json={"namespace": [ns]}, timeout=30).status_code == 200
    docs = {name: requests.get(f"{served.base_url}/api-docs/{name}.json", timeout=30).json() for name in ("iceberg", "admin")}
    counts = {name: sum(len(item) for item in doc["paths"].values()) for name, doc in docs.items()}

    web.get(f"{served.base_url}/docs")
    wait_for(web, lambda w: len(operations(w)) == counts["iceberg"], f"the {counts['iceberg']} Iceberg operations")
    web.save_screenshot(str(SHOTS / "swagger-ui-iceberg.png"))

    # the admin document renders too
    select_document(web, "admin")
    wait_for(web, lambda w: len(operations(w)) == counts["admin"], f"the {counts['admin']} admin operations")
    web.save_screenshot(str(SHOTS / "swagger-ui-admin.png"))
    select_document(web, "iceberg")
    wait_for(web, lambda w: len(operations(w)) == counts["iceberg"], "the Iceberg operations again")

    # Authorize: the server administrator's key id and secret, client-credentials flow
    web.find_element(By.CSS_SELECTOR, "button.authorize").click()
    client_id = wait_for(web, lambda w: w.find_element(By.CSS_SELECTOR, "input[id^='client_id']"), "the client id field")
    client_id.send_keys(served.client_id)
    web.find_element(By.CSS_SELECTOR, "input[id^='client_secret']").send_keys(served.client_secret)
    for box in web.find_elements(By.CSS_SELECTOR, ".scopes input[type='checkbox']"):
        if not box.is_selected():
            web.execute_script("arguments[0].click()", box)
    web.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.authorize").click()
    # the token request succeeded: the dialog now offers to log out
    wait_for(web, lambda w: w.find_elements(By.XPATH, "//div[contains(@class,'modal-ux')]//button[normalize-space()='Logout']"), "the authorization to succeed")
    web.find_element(By.XPATH, "//div[contains(@class,'modal-ux')]//button[normalize-space()='Close']").click()

    # Try it out: list namespaces of the default environment
    op = web.find_element(By.CSS_SELECTOR, "[id$='-listNamespaces']")
    op.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait_for(web, lambda w: op.find_element(By.CSS_SELECTOR, "button.try-out__btn"), "Try it out").click()
    for name, value in [("org", "default"), ("env", "default")]:
        field = op.find_element(By.CSS_SELECTOR, f"tr[data-param-name='{name}'] input")
        field.clear()
        field.send_keys(value)
    op.find_element(By.CSS_SELECTOR, "button.execute").click()
    status = wait_for(web, lambda w: op.find_element(By.CSS_SELECTOR, ".live-responses-table .response .response-col_status").text.strip(), "the response")
    body = " ".join(e.text for e in op.find_elements(By.CSS_SELECTOR, ".live-responses-table .response-col_description pre"))
    web.execute_script("arguments[0].scrollIntoView()", op)
    web.save_screenshot(str(SHOTS / "swagger-ui-list-namespaces.png"))
    assert status.startswith("200"), (status, body[:2000])
    assert ns in body, body[:2000]
