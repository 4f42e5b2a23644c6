"""Holding messages to the committed AsyncAPI document: its schemas as jsonschema validators,
the channel a subject belongs to, and what a signed request or a sealed section must be."""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import yaml

from services import asyncapi

SCHEMAS = "#/components/schemas/"


@functools.cache
def document() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: a second, not ten
    doc: dict[str, Any] = yaml.load(asyncapi.DOCUMENT.read_text(encoding="utf-8"), loader)
    return doc


_validators: dict[int, tuple[dict[str, Any], jsonschema.Draft7Validator]] = {}


def _validator(schema: dict[str, Any]) -> jsonschema.Draft7Validator:
    """One validator per schema of the document (the session's wire check validates
    thousands of messages against a few hundred schemas)."""
    kept = _validators.get(id(schema))
    if kept is None or kept[0] is not schema:
        root = {
            "$ref": "#/$defs/it",
            "$defs": {"it": schema},
            "components": document()["components"],
        }
        validator = jsonschema.Draft7Validator(root, format_checker=jsonschema.FormatChecker())
        kept = _validators[id(schema)] = (schema, validator)
    return kept[1]


def errors(schema: dict[str, Any], value: Any) -> list[str]:
    """What is wrong with `value` under `schema` (refs resolved in the document)."""
    validator = _validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)
    ]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    doc = document()
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def b64_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def jws_errors(jws_schema: dict[str, Any], token: str) -> list[str]:
    """A signed request's protected header and claims against `x-ketenbus-jws`."""
    spec = jws_schema["x-ketenbus-jws"]
    parts = token.split(".")
    if len(parts) != 3:
        return ["not a JWS compact serialisation"]
    return [f"header {e}" for e in errors(spec["protectedHeader"], b64_json(parts[0]))] + [
        f"claims {e}" for e in errors(spec["claims"], b64_json(parts[1]))
    ]


def section_header_errors(envelope: dict[str, Any]) -> list[str]:
    """The protected header of each sealed section of an event: `SealedSectionHeader`, its
    `eid` the event's id (a section copied from another event does not open), its `kid`
    naming the event's child and the section's purpose (as the backbone admits it)."""
    data = envelope.get("data")
    sealed = data.get("sealed") if isinstance(data, dict) else None
    if not isinstance(sealed, dict):
        return []
    header_schema = {"$ref": SCHEMAS + "SealedSectionHeader"}
    found = []
    for purpose, token in sealed.items():
        try:
            header = b64_json(str(token).split(".")[0])
        except (ValueError, UnicodeDecodeError):
            found.append(f"data/sealed/{purpose}: no readable protected header")
            continue
        found += [f"data/sealed/{purpose} header {e}" for e in errors(header_schema, header)]
        if header.get("eid") != envelope.get("id"):
            found.append(f"data/sealed/{purpose} header: eid is not the event's id")
        if str(header.get("kid")).split("/")[:2] != [envelope.get("subject"), purpose]:
            found.append(f"data/sealed/{purpose} header: kid names another child or purpose")
    return found


@dataclass(frozen=True)
class Message:
    channel: str
    key: str
    message: dict[str, Any]


@functools.cache
def address_pattern(address: str) -> re.Pattern[str]:
    parts = []
    for token in address.split("."):
        if (token.startswith("{") and token.endswith("}")) or token == "*":
            parts.append(r"[^.]+")
        elif token == ">":
            parts.append(r".+")
        else:
            parts.append(re.escape(token))
    return re.compile(r"\.".join(parts))


def messages_for(subject: str) -> Iterator[Message]:
    """The messages of every channel whose address the subject fits (exact ones first)."""
    yield from _messages_for(subject)


@functools.lru_cache(maxsize=4096)
def _messages_for(subject: str) -> tuple[Message, ...]:
    return tuple(_matching(subject))


def _matching(subject: str) -> Iterator[Message]:
    channels = document()["channels"]
    ordered = sorted(
        channels.items(),
        key=lambda item: "*" in str(item[1].get("address")) or ">" in str(item[1].get("address")),
    )
    for key, channel in ordered:
        address = channel.get("address")
        if address is None or not address_pattern(address).fullmatch(subject):
            continue
        for ref in channel.get("messages", {}).values():
            yield Message(key, ref["$ref"].rsplit("/", 1)[-1], resolve(ref))


def message_errors(
    message: dict[str, Any], payload: Any, headers: dict[str, str] | None
) -> list[str]:
    """What is wrong with one message (payload as parsed JSON, or the raw string of a JWS)."""
    found: list[str] = []
    schema = message.get("payload", {})
    resolved = resolve(schema) if "$ref" in schema else schema
    if "x-ketenbus-jws" in resolved:
        if not isinstance(payload, str):
            return ["the payload is no JWS string"]
        found += errors(resolved, payload) + jws_errors(resolved, payload)
    elif resolved.get("format") != "binary":
        found += errors(schema, payload)
    if not found and isinstance(payload, dict):
        found += section_header_errors(payload)
    if "headers" in message:
        header_schema = resolve(message["headers"])
        found += [f"headers {e}" for e in errors(header_schema, headers or {})]
        for name, prop in header_schema.get("properties", {}).items():
            if "x-ketenbus-jws" in prop and headers and name in headers:
                found += jws_errors(prop, headers[name])
    return found
