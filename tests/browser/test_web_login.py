"""Logging in to the web app against a real OpenID provider (npm `oidc-provider`, started here).

Professionals log in at their organisation's provider (authorization code + PKCE, state and
nonce, the ID token checked against the provider's keys), their function deciding what they
may do; parents at a DigiD-like provider whose `acr` must be high enough. The attacks closed:
a page without a session, a forged, expired, replayed or misdirected token, a tampered state,
a fixated session, an open redirect after login, a logout forged from another site, a session
kept for ever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import errors
from joserfc.jwk import RSAKey

from services.integral_plan.web_auth import COOKIE, PARENT, PROFESSIONAL, employee_id
from services.integral_plan.web_records import WebOperation
from tests.browser.conftest import PORTS
from tests.browser.site import ARTIFACTS, CHROMIUM, Site, running_site
from tests.browser.site import log_in as browser_log_in
from tests.events import CHILD, PO, WIJKTEAM
from tests.oidc import OidcProvider, available, form_value, log_in

pytestmark = pytest.mark.skipif(not available(), reason="node or npm oidc-provider is missing")


@pytest.fixture
def site(wijkteam: Site) -> Site:
    return wijkteam


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def session_cookie(http: httpx.Client) -> str | None:
    return http.cookies.get(COOKIE)


def test_a_page_without_a_session_goes_to_login(site: Site, http: httpx.Client) -> None:
    pages = ["/werklijst", f"/plan/{CHILD}", f"/ouders/{CHILD}"]
    answers = [http.get(site.url + path) for path in pages]

    assert [303, 303, 303] == [a.status_code for a in answers]
    assert [f"/inloggen?next=%2Fplan%2F{CHILD}"] == [answers[1].headers["location"]]
    assert [] == [r for r in site.records.records if r.data_subject == CHILD and not r.employee]


def test_a_professional_logs_in_and_every_read_names_them(
    site: Site, provider: OidcProvider, http: httpx.Client
) -> None:
    before = len(site.records.records)

    page = log_in(http, f"{site.url}/plan/{CHILD}", "consulent-wijkteam")

    assert (200, f"{site.url}/plan/{CHILD}") == (page.status_code, str(page.url))
    assert "Ingelogd als Wim Jansen (Consulent sociaal team)" in page.text
    assert "Lotte gaat weer elke dag naar school." in page.text
    [read] = site.records.records[before:]
    employee = employee_id(provider.issuer, "consulent-wijkteam")
    assert (WebOperation.READ_PLAN, CHILD, WIJKTEAM.partner, employee) == (
        read.operation,
        read.data_subject,
        read.requester,
        read.employee,
    )
    assert employee == read.as_ldv()["attributes"]["ketenbus.employee"]
    assert "Wim" not in str(read.as_ldv()) and "consulent-wijkteam" not in str(read.as_ldv())


def test_the_session_cookie_is_http_only_same_site_and_replaced_at_login(
    site: Site, http: httpx.Client
) -> None:
    started = http.get(f"{site.url}/inloggen")
    before = session_cookie(http)
    log_in(http, f"{site.url}/werklijst", "consulent-wijkteam")

    assert 302 == started.status_code
    set_cookie = started.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    assert before is not None and session_cookie(http) not in (None, before)
    # The session from before login is gone: presenting it gets nowhere.
    fixated = httpx.get(f"{site.url}/werklijst", cookies={COOKIE: before})
    assert 303 == fixated.status_code


def test_a_function_gives_only_its_actions(site: Site, http: httpx.Client) -> None:
    worklist = log_in(http, f"{site.url}/werklijst", "admin-wijkteam")
    plan = http.get(f"{site.url}/plan/{CHILD}")

    assert 200 == worklist.status_code
    assert 403 == plan.status_code and "Geen toegang" in plan.text
    assert "Lotte" not in plan.text


def test_a_function_the_rules_do_not_know_gets_no_session(site: Site, http: httpx.Client) -> None:
    refused = log_in(http, f"{site.url}/werklijst", "stagiair-wijkteam")

    assert 403 == refused.status_code
    assert "Uw functie geeft geen toegang" in refused.text
    assert 303 == http.get(f"{site.url}/werklijst").status_code


def test_a_wrong_password_stays_at_the_provider(site: Site, http: httpx.Client) -> None:
    page = log_in(http, f"{site.url}/werklijst", "consulent-wijkteam", "geraden")

    assert "/interaction/" in str(page.url) and 401 == page.status_code
    assert 303 == http.get(f"{site.url}/werklijst").status_code


def _callback(http: httpx.Client, site: Site, user: str) -> str:
    """Log in up to the provider's redirect back to the web app; that URL, not yet followed."""
    form = http.get(f"{site.url}/werklijst", follow_redirects=True)
    answer = http.post(str(form.url), data={"login": user, "password": _password()})
    while answer.is_redirect and not answer.headers["location"].startswith(site.url):
        answer = http.get(answer.headers["location"])
    assert answer.is_redirect
    return str(answer.headers["location"])


