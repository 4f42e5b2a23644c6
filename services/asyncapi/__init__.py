"""The AsyncAPI 3.0 document of ketenbus, generated from the services' faststream routers.

`contracts/asyncapi.yaml` is what partners and vendors read to learn which subjects exist and
what travels on them. It is generated, never edited by hand:

    python -m services.asyncapi           # rewrite contracts/asyncapi.yaml (`make asyncapi`)
    python -m services.asyncapi --check   # exit 1 when the committed file is stale

One `NatsBroker` includes every registered service's router (built without a running
service), plus documentation-only publishers for the events each service's outbox relay
publishes. faststream's specification API renders it; `_post_process` then repairs what
faststream gets wrong or cannot say (see there), and the result is written with a stable key
order so that a drift check compares meaning, not dictionary order.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys
import typing
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from faststream.nats import NatsBroker, NatsRouter
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.utils import clear_key
from nats.js.api import ConsumerConfig
from pydantic import TypeAdapter

import services.runtime.streams as streams_module
from ketenbus_contracts.envelope import CloudEvent
from services.asyncapi import events, examples, requests
from services.registry import SERVICES
from services.runtime.streams import CONSUMERS, DAY, STREAMS

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "contracts" / "asyncapi.yaml"
TITLE = "ketenbus"
REGENERATE = "make asyncapi"

# What each service's outbox relay publishes is declared on its ServiceSpec (`publishes`):
# the relay publishes with plain nats-py, so no faststream publisher exists to document them.

# AsyncAPI's NATS bindings (https://github.com/asyncapi/bindings/tree/master/nats): only an
# operation binding with `queue` exists; the channel binding is reserved and must stay empty.
NATS_BINDING_VERSION = "0.1.0"

# Marks the titles of the outbox publishers (`<service>/outbox/<event>.v<N>`).
OUTBOX_TITLE = "/outbox/"

SERVER_DESCRIPTION = (
    "A nats-server with JetStream. ketenbus uses `KETENBUS_NATS_URL` when set; otherwise "
    "`ketenbus up` starts an embedded nats-server on a free port. Production runs a 3-node "
    "JetStream cluster with R3 streams (infra/nats)."
)

_PARAMETER = re.compile(r"\{([A-Za-z0-9_.-]+)\}")


# ---------------------------------------------------------------------------------------------
# Building the broker


def outbound_router(service: str, events: Iterable[type[CloudEvent[Any]]]) -> NatsRouter:
    """Documentation-only publishers for what `service`'s outbox relay publishes."""
    router = NatsRouter()
    for event in events:
        subject = event.outbound_subject()
        stream = _stream_names(subject)
        router.publisher(
            subject,
            schema=event,
            title=f"{service}{OUTBOX_TITLE}{event.name}.v{event.version}",
            description=(
                f"{(event.__doc__ or '').strip()} Published by the `{service}` outbox relay "
                f"from its event store into stream(s) {', '.join(f'`{s}`' for s in stream)}, "
                "with `Nats-Msg-Id` = the event id (the server drops a re-publish within the "
                "stream's duplicate window)."
            ),
        )
    return router


def build_broker() -> NatsBroker:
    """One broker holding every registered service's router and its outbound publishers."""
    broker = NatsBroker(
        specification_url="nats://localhost:4222",
        description=SERVER_DESCRIPTION,
    )
    for name in sorted(SERVICES):
        spec = SERVICES[name]()
        # Routers are built without a running service (ctx=None): only their declarations
        # are used here; their handlers refuse to run without a context.
        broker.include_router(spec.router_factory(None))  # type: ignore[arg-type]
        if spec.publishes:
            broker.include_router(outbound_router(name, spec.publishes))
    return broker


def package_version() -> str:
    return importlib.metadata.version("ketenbus")


