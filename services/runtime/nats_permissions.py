"""NATS authorization generated least-privilege from the partner registry and the stream and
service declarations: who may publish and read what.

`render_auth_config(services)` turns `infra/partners.yaml` (ids, roles, NATS users),
`infra/nats/permissions.yaml` (what each role has business with, named) and the declarations in
code (`services/runtime/streams.py`, and each service's `ServiceSpec`, handed in by the caller
from `services/registry.py`) into an `authorization` block for nats-server
(`infra/nats/auth.conf`, which the embedded server runs); `infra/nats/README.md` says why
per-user permissions and not accounts.

- A partner publishes only on `in.<its id>.>` (the subject names the publisher and ingress
  checks `source` against it), calls only the request subjects of its role, receives replies
  only on `_INBOX.<its id>.>`, and reads only the consumers the backbone declares for it (its
  feed `feed-<id>`, and a role's named readers of its own feed): fetch, ack and info, nothing
  else; and the signers' public keys (a direct get of a key of `ketenbus-signers`).
  No partner creates, updates, deletes or purges a consumer, a stream or an object store.
- A backbone service gets what its `ServiceSpec` declares: its own consumers (info, create,
  delete, fetch, ack), the streams its outbox publishes to (from the events it `publishes`), its
  dead-letter subject, its health subject and the request subjects its router answers (replies
  through `allow_responses`).
- The Notificaties bridge gets its listed consumers; the auditors read-only replay of their
  streams by sequence (direct gets, no consumer); the supervisor (`backbone`) declares
  streams and consumers and runs status. It makes the security buckets (the signers' keys, the
  replay guards' nonces, the leases) but may not purge, delete, update or write them
  (`supervisor_denies`): an operator's admin credentials cannot empty the signers' keys to
  have a new kluis key taken, forget the nonces answered, or hand a partition to another.

Every name in the permissions file is checked against the declarations (`NatsNameError`): a typo
is an error, not a dead permission. Credentials are never written: a user with a registered
public NKEY is named by it; otherwise its password is a reference to the server's environment
(`$KETENBUS_NATS_PW_<USER>`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml
from faststream.nats import NatsBroker
from pydantic import BaseModel, ConfigDict, Field

from ketenbus_partner.connect import inbox_prefix, password_variable
from ketenbus_partner.keys import signer_key_subject
from services.infra import INFRA_DIR
from services.runtime.host import ServiceSpec, health_subject
from services.runtime.leases import ping_subject
from services.runtime.nats_auth import AUTH_CONF_PATH
from services.runtime.partners import PARTNERS_PATH, NatsUser, PartnerEntry, load_partners
from services.runtime.signers import SIGNERS
from services.runtime.streams import (
    FEED,
    INBOUND,
    LEASES,
    PARTNER_READERS,
    REPLAY_GUARDED,
    SIGNERS_BUCKET,
    ConsumerSpec,
    UnknownStreamError,
    consumer_named,
    deadletter_subject,
    receipt_subject,
    replay_bucket,
    stream_named,
    stream_of_subject,
)

PERMISSIONS_PATH = INFRA_DIR / "nats" / "permissions.yaml"

# Every partner reads its feed; a role's `readers` add to it.
FEED_READER = "feed"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RolePermissions(_Strict):
    # Consumers the backbone declares for each partner of the role besides its feed, by their
    # name in services/runtime/streams.py `PARTNER_READERS`.
    readers: list[str] = Field(default_factory=list)
    # `STREAM:subject`: one short-lived consumer named after the partner, filtered on exactly
    # that subject; `{partner}` is the partner's own id (FEED: only its own feed's subjects).
    filtered_reads: list[str] = Field(default_factory=list)
    # Auditors: read-only replay (direct gets by sequence, no consumer) of these streams.
    replay_streams: list[str] = Field(default_factory=list)
    # None: the partners' default request subjects (`partner_requests`).
    requests: list[str] | None = None
    publishes_inbound: bool = True
    has_feed: bool = True


class SupervisorPermissions(_Strict):
    publish: list[str]
    subscribe: list[str]


class BackboneUser(_Strict):
    user: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    role: str
    # Its own consumers (`STREAM/durable` of services/runtime/streams.py), for a backbone user
    # that is not a service of services/registry.py (the webhook bridge).
    consumers: list[str] = Field(default_factory=list)


class PermissionsFile(_Strict):
    version: str
    partner_requests: list[str]
    roles: dict[str, RolePermissions]
    supervisor: SupervisorPermissions
    users: list[BackboneUser] = Field(default_factory=list)


class UnknownRoleError(ValueError):
    """A partner's role has no entry in the NATS permissions."""