def _password() -> str:
    from tests.oidc import PASSWORD

    return PASSWORD


def test_a_tampered_state_logs_no_one_in(site: Site, http: httpx.Client) -> None:
    callback = _callback(http, site, "consulent-wijkteam")
    state = parse_qs(urlsplit(callback).query)["state"][0]

    tampered = http.get(callback.replace(state, "x" + state[1:]))

    assert 400 == tampered.status_code
    assert 303 == http.get(f"{site.url}/werklijst").status_code


def test_a_replayed_answer_logs_no_one_in(site: Site, http: httpx.Client) -> None:
    callback = _callback(http, site, "consulent-wijkteam")

    first = http.get(callback)
    again = http.get(callback)
    elsewhere = httpx.get(callback)  # another browser: no login was started there

    assert (303, 400, 400) == (first.status_code, again.status_code, elsewhere.status_code)


def test_the_code_is_bound_to_the_pkce_verifier(site: Site, http: httpx.Client) -> None:
    # An attacker who steals the code cannot redeem it without the verifier kept server-side.
    callback = _callback(http, site, "consulent-wijkteam")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    metadata = httpx.get(_metadata(site)).json()
    stolen = httpx.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"{site.url}/inloggen/terug",
            "client_id": "ketenbus-wijkteam-lingewaard",
            "code_verifier": "a" * 64,
        },
    )

    assert 400 == stolen.status_code
    assert "invalid_grant" == stolen.json()["error"]


def _metadata(site: Site) -> str:
    login = site.app.state.login
    return str(login.client_config(PROFESSIONAL).metadata_url)


def _verify(site: Site, kind: str, token: str, nonce: str = "n-1") -> dict[str, Any]:
    return asyncio.run(site.app.state.login.verify_id_token(kind, token, nonce))


def _claims(provider: OidcProvider, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "sub": "consulent-wijkteam",
        "aud": "ketenbus-wijkteam-lingewaard",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
        "functie": "consulent",
    }
    return claims | changes


def test_an_id_token_signed_by_the_provider_checks_out(site: Site, provider: OidcProvider) -> None:
    claims = _verify(site, PROFESSIONAL, provider.token(_claims(provider)))

    assert "consulent-wijkteam" == claims["sub"]