def description() -> str:
    """The document's description: the subject scheme and the streams, from streams.py."""
    # The module's docstring explains the subject scheme after its one-line summary.
    _summary, _, scheme = (streams_module.__doc__ or "").strip().partition("\n\n")
    lines = [
        "The event-sourced integration backbone for the partners around a child.",
        "",
        scheme,
        "",
        "Streams (JetStream; AsyncAPI 3.0 cannot express them, so each channel names its "
        "stream(s) in `x-ketenbus-streams` and each durable consumer is described in its "
        "operation's `x-ketenbus-consumer`):",
    ]
    for stream in STREAMS:
        lines.append(
            f"- `{stream.name}` ({', '.join(f'`{s}`' for s in stream.subjects)}): "
            f"{stream.description}; duplicate window {stream.duplicate_window:g} s; "
            + (f"max age {stream.max_age / DAY:g} days." if stream.max_age else "no max age.")
        )
    lines += ["", PARTNER_GUIDE]
    return "\n".join(lines)


PARTNER_GUIDE = """\
For a partner's system (where to look in this document):
- What it publishes: the channels `in.<domain>.<event>` (address `in.{partner}.<domain>.<event>`),
  one CloudEvent per message, signed (`ketenbussig`, protected header `EventSignatureHeader`),
  everything about the child in `data.sealed`: per purpose a JWE (`SealedSectionHeader`) whose
  property names its purpose (`x-purpose`) and the schema it opens to (`x-ketenbus-section`).
  `purposes` lists the purposes sealed. The backbone checks each section without opening it
  and refuses the event (a `refused` receipt with the reason) for a purpose its type carries
  no section of, a section that is no `dir`/`A256GCM` JWE, or a header whose `kid` names
  another child or purpose or whose `eid` is not the event's `id` (each inbound message's
  payload says so).
- What it reads: its feed, `feed.{partner}.<domain>.<event>` (copies, signed by the feed) and
  `feed.{partner}.receipt` (the answer to every event it published), through its durable
  consumer `feed-<partner>`.
- What it asks: the request channels (`ketenbus.kluis.*`, `ketenbus.query.*`,
  `ketenbus.pseudonym`, `ketenbus.attachment.*`): each message is a JWS whose protected header
  and claims are named in `x-ketenbus-jws`; the reply is the operation's `reply`.
- How it connects and signs: `components.securitySchemes`.
- Every message has an example; the events' and requests' examples are signed with example
  keys and sealed under an example data key anyone can derive (see each example's summary): an
  implementation can verify them (its canonical form must give the signed bytes) and open
  them."""


