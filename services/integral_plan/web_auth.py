"""Who is using the web app: OpenID Connect login, server-side sessions, functions and actions.

Professionals log in at their organisation's identity provider (`identity_provider` of the
partner in `infra/partners.yaml`), parents at a DigiD-like provider with an assurance level
(`acr`) the rules accept (`infra/web/functions.yaml`). The flow is the authorization code flow
with PKCE (S256), a fresh `state` and `nonce` per login, and the ID token checked against the
provider's published keys (its JWKS), issuer, audience, expiry and nonce (authlib).

The session is server-side: the cookie holds only a random id (HttpOnly, SameSite=Lax, Secure
and `__Host-` behind TLS); the store keeps the person and the login's state in memory, so
logging out ends the session for good and a restart ends every session. A session ends after
`idle` without a request and `absolute` after login, whatever happens; the id is replaced at
login (no session fixation).

The person is named in records by a pseudonymous employee id: a hash of issuer and `sub`, the
same for every login of that person, that names no one outside the organisation's own
identity provider. Their function (a claim) maps to the actions they may take.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from functools import cache
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import httpx
import yaml
from authlib.integrations.base_client import OAuthError
from joserfc.errors import JoseError
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.infra import INFRA_DIR
from services.runtime.partners import PartnerRegistry

FUNCTIONS_PATH = INFRA_DIR / "web" / "functions.yaml"
COOKIE = "ketenbus-sessie"
TLS_COOKIE = "__Host-ketenbus-sessie"  # the browser keeps it to this host, https and path /
MAX_SESSIONS = 10_000
IDLE = timedelta(minutes=20)
ABSOLUTE = timedelta(hours=10)
ROTATE = "ketenbus.rotate_session"
PROFESSIONAL: Literal["professional"] = "professional"
PARENT: Literal["parent"] = "parent"


class WebSettings(BaseSettings):
    """The web app's login settings (`KETENBUS_WEB_…`)."""

    model_config = SettingsConfigDict(env_prefix="KETENBUS_WEB_", extra="ignore")

    session_idle_minutes: float = Field(
        default=20, gt=0, description="A session ends after this long without a request"
    )
    session_absolute_hours: float = Field(
        default=10, gt=0, description="A session ends this long after login, whatever happens"
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="The professionals' issuer instead of the registry's (a local provider)",
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="The web app's client secret at the organisation's provider"
    )
    parents_issuer: str | None = Field(
        default=None, description="The parents' issuer instead of infra/web/functions.yaml's"
    )
    parents_client_secret: SecretStr | None = None
    receipt_wait_seconds: float = Field(
        default=5,
        ge=0,
        le=60,
        description="How long a posted form waits for the receipts of what it published "
        "before the page says it is not confirmed yet",
    )
    public_url: str | None = Field(
        default=None,
        description="The web app's address as browsers reach it (behind a proxy); the "
        "login's redirect URIs are made from it",
    )


class FunctionRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    actions: frozenset[str]


class ParentsRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str
    client_id: str
    acr_values: tuple[str, ...] = Field(min_length=1)


class FunctionsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    claim: str
    functions: dict[str, FunctionRule]
    parents: ParentsRule


@cache
def load_functions(path: Path = FUNCTIONS_PATH) -> FunctionsFile:
    return FunctionsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class OidcClient:
    """The web app as a client of one OpenID provider."""

    issuer: str
    client_id: str
    client_secret: str | None = None
    acr_values: tuple[str, ...] = ()  # accepted `acr` values; empty: any

    @property
    def metadata_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def origin(self) -> str:
        return origin_of(self.issuer)


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class LoginConfig:
    """How people log in to one organisation's web app."""

    partner: str
    professionals: OidcClient
    parents: OidcClient | None
    functions: FunctionsFile
    idle: timedelta = IDLE
    absolute: timedelta = ABSOLUTE
    public_url: str | None = None

    @classmethod
    def for_partner(
        cls,
        partner: str,
        registry: PartnerRegistry,
        settings: WebSettings | None = None,
    ) -> LoginConfig:
        """From the registry's identity provider of `partner` and the web settings."""
        settings = settings or WebSettings()
        provider = registry.entry(partner).identity_provider
        if provider is None:
            raise NoIdentityProviderError(f"{partner} has no identity provider in the registry")
        functions = load_functions()
        secret = settings.oidc_client_secret
        parents_secret = settings.parents_client_secret
        return cls(
            partner=partner,
            professionals=OidcClient(
                settings.oidc_issuer or provider.issuer,
                provider.client_id,
                secret.get_secret_value() if secret else None,
            ),
            parents=OidcClient(
                settings.parents_issuer or functions.parents.issuer,
                functions.parents.client_id,
                parents_secret.get_secret_value() if parents_secret else None,
                functions.parents.acr_values,
            ),
            functions=functions,
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
            public_url=settings.public_url,
        )