@pytest.mark.parametrize(
    ("attack", "error"),
    [
        ("forged", errors.BadSignatureError),
        ("expired", errors.ExpiredTokenError),
        ("other-audience", errors.ClaimError),
        ("other-issuer", errors.InvalidClaimError),
        ("other-nonce", errors.InvalidClaimError),
        ("unsigned", errors.UnsupportedAlgorithmError),
    ],
)
def test_a_forged_expired_or_misdirected_id_token_is_refused(
    site: Site, provider: OidcProvider, attack: str, error: type[Exception]
) -> None:
    now = int(time.time())
    own = RSAKey.generate_key(2048, parameters={"kid": "test-1"}, private=True)
    tokens = {
        "forged": provider.token(_claims(provider), key=own),
        "expired": provider.token(_claims(provider, iat=now - 7200, exp=now - 3600)),
        "other-audience": provider.token(_claims(provider, aud="another-client")),
        "other-issuer": provider.token(_claims(provider, iss="http://127.0.0.1:1")),
        "other-nonce": provider.token(_claims(provider, nonce="n-2")),
        "unsigned": _unsigned(_claims(provider)),
    }

    with pytest.raises(error):
        _verify(site, PROFESSIONAL, tokens[attack])


def _unsigned(claims: dict[str, Any]) -> str:
    import base64
    import json

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


def test_a_parents_token_below_the_assurance_level_is_refused(
    site: Site, provider: OidcProvider
) -> None:
    parent = {"sub": "ouder-demo-0001", "aud": "ketenbus-ouders"}
    high = _claims(provider, acr="urn:nl:digid:substantieel", **parent)
    low = _claims(provider, acr="urn:nl:digid:basis", **parent)
    none = _claims(provider, **parent)

    assert "ouder-demo-0001" == _verify(site, PARENT, provider.token(high))["sub"]
    for token in (low, none):
        with pytest.raises(errors.ClaimError):
            _verify(site, PARENT, provider.token(token))


def test_a_parent_logs_in_with_digid_substantieel_and_basis_is_refused(
    site: Site, http: httpx.Client
) -> None:
    basic = log_in(http, f"{site.url}/ouders/inloggen", "ouder-basis")
    http.cookies.clear()
    substantial = http.get(f"{site.url}/ouders/inloggen", follow_redirects=True)
    done = http.post(
        str(substantial.url),
        data={"login": "ouder-demo-0001", "password": _password()},
        follow_redirects=True,
    )

    assert 400 == basic.status_code
    assert 200 == done.status_code
    assert (f"{site.url}/ouders", "Ingelogd als Ouder") == (str(done.url), _logged_in(done.text))
    # A parent is no professional: the organisation's pages stay closed.
    assert 303 == http.get(f"{site.url}/werklijst").status_code


def test_after_login_only_a_path_of_this_site_is_followed(site: Site, http: httpx.Client) -> None:
    page = log_in(http, f"{site.url}/inloggen?next=//evil.example/x", "consulent-wijkteam")

    assert f"{site.url}/werklijst" == str(page.url)


def test_logout_ends_the_session_and_a_forged_logout_does_not(
    site: Site, http: httpx.Client
) -> None:
    page = log_in(http, f"{site.url}/werklijst", "consulent-wijkteam")
    cookie = session_cookie(http)
    forged = http.post(f"{site.url}/uitloggen", data={"csrf": "geraden"})
    still = http.get(f"{site.url}/werklijst")
    out = http.post(f"{site.url}/uitloggen", data={"csrf": form_value(page.text, "csrf")})
    after = httpx.get(f"{site.url}/werklijst", cookies={COOKIE: cookie or ""})

    assert (400, 200) == (forged.status_code, still.status_code)
    assert 303 == out.status_code  # on to the provider, to end the session there too
    assert 303 == after.status_code


def _confirm_at_the_provider(http: httpx.Client, end_session: str) -> httpx.Response:
    """As the browser does after logout: at the provider's end-session endpoint the person
    confirms, the provider sends it back to /uitgelogd."""
    confirm = http.get(end_session)
    action = confirm.text.split('action="', 1)[1].split('"', 1)[0]
    form = {"xsrf": form_value(confirm.text, "xsrf"), "logout": "yes"}
    return http.post(str(confirm.url.join(action)), data=form, follow_redirects=True)