def generate(broker: NatsBroker | None = None) -> dict[str, Any]:
    """The AsyncAPI document of `broker` (by default every service) as plain data."""
    broker = broker if broker is not None else build_broker()
    factory = AsyncAPI(
        broker,
        title=TITLE,
        version=package_version(),
        description=description(),
        schema_version="3.0.0",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = factory.to_specification().to_jsonable()
    # faststream only warns when two endpoints map to one channel or operation key, and keeps
    # the last: in a committed contract that is a silent loss, so refuse it.
    overwrites = [str(w.message) for w in caught if "Overwrite" in str(w.message)]
    if overwrites:
        raise ValueError("; ".join(overwrites))
    return _post_process(raw, broker)


# ---------------------------------------------------------------------------------------------
# Post-processing


def _post_process(doc: dict[str, Any], broker: NatsBroker) -> dict[str, Any]:
    """Repair and complete faststream's document.

    - channel `parameters` for `{name}` segments of an address: faststream omits them
      (faststream issue #3036), and AsyncAPI requires one per expression;
    - NATS bindings: faststream writes `bindingVersion: custom` and a `subject` in the channel
      binding, which the NATS binding does not have (the address is the subject); the channel
      binding is dropped, an operation binding (`queue`, version 0.1.0) is written only for
      queue-group subscribers;
    - `protocolVersion: custom` on the server is no NATS protocol version: dropped;
    - JetStream facts AsyncAPI cannot express: `x-ketenbus-streams` on each channel,
      `x-ketenbus-consumer` (stream, durable, delivery settings) on each consuming operation;
    - request/reply: the reply of a core-NATS subscriber whose handler returns a model;
    - the events as a partner meets them (`events`): one CloudEvent per message, a message
      per event type, a channel per inbound event, the sealed sections and signatures;
    - the requests (`requests`): their JWS header and claims, the security schemes;
    - an example on every message (`examples`);
    - a stable order of channels, operations and components.
    """
    for server in doc.get("servers", {}).values():
        if server.get("protocolVersion") == "custom":
            del server["protocolVersion"]

    channels: dict[str, Any] = doc.get("channels", {})
    for channel in channels.values():
        address = channel.get("address")
        bindings = channel.get("bindings", {})
        bindings.pop("nats", None)
        if not bindings:
            channel.pop("bindings", None)
        if address is None:
            continue
        names = _PARAMETER.findall(address)
        if names:
            params = channel.setdefault("parameters", {})
            for name in names:
                params.setdefault(
                    name, {"description": f"One subject token (`*` when subscribing): {name}."}
                )
        stream_names = _stream_names(address)
        if stream_names:
            channel["x-ketenbus-streams"] = stream_names

    operations: dict[str, Any] = doc.get("operations", {})
    for operation in operations.values():
        bindings = operation.get("bindings", {})
        bindings.pop("nats", None)
        if not bindings:
            operation.pop("bindings", None)

    for subscriber in broker.subscribers:
        if not subscriber.specification.include_in_schema:
            continue
        for key in subscriber.schema():
            channel_key = clear_key(key)
            for operation in _operations_on(operations, channel_key, "receive"):
                _describe_subscriber(doc, subscriber, channel_key, operation)

    events.complete(doc)
    requests.complete(doc)
    examples.complete(doc)
    return _ordered(doc)


def _describe_subscriber(
    doc: dict[str, Any], subscriber: Any, channel_key: str, operation: dict[str, Any]
) -> None:
    queue = getattr(subscriber, "queue", None)
    if queue:
        operation["bindings"] = {"nats": {"queue": queue, "bindingVersion": NATS_BINDING_VERSION}}
    stream = getattr(subscriber, "stream", None)
    if stream is not None:
        config = getattr(subscriber, "config", None)
        durable = config.durable_name if isinstance(config, ConsumerConfig) else None
        operation["x-ketenbus-consumer"] = _consumer_facts(stream.name, durable)
    else:
        reply = _reply_model(subscriber)
        if reply is not None:
            _add_reply(doc, channel_key, operation, reply)


def _consumer_facts(stream: str, durable: str | None) -> dict[str, Any]:
    """What JetStream knows about a subscriber's consumer.

    The durable consumers are declared (and created) by services/runtime/streams.py, not by
    faststream, so their settings come from there; the subscriber names stream and durable.
    """
    facts: dict[str, Any] = {"stream": stream, "durable": durable}
    for spec in CONSUMERS:
        if spec.stream.name == stream and spec.durable == durable:
            facts.update(
                {
                    "description": spec.description,
                    "filterSubjects": list(spec.filter_subjects),
                    "ackPolicy": "explicit",
                    "ackWaitSeconds": spec.ack_wait,
                    "maxDeliver": spec.max_deliver,
                }
            )
    return {key: value for key, value in facts.items() if value is not None}


def _reply_model(subscriber: Any) -> Any | None:
    """The return type of a request/reply handler, if it returns something worth a schema."""
    for call in subscriber.calls:
        func = call.handler._original_call
        returned = typing.get_type_hints(func).get("return")
        if returned is not None and returned is not type(None):
            return returned
    return None


def _add_reply(
    doc: dict[str, Any], channel_key: str, operation: dict[str, Any], model: Any
) -> None:
    components = doc.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    messages: dict[str, Any] = components.setdefault("messages", {})
    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        _add_schema(schemas, name, definition)
    name = schema.get("title") or f"{channel_key}:Reply:Payload"
    _add_schema(schemas, name, schema)

    reply_channel = f"{channel_key}.reply"
    message_key = f"{reply_channel}:Message"
    messages[message_key] = {
        "title": message_key,
        "payload": {"$ref": f"#/components/schemas/{name}"},
    }
    doc["channels"][reply_channel] = {
        # A null address: the requester's inbox, which NATS carries as the reply subject.
        "address": None,
        "description": f"The reply to `{channel_key}`, on the requester's inbox.",
        "messages": {"Message": {"$ref": f"#/components/messages/{message_key}"}},
    }
    operation["reply"] = {
        "channel": {"$ref": f"#/channels/{reply_channel}"},
        "messages": [{"$ref": f"#/channels/{reply_channel}/messages/Message"}],
    }


def _add_schema(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    if name in schemas and schemas[name] != schema:
        raise ValueError(f"two different schemas named {name!r}")
    schemas[name] = schema


def _operations_on(
    operations: Mapping[str, Any], channel_key: str, action: str
) -> list[dict[str, Any]]:
    ref = f"#/channels/{channel_key}"
    return [
        op
        for op in operations.values()
        if op.get("action") == action and op.get("channel", {}).get("$ref") == ref
    ]


def _stream_names(address: str) -> list[str]:
    """The streams whose subjects capture every subject `address` stands for."""
    subject = _PARAMETER.sub("*", address)
    return [s.name for s in STREAMS if any(_covers(p, subject) for p in s.subjects)]


def _covers(pattern: str, subject: str) -> bool:
    """Whether NATS subject `pattern` matches every subject that `subject` (itself possibly
    with wildcards) matches."""
    pat, sub = pattern.split("."), subject.split(".")
    for index, part in enumerate(pat):
        if part == ">":
            return len(sub) > index
        if index >= len(sub) or sub[index] == ">":
            return False
        if part not in ("*", sub[index]):
            return False
    return len(pat) == len(sub)


def _ordered(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with a fixed top-level order and sorted maps where order carries nothing.

    Schema properties keep their model order (it is the order readers expect).
    """
    top = (
        "asyncapi",
        "info",
        "defaultContentType",
        "servers",
        "channels",
        "operations",
        "components",
    )
    out: dict[str, Any] = {key: doc[key] for key in top if key in doc}
    out.update({key: doc[key] for key in sorted(doc) if key not in out})
    for key in ("servers", "channels", "operations"):
        if key in out:
            out[key] = _sorted_map(out[key])
    if "components" in out:
        out["components"] = _sorted_map(
            {name: _sorted_map(section) for name, section in out["components"].items()}
        )
    return out


def _sorted_map(value: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value[key] for key in sorted(value)}


# ---------------------------------------------------------------------------------------------
# Rendering and the command line


class _Dumper(yaml.SafeDumper):
    """Block-style YAML; multi-line strings as literal blocks so descriptions stay readable."""

    def ignore_aliases(self, data: Any) -> bool:
        # Shared objects are written out in full: `&id001` anchors are legal YAML but not
        # what a reader (or a diff) of a contract should have to follow.
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)

HEADER = (
    "# Generated from the ketenbus faststream routers by `python -m services.asyncapi`\n"
    f"# (`{REGENERATE}`). Do not edit: change the code and regenerate.\n"
)


def render(doc: Mapping[str, Any]) -> str:
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, indent=2)
    return HEADER + body


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.asyncapi", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the document is stale; write nothing"
    )
    parser.add_argument("--output", type=Path, default=DOCUMENT, help="default: %(default)s")
    args = parser.parse_args(argv)

    text = render(generate())
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(
                f"{args.output} is stale: it differs from the faststream routers. "
                f"Run `{REGENERATE}` and commit the result.",
                file=sys.stderr,
            )
            return 1
        print(f"{args.output} is up to date.")
        return 0
    if current != text:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(f"{args.output} unchanged")
    return 0
