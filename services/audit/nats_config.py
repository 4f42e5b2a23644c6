"""NATS authorization generated from the partner registry: who may publish and read what.

`render_auth_config()` turns `infra/partners.yaml` (ids, roles, NATS users) and
`infra/nats/permissions.yaml` (what each role has business with) into an `authorization` block
for nats-server (`infra/nats/auth.conf`, included by the server config):

- a partner publishes only on `in.<its id>.>` (so it cannot publish as another: the subject
  names the publisher and ingress checks `source` against it), calls only the request subjects
  of its role, receives replies only on `_INBOX.<its id>.>`, and may create consumers on, fetch
  from and ack only the streams its role reads;
- the backbone's services get the subjects they run (`ketenbus.>`, `in.>`, `$JS.API.>`, …):
  every service `services/registry.py` knows has a user of its own name, so a new service
  cannot be forgotten, besides the backbone users listed in the permissions file.

Credentials are never written: a user with a registered public NKEY is named by it; otherwise
its password is a reference to the server's environment (`$KETENBUS_NATS_PW_<USER>`).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from services.runtime.partners import INFRA_DIR, PARTNERS_PATH, PartnerEntry, load_partners
from services.runtime.streams import FEED, feed_consumer

PERMISSIONS_PATH = INFRA_DIR / "nats" / "permissions.yaml"
AUTH_CONF_PATH = INFRA_DIR / "nats" / "auth.conf"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RolePermissions(_Strict):
    read_streams: list[str] = Field(default_factory=list)
    # JetStream object stores the role puts into and gets from (the backbone declares them).
    object_stores: list[str] = Field(default_factory=list)
    # None: the partners' default request subjects (`partner_requests`).
    requests: list[str] | None = None
    publishes_inbound: bool = True


class ServicePermissions(_Strict):
    publish: list[str]
    subscribe: list[str]


class BackboneUser(_Strict):
    user: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    role: str


class PermissionsFile(_Strict):
    version: str
    partner_requests: list[str]
    roles: dict[str, RolePermissions]
    services: ServicePermissions
    users: list[BackboneUser] = Field(default_factory=list)


class UnknownRoleError(ValueError):
    """A partner's role has no entry in the NATS permissions."""


def load_permissions(path: Path = PERMISSIONS_PATH) -> PermissionsFile:
    return PermissionsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def password_variable(user: str) -> str:
    return "KETENBUS_NATS_PW_" + user.upper().replace("-", "_")


def inbox_prefix(partner: str) -> str:
    """The reply inbox prefix a partner connects with (`nats.connect(inbox_prefix=...)`)."""
    return f"_INBOX.{partner}"


def permissions_of(entry: PartnerEntry, rules: PermissionsFile) -> dict[str, list[str]]:
    """The publish and subscribe allow-lists of one registered partner or service."""
    if entry.is_service:
        return {
            "publish": list(rules.services.publish),
            "subscribe": list(rules.services.subscribe),
        }
    role = rules.roles.get(entry.role)
    if role is None:
        raise UnknownRoleError(f"role {entry.role} of {entry.id} has no NATS permissions")
    publish = [f"in.{entry.id}.>"] if role.publishes_inbound else []
    publish += rules.partner_requests if role.requests is None else role.requests
    for stream in role.read_streams:
        publish += [
            f"$JS.API.STREAM.INFO.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.*",
            f"$JS.API.CONSUMER.INFO.{stream}.*",
            f"$JS.API.CONSUMER.DELETE.{stream}.*",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
            f"$JS.ACK.{stream}.>",
            f"$JS.FC.{stream}.>",  # flow control of ordered (push) consumers
        ]
    for bucket in role.object_stores:
        publish += object_store_subjects(bucket)
    if role.publishes_inbound:
        publish += feed_subjects(entry.id)
    return {"publish": publish, "subscribe": [f"{inbox_prefix(entry.id)}.>"]}


