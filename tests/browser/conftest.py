"""A real OpenID provider per test module, and the wijkteam's, the school's, leerplicht's and
the SWV's web apps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.site import (
    ARGS,
    ARTIFACTS,
    CHROMIUM,
    Site,
    log_in,
    running_provider,
    running_site,
)
from tests.events import CHILD, LEERPLICHT, PO, SWV, WIJKTEAM
from tests.oidc import OidcProvider, free_port

# The sites' ports, chosen before the provider starts: their redirect URIs are registered there.
PORTS: dict[str, int] = {}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    PORTS.update(
        {WIJKTEAM.partner: free_port(), PO: free_port(), LEERPLICHT: free_port(), SWV: free_port()}
    )
    with running_provider(tmp_path_factory.mktemp("oidc"), PORTS) as running:
        yield running


@pytest.fixture(scope="module")
def wijkteam(provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("wijkteam")
    with running_site(tmp, WIJKTEAM.partner, PORTS[WIJKTEAM.partner], provider) as running:
        yield running


@pytest.fixture(scope="module")
def school(provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("school"), PO, PORTS[PO], provider) as running:
        yield running


@pytest.fixture(scope="module")
def leerplicht(provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("leerplicht")
    with running_site(tmp, LEERPLICHT, PORTS[LEERPLICHT], provider) as running:
        yield running


@pytest.fixture(scope="module")
def swv(provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("swv"), SWV, PORTS[SWV], provider) as running:
        yield running


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser.new_page(viewport={"width": 1200, "height": 900}, locale="nl-NL")
        finally:
            browser.close()


@pytest.fixture
def plan(wijkteam: Site, page: Any) -> str:
    """The child's plan at the wijkteam's web app, a consulent logged in."""
    url = f"{wijkteam.url}/plan/{CHILD}"
    log_in(page, url, "consulent-wijkteam")
    return url