class NoIdentityProviderError(LookupError):
    """The organisation has no identity provider for its people in the registry."""


class UnknownFunctionError(PermissionError):
    """The ID token names no function the rules give any action."""


@dataclass(frozen=True)
class Person:
    """Who is logged in: a professional of `partner`, or a parent (their account)."""

    kind: Literal["professional", "parent"]
    employee: str  # pseudonymous: a hash of issuer and subject
    partner: str  # the organisation (professional) or the parent's account
    function: str = ""
    actions: frozenset[str] = frozenset()
    name: str = ""
    acr: str = ""

    def may(self, action: str) -> bool:
        return action in self.actions

    def as_session(self) -> dict[str, Any]:
        return asdict(self) | {"actions": sorted(self.actions)}

    @classmethod
    def from_session(cls, data: dict[str, Any]) -> Person:
        return cls(**(data | {"actions": frozenset(data["actions"])}))


def employee_id(issuer: str, subject: str) -> str:
    """The person's pseudonymous id in processing records (no name, no e-mail)."""
    digest = hashlib.sha256(f"{issuer.rstrip('/')}\n{subject}".encode()).hexdigest()
    return "mw-" + digest[:24]


def professional_from_claims(
    claims: dict[str, Any], client: OidcClient, partner: str, functions: FunctionsFile
) -> Person:
    """The professional the ID token names; their function decides what they may do."""
    named = claims.get(functions.claim)
    names = [named] if isinstance(named, str) else list(named or [])
    known = [functions.functions[n] for n in names if n in functions.functions]
    if not known:
        raise UnknownFunctionError("the token names no function with access")
    return Person(
        kind=PROFESSIONAL,
        employee=employee_id(client.issuer, str(claims["sub"])),
        partner=partner,
        function=", ".join(rule.name for rule in known),
        actions=frozenset().union(*(rule.actions for rule in known)),
        name=str(claims.get("name") or ""),
    )


def parent_from_claims(claims: dict[str, Any], client: OidcClient) -> Person:
    """The parent the ID token names: their account is the token's subject."""
    return Person(
        kind=PARENT,
        employee=employee_id(client.issuer, str(claims["sub"])),
        partner=str(claims["sub"]),
        name=str(claims.get("name") or ""),
        acr=str(claims.get("acr") or ""),
    )


def claims_options(client: OidcClient) -> dict[str, Any]:
    """What an ID token must carry, beyond its signature, audience and nonce."""
    options: dict[str, Any] = {
        "iss": {"essential": True, "values": [client.issuer]},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
    }
    if client.acr_values:
        options["acr"] = {"essential": True, "values": list(client.acr_values)}
    return options


# --- sessions -------------------------------------------------------------------------------


@dataclass
class _Entry:
    data: dict[str, Any]
    created: float
    seen: float


@dataclass
class SessionStore:
    """Sessions in memory, by a random id; each ends after `idle` or `absolute`."""

    idle: timedelta
    absolute: timedelta
    now: Callable[[], float] = time.monotonic
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def load(self, sid: str | None) -> dict[str, Any] | None:
        entry = self._entries.get(sid) if sid else None
        if entry is None:
            return None
        now = self.now()
        if self._expired(entry, now):
            del self._entries[sid]  # type: ignore[arg-type]
            return None
        entry.seen = now
        return dict(entry.data)

    def save(self, sid: str | None, data: dict[str, Any], *, rotate: bool = False) -> str | None:
        """Keep `data` under `sid` (a new id when there was none or at `rotate`); an empty
        session is dropped. The id to send back, or None for none."""
        now = self.now()
        old = self._entries.pop(sid, None) if sid and (rotate or not data) else None
        if not data:
            return None
        if sid is None or rotate or sid not in self._entries:
            created = now if rotate or old is None else old.created
            sid = secrets.token_urlsafe(32)
            self._make_room(now)
            self._entries[sid] = _Entry(dict(data), created, now)
        else:
            self._entries[sid].data = dict(data)
            self._entries[sid].seen = now
        return sid

    def __len__(self) -> int:
        return len(self._entries)

    def _expired(self, entry: _Entry, now: float) -> bool:
        return (
            now - entry.seen > self.idle.total_seconds()
            or now - entry.created > self.absolute.total_seconds()
        )

    def _make_room(self, now: float) -> None:
        if len(self._entries) < MAX_SESSIONS:
            return
        for sid in [s for s, e in self._entries.items() if self._expired(e, now)]:
            del self._entries[sid]
        while len(self._entries) >= MAX_SESSIONS:  # the oldest unused go first
            del self._entries[min(self._entries, key=lambda s: self._entries[s].seen)]