class NatsNameError(ValueError):
    """A name in infra/nats/permissions.yaml that the declarations do not know (a typo)."""


SUPERVISOR_ROLE = "supervisor-service"


def load_permissions(path: Path = PERMISSIONS_PATH) -> PermissionsFile:
    return PermissionsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def check_names(rules: PermissionsFile, services: Mapping[str, ServiceSpec]) -> None:
    """Every stream, consumer and reader the file names is declared in streams.py, and every
    request subject is answered by a service's router."""
    try:
        for role in rules.roles.values():
            for reader in role.readers:
                if reader not in PARTNER_READERS:
                    raise UnknownStreamError(f"no partner reader {reader!r} in streams.py")
            for stream in role.replay_streams:
                stream_named(stream)
            for read in role.filtered_reads:
                stream, _, subject = own_read(PARTNER_PLACEHOLDER, read).partition(":")
                if stream_of_subject(subject).name != stream_named(stream).name:
                    raise UnknownStreamError(f"stream {stream} does not store {subject}")
                if stream == FEED.name and not subject.startswith(f"feed.{PARTNER_PLACEHOLDER}."):
                    raise UnknownStreamError(f"{read} reads another partner's feed")
        for user in rules.users:
            for consumer in user.consumers:
                consumer_named(consumer)
    except UnknownStreamError as exc:
        raise NatsNameError(str(exc)) from None
    answered = {subject for spec in services.values() for subject in responds(spec)}
    asked = set(rules.partner_requests)
    for role in rules.roles.values():
        asked |= set(role.requests or [])
    unknown = sorted(asked - answered)
    if unknown:
        raise NatsNameError(f"request subjects no service answers: {', '.join(unknown)}")
    for subject in sorted(asked | answered):
        # A stream would store the request and answer it with its publish ack.
        with contextlib.suppress(UnknownStreamError):
            stored = stream_of_subject(subject).name
            raise NatsNameError(f"request subject {subject} is stored by stream {stored}")


def reader_subjects(spec: ConsumerSpec) -> list[str]:
    """Fetching from, acking and asking the info of one durable consumer, nothing else."""
    stream, durable = spec.stream.name, spec.durable
    return [
        f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


def owner_subjects(spec: ConsumerSpec) -> list[str]:
    """A service's own consumer: reading it, and declaring it from its stored position
    (create, update in place, delete and re-create)."""
    stream, durable = spec.stream.name, spec.durable
    return [
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.DELETE.{stream}.{durable}",
        *reader_subjects(spec),
    ]


# Stands for the partner's own id in a role's `filtered_reads` (`feed.{partner}.…`).
PARTNER_PLACEHOLDER = "{partner}"


def own_read(partner: str, read: str) -> str:
    """A role's `STREAM:subject` read, for one partner."""
    return read.replace(PARTNER_PLACEHOLDER, partner)


def filtered_read_subjects(partner: str, read: str) -> list[str]:
    """A consumer named after the partner on one stream, filtered on one subject (of its own
    feed): the server checks the filter named in the create subject against the consumer's."""
    stream, _, subject = own_read(partner, read).partition(":")
    return [
        f"$JS.API.CONSUMER.CREATE.{stream}.{partner}.{subject}",
        f"$JS.API.CONSUMER.INFO.{stream}.{partner}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{partner}",
        f"$JS.API.CONSUMER.DELETE.{stream}.{partner}",
        f"$JS.ACK.{stream}.{partner}.>",
    ]


def replay_subjects(stream: str) -> list[str]:
    """Read-only replay: the stream's info and batched direct gets by sequence. No consumer
    API at all: "ephemeral" creates may name an existing durable consumer and rewrite it."""
    return [f"$JS.API.STREAM.INFO.{stream}", f"$JS.API.DIRECT.GET.{stream}"]


def object_store_subjects(bucket: str) -> list[str]:
    """Putting into and getting from one object store (nats-py's ObjectStore): a backbone
    service's, never a partner's (a publish there can replace any object). No purge: the
    service writes a name once, so a put never replaces old chunks."""
    stream = f"OBJ_{bucket}"
    return [
        "$JS.API.STREAM.NAMES",  # a get's ordered consumer looks the stream up by subject
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.CONSUMER.CREATE.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}.>",
        f"$JS.FC.{stream}.>",
        f"$O.{bucket}.>",
    ]