def feed_subjects(partner: str) -> list[str]:
    """Reading one's own feed: fetch from, ask the info of, and ack on the consumer
    `feed-<partner>` the backbone created (never create, update or delete it)."""
    durable = feed_consumer(partner).durable
    return [
        f"$JS.API.CONSUMER.MSG.NEXT.{FEED.name}.{durable}",
        f"$JS.API.CONSUMER.INFO.{FEED.name}.{durable}",
        f"$JS.ACK.{FEED.name}.{durable}.>",
    ]


def object_store_subjects(bucket: str) -> list[str]:
    """What putting into and getting from one object store takes (nats-py's ObjectStore)."""
    stream = f"OBJ_{bucket}"
    return [
        "$JS.API.STREAM.NAMES",  # an ordered get looks the bucket's stream up by subject
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.STREAM.PURGE.{stream}",  # a put replaces an object's old chunks
        f"$JS.API.CONSUMER.CREATE.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.DELETE.{stream}.*",
        f"$JS.FC.{stream}.>",
        f"$O.{bucket}.>",
    ]


def service_names() -> list[str]:
    """The services `ketenbus up` runs (services/registry.py), each a NATS user of its name."""
    from services.registry import SERVICES

    return list(SERVICES)


def backbone_entries(
    registry_entries: list[PartnerEntry], rules: PermissionsFile
) -> list[PartnerEntry]:
    """The NATS users besides the registry's: the listed backbone users, then every service
    of services/registry.py not registered already (role `<name>-service`)."""
    entries = [PartnerEntry(id=u.user, name=u.user, role=u.role) for u in rules.users]
    known = {e.nats_user.user for e in [*registry_entries, *entries]}
    entries += [
        PartnerEntry(id=name, name=name, role=f"{name}-service")
        for name in service_names()
        if name not in known
    ]
    return entries


def user_entries(
    partners_path: Path = PARTNERS_PATH, permissions_path: Path = PERMISSIONS_PATH
) -> tuple[list[PartnerEntry], PermissionsFile]:
    """Every NATS user the generated config names (partners, then the backbone's), and the
    permission rules."""
    partners = load_partners(partners_path).partners
    rules = load_permissions(permissions_path)
    return [*partners, *backbone_entries(partners, rules)], rules


def render_auth_config(
    partners_path: Path = PARTNERS_PATH, permissions_path: Path = PERMISSIONS_PATH
) -> str:
    """The `authorization { users = [...] }` block for nats-server, as text."""
    registry = load_partners(partners_path)
    entries, rules = user_entries(partners_path, permissions_path)
    lines = [
        "# Generated by `ketenbus audit nats-config` from infra/partners.yaml "
        f"(version {registry.version})",
        f"# and infra/nats/permissions.yaml (version {rules.version}). Do not edit by hand.",
        "# Passwords are references to the server's environment; NKEY users carry no secret.",
        "authorization {",
        "  users = [",
    ]
    for entry in entries:
        user = entry.nats_user
        allowed = permissions_of(entry, rules)
        who = (
            f"nkey: {json.dumps(user.nkey)}"
            if user.nkey
            else f"user: {json.dumps(user.user)}, password: ${password_variable(user.user)}"
        )
        lines += [
            f"    # {entry.id} ({entry.role})",
            f"    {{{who}, permissions: {{",
            f"      publish: {{allow: {json.dumps(allowed['publish'])}}},",
            f"      subscribe: {{allow: {json.dumps(allowed['subscribe'])}}}",
            "    }}",
        ]
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def password_users(
    partners_path: Path = PARTNERS_PATH, permissions_path: Path = PERMISSIONS_PATH
) -> list[str]:
    """The users the generated config gives a password (those without an NKEY)."""
    entries, _ = user_entries(partners_path, permissions_path)
    return [e.nats_user.user for e in entries if e.nats_user.nkey is None]


def password_variables(
    partners_path: Path = PARTNERS_PATH, permissions_path: Path = PERMISSIONS_PATH
) -> list[str]:
    """The environment variables the generated config expects (users without an NKEY)."""
    return [password_variable(user) for user in password_users(partners_path, permissions_path)]


def write_auth_config(target: Path = AUTH_CONF_PATH, partners_path: Path = PARTNERS_PATH) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_auth_config(partners_path), encoding="utf-8")
    return target