class SessionMiddleware:
    """`request.session` from the server-side store, by the id in the session cookie."""

    def __init__(self, app: ASGIApp, store: SessionStore, tls: bool) -> None:
        self.app = app
        self.store = store
        self.tls = tls
        self.cookie = TLS_COOKIE if tls else COOKIE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sid = self._cookie_of(scope)
        loaded = self.store.load(sid)
        if loaded is None:
            sid = None
        scope["session"] = loaded or {}

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                rotate = bool(scope.get(ROTATE))
                kept = self.store.save(sid, session, rotate=rotate)
                headers = MutableHeaders(scope=message)
                if kept is not None and (kept != sid):
                    headers.append("Set-Cookie", self._set(kept))
                elif kept is None and self._cookie_of(scope):
                    headers.append("Set-Cookie", self._set("", expire=True))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie_of(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:
                    return None
                if self.cookie in cookie:
                    return cookie[self.cookie].value
        return None

    def _set(self, value: str, *, expire: bool = False) -> str:
        parts = [f"{self.cookie}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if self.tls:
            parts.append("Secure")
        if expire:
            parts.append("Max-Age=0")
        return "; ".join(parts)


def person_of(request: Request) -> Person | None:
    data = request.session.get("person")
    return None if data is None else Person.from_session(data)


def professional_of(request: Request, action: str) -> Person:
    """The logged-in professional, who may do `action`; else to login, or refused."""
    person = person_of(request)
    if person is None or person.kind != PROFESSIONAL:
        raise LoginRequiredError(request.url.path)
    if not person.may(action):
        raise NotPermittedError(action)
    return person


def csrf_token(request: Request) -> str:
    """The session's token for forms (made on first use)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def csrf_ok(request: Request, sent: str | None) -> bool:
    token = request.session.get("csrf")
    return bool(token and sent and secrets.compare_digest(str(token), sent))


HOME = {PROFESSIONAL: "/werklijst", PARENT: "/ouders"}


def safe_next(target: str | None, kind: str = PROFESSIONAL) -> str:
    """Where to go after login: a path of this site only (never `//elsewhere` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME[kind]
    return target


# --- login ----------------------------------------------------------------------------------


class LoginRequiredError(Exception):
    """A page needs a logged-in person of this kind; the browser goes to its login."""

    def __init__(self, next_path: str, kind: str = PROFESSIONAL) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.kind = kind


class NotPermittedError(Exception):
    """The logged-in person may not do this (their function, or not a parent of the child)."""


Page = Callable[..., Any]


class Login:
    """The login and logout routes for professionals and parents (authlib's Starlette client)."""

    def __init__(self, config: LoginConfig) -> None:
        from authlib.integrations.starlette_client import OAuth

        self.config = config
        self.oauth = OAuth()
        self.clients: dict[str, Any] = {}
        for kind, client in ((PROFESSIONAL, config.professionals), (PARENT, config.parents)):
            if client is None:
                continue
            extra: dict[str, Any] = {"scope": "openid profile", "code_challenge_method": "S256"}
            if client.client_secret is None:
                extra["token_endpoint_auth_method"] = "none"  # noqa: S105 (a public client)
            self.clients[kind] = self.oauth.register(
                kind,
                client_id=client.client_id,
                client_secret=client.client_secret,
                server_metadata_url=client.metadata_url,
                client_kwargs=extra,
            )

    def client_config(self, kind: str) -> OidcClient:
        client = self.config.professionals if kind == PROFESSIONAL else self.config.parents
        if client is None:
            raise NotPermittedError(f"no login for {kind}")
        return client

    def redirect_uri(self, request: Request, kind: str) -> str:
        name = "login_callback" if kind == PROFESSIONAL else "parents_login_callback"
        return self.site_url(request, name)

    async def start(self, request: Request, kind: str, next_path: str | None) -> Any:
        """Send the browser to the provider (state, nonce and PKCE verifier kept server-side)."""
        client = self.clients.get(kind)
        if client is None:
            raise NotPermittedError(f"no login for {kind}")
        request.session["next"] = safe_next(next_path, kind)
        options = {}
        if kind == PARENT and self.config.parents is not None:
            options["acr_values"] = " ".join(self.config.parents.acr_values)
        return await client.authorize_redirect(request, self.redirect_uri(request, kind), **options)

    async def finish(self, request: Request, kind: str) -> tuple[Person, str, str]:
        """The person the provider's answer names, checked; where they were going; the ID token
        (kept in the server-side session, to end the session at the provider on logout)."""
        client = self.clients[kind]
        config = self.client_config(kind)
        token = await client.authorize_access_token(
            request, claims_options=claims_options(config), leeway=LEEWAY_SECONDS
        )
        claims = token.get("userinfo")
        if not claims:
            raise InvalidLoginError("no ID token")
        target = safe_next(request.session.pop("next", None), kind)
        return self.person(kind, dict(claims), config), target, str(token.get("id_token") or "")

    async def verify_id_token(self, kind: str, id_token: str, nonce: str) -> dict[str, Any]:
        """Check an ID token as `finish` does (the provider's keys, issuer, audience, expiry,
        nonce, acr): its claims, or an error."""
        client = self.clients[kind]
        claims = await client.parse_id_token(
            {"id_token": id_token},
            nonce=nonce,
            claims_options=claims_options(self.client_config(kind)),
            leeway=LEEWAY_SECONDS,
        )
        return dict(claims)

    @property
    def origins(self) -> tuple[str, ...]:
        """The identity providers' origins (where logging out sends the browser on to)."""
        clients = (self.config.professionals, self.config.parents)
        return tuple(dict.fromkeys(c.origin for c in clients if c is not None))

    async def end_session(self, request: Request, kind: str, id_token: str) -> str | None:
        """Where the browser goes to end the session at the provider too (OpenID Connect
        RP-Initiated Logout): its `end_session_endpoint`, naming the ID token the login gave and
        this site's `/uitgelogd` to come back to; None when the provider offers none (or one
        elsewhere than its own origin)."""
        client = self.clients.get(kind)
        if client is None or not id_token:
            return None
        metadata = await client.load_server_metadata()
        endpoint = metadata.get("end_session_endpoint")
        if not isinstance(endpoint, str) or origin_of(endpoint) not in self.origins:
            return None
        query = {
            "id_token_hint": id_token,
            "client_id": self.client_config(kind).client_id,
            "post_logout_redirect_uri": self.site_url(request, "logged_out"),
            "ui_locales": "nl",
        }
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    def site_url(self, request: Request, name: str) -> str:
        """The absolute URL of route `name` on this site (its public URL when behind a proxy)."""
        if self.config.public_url:
            path = request.app.url_path_for(name)
            return self.config.public_url.rstrip("/") + str(path)
        return str(request.url_for(name))

    def person(self, kind: str, claims: dict[str, Any], config: OidcClient) -> Person:
        if kind == PARENT:
            return parent_from_claims(claims, config)
        return professional_from_claims(claims, config, self.config.partner, self.config.functions)


LEEWAY_SECONDS = 30


class InvalidLoginError(PermissionError):
    """The provider's answer did not check out."""


# What a login that does not check out raises: authlib's (state, the provider's error answer),
# joserfc's (signature, claims), ours, and the provider not answering.
LOGIN_ERRORS: tuple[type[Exception], ...] = (
    OAuthError,
    JoseError,
    InvalidLoginError,
    httpx.HTTPError,
    KeyError,
    ValueError,
)


def login_failure(exc: BaseException) -> str:
    """The failure as a code for the log (never the token or a claim's value)."""
    return type(exc).__name__