def lease_subjects(service: str) -> list[str]:
    """A service's own leases (services/runtime/leases.py): its keys of the lease bucket, read
    and written (create, update, delete by revision), and asking its instances whether they
    live. No other service's keys, no consumer on the bucket."""
    stream, bucket = f"KV_{LEASES.name}", LEASES.name
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.$KV.{bucket}.{service}.>",
        f"$KV.{bucket}.{service}.>",
        ping_subject(service, ">"),
    ]


def replay_guard_subjects(service: str) -> list[str]:
    """A service's own replay guard (services/runtime/replay.py): creating a nonce's key in its
    bucket (and, when the key exists, the direct get nats-py's create makes to tell a deleted
    key). No other user may, so no partner can forget a nonce or spend one ahead."""
    bucket = replay_bucket(service).name
    stream = f"KV_{bucket}"
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$KV.{bucket}.>",
    ]


def signer_read_subject() -> str:
    """A direct get of a signer's public keys in the bucket, by its key (the partner kit's
    `fetch_signer_keys`): public keys, read by anyone registered; nothing else of the bucket."""
    return signer_key_subject(">")


def signer_subjects(service: str) -> list[str]:
    """The signers' public keys (services/runtime/signers.py): every service reads them all;
    a signer writes its own key only (no partner, no other service can replace kluis's key and
    have dead letters sealed to its own)."""
    bucket = SIGNERS_BUCKET.name
    stream = f"KV_{bucket}"
    own = [f"$KV.{bucket}.{service}"] if service in SIGNERS else []
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        signer_read_subject(),
        *own,
    ]


def security_buckets() -> list[str]:
    """The key-value buckets whose content decides who is who: the signers' public keys, the
    replay guards' nonces, the leases. Only their owners write them."""
    return [
        SIGNERS_BUCKET.name,
        *(replay_bucket(service).name for service in REPLAY_GUARDED),
        LEASES.name,
    ]


def supervisor_denies() -> list[str]:
    """What the supervisor's `$JS.API.>` may not do to a security bucket: purge it, delete it
    or one of its messages, change its configuration (a shorter max age or history drops
    keys), or put a value in it. Creating it (`up`, `declare`) and reading it stay allowed."""
    denied: list[str] = []
    for bucket in security_buckets():
        stream = f"KV_{bucket}"
        denied += [
            f"$JS.API.STREAM.PURGE.{stream}",
            f"$JS.API.STREAM.DELETE.{stream}",
            f"$JS.API.STREAM.MSG.DELETE.{stream}",
            f"$JS.API.STREAM.UPDATE.{stream}",
            f"$KV.{bucket}.>",
        ]
    return denied


def partner_readers(entry: PartnerEntry, rules: PermissionsFile) -> list[ConsumerSpec]:
    """The consumers the backbone declares for a registered partner (none for a service)."""
    if entry.is_service:
        return []
    role = _role(entry, rules)
    names = ([FEED_READER] if role.has_feed else []) + role.readers
    return [PARTNER_READERS[name](entry.id) for name in names]


def _role(entry: PartnerEntry, rules: PermissionsFile) -> RolePermissions:
    role = rules.roles.get(entry.role)
    if role is None:
        raise UnknownRoleError(f"role {entry.role} of {entry.id} has no NATS permissions")
    return role