def test_logout_ends_the_session_at_the_provider_too(
    site: Site, provider: OidcProvider, http: httpx.Client
) -> None:
    page = log_in(http, f"{site.url}/werklijst", "consulent-wijkteam")
    out = http.post(f"{site.url}/uitloggen", data={"csrf": form_value(page.text, "csrf")})
    asked = parse_qs(urlsplit(out.headers["location"]).query)
    back = _confirm_at_the_provider(http, out.headers["location"])
    again = http.get(f"{site.url}/werklijst", follow_redirects=True)

    assert out.headers["location"].startswith(f"{provider.issuer}/session/end?")
    assert [f"{site.url}/uitgelogd"] == asked["post_logout_redirect_uri"]
    assert asked["id_token_hint"][0].count(".") == 2
    assert (200, f"{site.url}/uitgelogd") == (back.status_code, str(back.url))
    assert "U bent uitgelogd, hier en bij uw inlogprovider." in back.text
    # The provider asks for the password again: its session ended too.
    assert "/interaction/" in str(again.url) and "Wachtwoord" in again.text


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing")
def test_a_person_logs_out_in_the_browser_and_the_provider_asks_for_the_password_again(
    site: Site, page: Any
) -> None:
    browser_log_in(page, f"{site.url}/werklijst", "consulent-wijkteam")
    page.get_by_role("button", name="Uitloggen").click()
    page.get_by_role("button", name="Uitloggen").click()  # confirmed at the provider
    page.wait_for_url(f"{site.url}/uitgelogd")
    page.screenshot(path=str(ARTIFACTS / "uitgelogd.png"), full_page=True)
    said = page.locator("main").inner_text()
    page.goto(f"{site.url}/werklijst")

    assert "U bent uitgelogd, hier en bij uw inlogprovider." in said
    assert "/interaction/" in page.url
    assert 1 == page.get_by_label("Wachtwoord").count()


def test_logging_out_only_here_would_leave_the_provider_logging_back_in(
    site: Site, http: httpx.Client
) -> None:
    log_in(http, f"{site.url}/werklijst", "consulent-wijkteam")
    http.cookies.delete(COOKIE)  # the web app's session gone, the provider's kept

    again = http.get(f"{site.url}/werklijst", follow_redirects=True)

    # Without RP-initiated logout the next person at this browser is logged straight back in.
    assert (200, f"{site.url}/werklijst") == (again.status_code, str(again.url))


def test_the_logout_form_may_lead_to_the_provider_and_nowhere_else(
    site: Site, provider: OidcProvider, http: httpx.Client
) -> None:
    policy = http.get(f"{site.url}/inloggen").headers["content-security-policy"]

    assert f"form-action 'self' {provider.issuer};" in policy


def test_a_session_ends_when_idle_and_at_its_absolute_limit(
    provider: OidcProvider, tmp_path: Path, http: httpx.Client
) -> None:
    clock = [0.0]
    with running_site(
        tmp_path,
        PO,
        PORTS[PO],
        provider,
        session_clock=lambda: clock[0],
    ) as school:
        assert 200 == log_in(http, f"{school.url}/werklijst", "ib-regenboog").status_code
        clock[0] += 19 * 60  # the default idle limit is 20 minutes
        assert 200 == http.get(f"{school.url}/werklijst").status_code
        clock[0] += 21 * 60
        assert 303 == http.get(f"{school.url}/werklijst").status_code

        log_in(http, f"{school.url}/werklijst", "ib-regenboog")
        logged_in_at = clock[0]
        for _ in range(45):  # busy all day: a request every quarter of an hour
            clock[0] += 15 * 60
            answer = http.get(f"{school.url}/werklijst")
            if answer.status_code != 200:
                break
        assert 303 == answer.status_code
        assert 10 * 3600 < clock[0] - logged_in_at <= 10 * 3600 + 15 * 60


def _logged_in(html: str) -> str:
    start = html.find("Ingelogd als ")
    return html[start : html.find("<", start)].strip() if start >= 0 else ""
