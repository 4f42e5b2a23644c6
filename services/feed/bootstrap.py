"""The feed's composition root: its rules from infra/, its signing key, its application."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from ketenbus_contracts.feed import FEED_SIGNER, sign_feed_entry
from services.feed.application import FeedApplication
from services.feed.domain import Audience, FeedRules
from services.feed.handlers import create_router
from services.runtime.host import ServiceSpec
from services.runtime.keyring import load_or_create_partner_keys
from services.runtime.partners import INFRA_DIR, PARTNERS_PATH, load_partners
from services.runtime.settings import Settings
from services.runtime.store import store_env
from services.runtime.streams import FEED_SOURCES

NAME = "feed"
FEED_RULES_PATH = INFRA_DIR / "feed.yaml"
REGISTER_PATH = INFRA_DIR / "processing-register.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeedFile(_Strict):
    version: str
    default_audience: Audience = "related"
    audiences: dict[str, Audience] = {}


class _Activity(BaseModel):
    # Only what the feed needs of the register; kluis validates the whole of it.
    model_config = ConfigDict(extra="ignore")
    purpose: str
    holder_roles: list[str]


class _Register(BaseModel):
    model_config = ConfigDict(extra="ignore")
    activities: list[_Activity]


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_rules(
    feed_path: Path = FEED_RULES_PATH,
    register_path: Path = REGISTER_PATH,
    partners_path: Path = PARTNERS_PATH,
) -> FeedRules:
    """Who has a feed (every registered partner that is not a backbone service), what each
    role may hold (the register's holder roles), and each event type's audience."""
    feed = FeedFile.model_validate(_yaml(feed_path))
    register = _Register.model_validate(_yaml(register_path))
    holder: dict[str, set[str]] = {}
    for activity in register.activities:
        for role in activity.holder_roles:
            holder.setdefault(role, set()).add(activity.purpose)
    partners = load_partners(partners_path).partners
    return FeedRules(
        roles={p.id: p.role for p in partners if not p.is_service},
        holder_purposes={role: frozenset(purposes) for role, purposes in holder.items()},
        audiences=feed.audiences,
        default_audience=feed.default_audience,
    )


def create_application(settings: Settings) -> FeedApplication:
    keys = load_or_create_partner_keys(settings.data_dir, FEED_SIGNER)
    return FeedApplication(
        env=store_env(settings, NAME),
        rules=load_rules(),
        sign=lambda body: sign_feed_entry(body, keys),
    )


def service_spec() -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        application_factory=create_application,
        router_factory=create_router,
        consumers=FEED_SOURCES,
    )