def responds(spec: ServiceSpec) -> list[str]:
    """The request subjects the service's router answers (its core subscriptions)."""
    broker = NatsBroker()
    broker.include_router(spec.router_factory(None))  # type: ignore[arg-type]
    return sorted(
        str(getattr(sub, "_subject", ""))
        for sub in broker.subscribers
        if getattr(sub, "stream", None) is None
    )


def service_permissions(spec: ServiceSpec) -> Permissions:
    """What a backbone service reads and writes, from its ServiceSpec."""
    publish = [deadletter_subject(spec.name)]
    outbox = sorted({stream_of_subject(e.outbound_subject()).name for e in spec.publishes})
    for name in outbox:
        stream = stream_named(name)
        publish += [*stream.subjects, f"$JS.API.STREAM.INFO.{name}"]
    for subject in spec.publish_subjects:
        stream_of_subject(subject)  # a subject no stream stores is a typo
        publish.append(subject)
    if any(consumer.stream is INBOUND for consumer in spec.consumers):
        publish.append(receipt_subject("*"))  # what became of what each partner published
    for consumer in spec.consumers:
        publish += owner_subjects(consumer)
        for part in consumer.partitioned(spec.partitions):
            publish += owner_subjects(part)
    for store in spec.object_stores:
        publish += object_store_subjects(store.name)
    publish += lease_subjects(spec.name)
    if spec.name in REPLAY_GUARDED:
        publish += replay_guard_subjects(spec.name)
    publish += signer_subjects(spec.name)
    subscribe = [
        # Replies, fetches included (services.runtime.host `own_inboxes`): its own inbox only.
        f"{inbox_prefix(spec.name)}.>",
        health_subject(spec.name),
        ping_subject(spec.name, ">"),
        *responds(spec),
    ]
    return Permissions(publish, subscribe, allow_responses=True)


class Permissions:
    """One user's allow-lists (and whether it may answer the requests it receives)."""

    def __init__(
        self,
        publish: Iterable[str],
        subscribe: Iterable[str],
        allow_responses: bool = False,
        deny_publish: Iterable[str] = (),
    ) -> None:
        self.publish = list(dict.fromkeys(publish))
        self.subscribe = list(dict.fromkeys(subscribe))
        self.allow_responses = allow_responses
        # Taken out of what `publish` allows (the server applies a deny over an allow).
        self.deny_publish = list(dict.fromkeys(deny_publish))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Permissions) and vars(self) == vars(other)

    def __getitem__(self, key: str) -> list[str]:
        return list(getattr(self, key))


def permissions_of(
    entry: PartnerEntry, rules: PermissionsFile, services: Mapping[str, ServiceSpec]
) -> Permissions:
    """The allow-lists of one registered partner or backbone user (`services`: the services
    `ketenbus up` runs, by name)."""
    user = entry.nats_user.user
    if entry.role == SUPERVISOR_ROLE:
        return Permissions(
            rules.supervisor.publish, rules.supervisor.subscribe, deny_publish=supervisor_denies()
        )
    if entry.is_service:
        if entry.id in services:
            return service_permissions(services[entry.id])
        listed = next((u for u in rules.users if u.user == user), None)
        consumers = [consumer_named(c) for c in (listed.consumers if listed else [])]
        publish = [s for c in consumers for s in owner_subjects(c)]
        subscribe = [f"{inbox_prefix(entry.id)}.>", health_subject(entry.id)]
        return Permissions(publish, subscribe, allow_responses=True)
    role = _role(entry, rules)
    publish = [f"in.{entry.id}.>"] if role.publishes_inbound else []
    publish += rules.partner_requests if role.requests is None else role.requests
    for reader in partner_readers(entry, rules):
        publish += reader_subjects(reader)
    for read in role.filtered_reads:
        publish += filtered_read_subjects(entry.id, read)
    for stream in role.replay_streams:
        publish += replay_subjects(stream)
    publish.append(signer_read_subject())
    return Permissions(publish, [f"{inbox_prefix(entry.id)}.>"])


def backbone_entries(
    registry_entries: list[PartnerEntry], rules: PermissionsFile, services: Iterable[str]
) -> list[PartnerEntry]:
    """The NATS users besides the registry's: the listed backbone users, then every service
    (each a NATS user of its name) not registered already (role `<name>-service`)."""
    entries = [PartnerEntry(id=u.user, name=u.user, role=u.role) for u in rules.users]
    known = {e.nats_user.user for e in [*registry_entries, *entries]}
    entries += [
        PartnerEntry(id=name, name=name, role=f"{name}-service")
        for name in services
        if name not in known
    ]
    return entries


def user_entries(
    services: Mapping[str, ServiceSpec],
    partners_path: Path = PARTNERS_PATH,
    permissions_path: Path = PERMISSIONS_PATH,
) -> tuple[list[PartnerEntry], PermissionsFile]:
    """Every NATS user the generated config names (partners, then the backbone's), and the
    permission rules, their names checked against the declarations."""
    partners = load_partners(partners_path).partners
    rules = load_permissions(permissions_path)
    check_names(rules, services)
    return [*partners, *backbone_entries(partners, rules, services)], rules


class UnknownNkeyUserError(LookupError):
    """An NKEY is given for a user the generated config does not name."""


def with_nkeys(entries: list[PartnerEntry], nkeys: Mapping[str, str]) -> list[PartnerEntry]:
    """`entries` with the given public NKEYs (by user) in place of their passwords."""
    unknown = set(nkeys) - {e.nats_user.user for e in entries}
    if unknown:
        raise UnknownNkeyUserError(f"no NATS user {sorted(unknown)} to give an NKEY")
    return [
        e.model_copy(update={"nats": NatsUser(user=key, nkey=nkeys[key])})
        if (key := e.nats_user.user) in nkeys
        else e
        for e in entries
    ]


def render_auth_config(
    services: Mapping[str, ServiceSpec],
    partners_path: Path = PARTNERS_PATH,
    permissions_path: Path = PERMISSIONS_PATH,
    nkeys: Mapping[str, str] | None = None,
) -> str:
    """The `authorization { users = [...] }` block for nats-server, as text. `nkeys` (user →
    public user NKEY) gives users of the backbone (services, supervisor) an NKEY instead of a
    password: a cluster's operator keeps their seeds, not passwords (`--nkeys` of
    `ketenbus audit nats-config`)."""
    registry = load_partners(partners_path)
    entries, rules = user_entries(services, partners_path, permissions_path)
    entries = with_nkeys(entries, nkeys or {})
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
        allowed = permissions_of(entry, rules, services)
        who = (
            f"nkey: {json.dumps(user.nkey)}"
            if user.nkey
            else f"user: {json.dumps(user.user)}, password: ${password_variable(user.user)}"
        )
        lines += [
            f"    # {entry.id} ({entry.role})",
            f"    {{{who}, permissions: {{",
            f"      publish: {{allow: {json.dumps(allowed.publish)}"
            + (f", deny: {json.dumps(allowed.deny_publish)}" if allowed.deny_publish else "")
            + "},",
            f"      subscribe: {{allow: {json.dumps(allowed.subscribe)}}}"
            + (",\n      allow_responses: true" if allowed.allow_responses else ""),
            "    }}",
        ]
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def password_variables(
    services: Mapping[str, ServiceSpec],
    partners_path: Path = PARTNERS_PATH,
    permissions_path: Path = PERMISSIONS_PATH,
    nkeys: Mapping[str, str] | None = None,
) -> list[str]:
    """The environment variables the generated config expects (users without an NKEY)."""
    entries, _ = user_entries(services, partners_path, permissions_path)
    entries = with_nkeys(entries, nkeys or {})
    return [password_variable(e.nats_user.user) for e in entries if e.nats_user.nkey is None]


def write_auth_config(
    services: Mapping[str, ServiceSpec],
    target: Path = AUTH_CONF_PATH,
    partners_path: Path = PARTNERS_PATH,
) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_auth_config(services, partners_path), encoding="utf-8")
    return target
