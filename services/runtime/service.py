"""The shape every service shares, so that a service writes down only what is its own.

- `Consumes`: one durable consumer of a service (the events on it, how each is decoded, whether
  the partners' signatures are checked first); its handlers module lists them.
- `Answers`: a request/reply subject whose body (a signed request, as raw bytes) the
  application answers in the store thread.
- `ServiceApplication`: the application base: a command runs in the consumer's batch or on its
  own (and is saved), an aggregate is loaded by its key or created; `RuledApplication` has
  its rules besides, `RequestDesk` answers signed requests with its own keys.
- `Service`: a service's composition root in one value: its application and what that needs
  from the settings, its consumers and other subscribers, its translation, its clock; it builds
  the application and the `ServiceSpec` the host runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar, cast, get_type_hints

from faststream.nats import NatsMessage, NatsRouter
from joserfc.jwk import OKPKey
from nats.aio.msg import Msg
from pydantic import BaseModel, SkipValidation, TypeAdapter

from ketenbus_contracts.arrangements import ArrangementsEvent
from ketenbus_contracts.envelope import CloudEvent
from ketenbus_contracts.handover import HandoverEvent
from ketenbus_contracts.plan import PlanEvent
from ketenbus_contracts.privacy import ChildErased
from ketenbus_contracts.sealing import MAX_REQUEST_SKEW_SECONDS, PartnerKeys
from ketenbus_contracts.signalling import SignallingEvent
from ketenbus_contracts.truancy import TruancyEvent
from services.runtime.batching import batch_consumer, stream_subscriber
from services.runtime.host import ServiceContext, ServiceSpec
from services.runtime.outbound import Outbound
from services.runtime.outbox import Translate
from services.runtime.partitions import listed_partitions
from services.runtime.partners import PartnerRegistry
from services.runtime.replay import ReplayGuard, Replays
from services.runtime.settings import Settings, tick_interval
from services.runtime.signers import OwnKeys
from services.runtime.store import Batch, Clock, Inbound, TrackedApplication, store_env, utcnow
from services.runtime.streams import (
    ARRANGEMENTS,
    HANDOVER,
    PLAN,
    PRIVACY,
    SIGNALLING,
    TRUANCY,
    ConsumerSpec,
    ObjectStoreSpec,
)

A = TypeVar("A")
A_co = TypeVar("A_co", covariant=True)
R = TypeVar("R")
Rules = TypeVar("Rules")
Directory = TypeVar("Directory")
App = TypeVar("App", bound=TrackedApplication)

# How a consumer's fetched batch is handled when not by `ServiceContext.consume` (the feed's
# copies): (the running service, the consumer, its messages).
Consume = Callable[[ServiceContext, ConsumerSpec, Sequence[Msg]], Awaitable[Any]]


# The events on each domain stream: what a consumer of it documents by default.
EVENTS_ON: dict[str, Any] = {
    SIGNALLING.name: SignallingEvent,
    HANDOVER.name: HandoverEvent,
    ARRANGEMENTS.name: ArrangementsEvent,
    TRUANCY.name: TruancyEvent,
    PLAN.name: PlanEvent,
    PRIVACY.name: ChildErased,
}


@dataclass(frozen=True)
class Consumes:
    """One durable consumer of a service and what it does: the events on it (`payload`, what
    the AsyncAPI document shows; by default those of its stream), how each message is decoded
    (`decode`: by default the payload's JSON validation), and whether the publishing partner's
    signature is checked first (`signed`: the partners' own events on INBOUND; the backbone's
    streams are not signed)."""

    consumer: ConsumerSpec
    description: str
    payload: Any = None
    signed: bool = False
    decode: Callable[[bytes], Any] | None = None
    # Another way to handle a fetched batch than `ServiceContext.consume` (the feed's copies).
    consume: Consume | None = None

    def __post_init__(self) -> None:
        if self.payload is None:
            object.__setattr__(self, "payload", EVENTS_ON[self.consumer.stream.name])

    @cached_property
    def decoder(self) -> Callable[[bytes], Any]:
        if self.decode is not None:
            return self.decode
        return cast(Callable[[bytes], Any], TypeAdapter[Any](self.payload).validate_json)

    def subscribe(self, router: NatsRouter, ctx: ServiceContext | None, service: str) -> None:
        title = f"{service}/{self.consumer.stream.name.lower()}"
        if self.consume is None:
            batch_consumer(
                router, self.consumer, ctx, self.payload, self.decoder,
                title=title, description=self.description, signed=self.signed,
            )  # fmt: skip
            return
        consume, consumer = self.consume, self.consumer

        async def on_batch(events: Any, msg: NatsMessage) -> None:
            # `events` documents the payload (validation skipped): `consume` decodes each.
            if ctx is None:
                raise RuntimeError(f"{title} subscribed without its running service")
            await consume(ctx, consumer, cast(list[Msg], msg.raw_message))

        on_batch.__annotations__ = {
            "events": SkipValidation[list[self.payload]],  # type: ignore[name-defined]
            "msg": NatsMessage,
            "return": None,
        }
        stream_subscriber(router, consumer, title=title, description=self.description)(on_batch)


def application_of(ctx: ServiceContext | None, kind: type[A]) -> A:
    """The running service's application, of the kind its handlers were written for."""
    if ctx is None or not isinstance(ctx.application, kind):
        raise RuntimeError(f"{kind.__name__}'s handlers used without its running service")
    return ctx.application


@dataclass(frozen=True)
class Answers:
    """A request/reply subject of a service (queue group: the service's name) whose answer is
    `answer(application, body)`, run in the store thread. The body is handed over as raw bytes
    (a JWS compact serialisation, checked by the application): faststream would decode a JSON
    body (an unsigned request) and refuse it unanswered. The AsyncAPI document shows the
    answer's model (`answer`'s return annotation) under `title` (by default
    `<service>/<the subject's last word>`)."""

    subject: str
    description: str
    answer: Callable[[Any, bytes], BaseModel]
    title: str = ""

    def subscribe(self, router: NatsRouter, ctx: ServiceContext | None, service: str) -> None:
        title = self.title or f"{service}/{self.subject.rsplit('.', 1)[-1]}"
        answer = self.answer

        async def on_request(body: Any, msg: NatsMessage) -> Any:
            if ctx is None:
                raise RuntimeError(f"{title} subscribed without its running service")
            result = await ctx.call(answer, ctx.application, msg.body)
            if ctx.metrics is not None:
                # By the subscription's subject (never the request's): kluis's key releases
                # are `ketenbus_requests_total{subject="ketenbus.kluis.key",outcome="ok"}`.
                outcome = "ok" if getattr(result, "ok", True) else "refused"
                ctx.metrics.requests.labels(self.subject, outcome).inc()
            return result

        on_request.__annotations__ = {
            "body": SkipValidation[bytes],
            "msg": NatsMessage,
            "return": get_type_hints(answer)["return"],
        }
        subscriber = router.subscriber(
            self.subject, queue=service, title=title, description=self.description
        )
        subscriber(on_request)


class ServiceApplication(TrackedApplication):
    """A service's application: commands run in the consumer's batch (recorded with its
    position by `process_batch`) or, called on their own, in a batch of their own that is
    saved at once; aggregates are loaded by their key or created."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Clock = utcnow,
        *,
        inbound: Inbound | None = None,
    ) -> None:
        super().__init__(env, inbound, clock)

    def run(self, batch: Batch | None, work: Callable[[Batch], R]) -> R:
        """Run `work` in the consumer's `batch`, or in one of its own that is then saved."""
        own = batch or Batch(self.repository)
        result = work(own)
        if batch is None:
            self.save(*own.aggregates)
        return result

    def load(self, batch: Batch | None, kind: Keyed[A], key: Any) -> A:
        """The `kind` aggregate of `key` as `batch` sees it (a new one when there is none)."""
        return (batch or Batch(self.repository)).get(kind.create_id(key), lambda: kind(key))

    def tick(self, now: datetime) -> object:
        """The time-driven rules at `now` (a service with a clock has them)."""
        raise NotImplementedError(f"{type(self).__name__} has no time-driven rules")


class RuledApplication(ServiceApplication, Generic[Rules]):
    """A service's application decided by its `rules` (given, or its own `default_rules`)."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Clock = utcnow,
        rules: Rules | None = None,
        *,
        inbound: Inbound | None = None,
    ) -> None:
        super().__init__(env, clock, inbound=inbound)
        self.rules: Rules = self.default_rules() if rules is None else rules

    def default_rules(self) -> Rules:
        raise NotImplementedError(f"{type(self).__name__} is given its rules")


class RequestDesk(ServiceApplication, Generic[Directory]):
    """An application that answers partners' signed requests (kluis, pseudonym): who they are
    and their keys (`directory`), its own keys (what is sealed to it opens with them), each
    request answered once within the allowed clock skew (`replays`)."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Clock = utcnow,
        *,
        directory: Directory,
        own_keys: PartnerKeys | OwnKeys,
        inbound: Inbound | None = None,
    ) -> None:
        super().__init__(env, clock, inbound=inbound)
        self.directory = directory
        self._own_keys = own_keys
        # In memory until its running service gives it the shared guard (its instances' own
        # bucket, kept over a restart: services.runtime.replay); checked in the store thread.
        self.replays: Replays = ReplayGuard(MAX_REQUEST_SKEW_SECONDS)

    @property
    def own_keys(self) -> PartnerKeys:
        """Its key pairs, as its data directory has them now (a rotation is taken in)."""
        own = self._own_keys
        return own.current() if isinstance(own, OwnKeys) else own

    def decryption_keys(self) -> tuple[OKPKey, ...]:
        """Every X25519 key what is sealed to it may be sealed to: the current one, those
        kept from before a rotation, a prepared next one (`OwnKeys`: looked at now)."""
        return self._own_keys.decryption_keys()


class Keyed(Protocol[A_co]):
    """An aggregate class made from, and found by, one key (a child, a region, a household)."""

    def __call__(self, key: Any, /) -> A_co: ...

    def create_id(self, key: Any, /) -> Any: ...


def _nothing(settings: Settings, registry: PartnerRegistry) -> Mapping[str, Any]:
    return {}


def _tick(application: Any, now: datetime) -> None:
    application.tick(now)


@dataclass(frozen=True)
class Translation:
    """A service's translation module: inbound contract events → commands (`inbound`), its
    domain events → contract events (`to_contract`), and the contract events that can be
    (`publishes`, for the AsyncAPI document: by default those of its `Outbound`)."""

    inbound: Inbound | None
    to_contract: Translate
    declared: tuple[type[CloudEvent[Any]], ...] = ()

    @property
    def publishes(self) -> tuple[type[CloudEvent[Any]], ...]:
        if self.declared or not isinstance(self.to_contract, Outbound):
            return self.declared
        return tuple(dict.fromkeys(contract for contract, _ in self.to_contract.contracts.values()))


@dataclass(frozen=True)
class Service(Generic[App]):
    """A service's composition root: what its bootstrap decides, everything else derived.

    `needs` reads what the application needs besides its store (its rules, keys) from the
    settings and the partner registry; `answers` its request/reply subjects, `routes` any
    other subscribers; the service is named as its application (its store always is) unless
    `name` says otherwise. It has a clock when its application keeps a due-at table (every
    minute) or `tick_every` says (seconds, or a function of nothing that reads them); the
    clock calls the application's `tick`, and `KETENBUS_<NAME>_TICK_INTERVAL` overrides its
    interval.
    """

    application: type[App]
    consumes: tuple[Consumes, ...] = ()
    needs: Callable[[Settings, PartnerRegistry], Mapping[str, Any]] = _nothing
    translation: Translation | None = None
    answers: tuple[Answers, ...] = ()
    routes: Callable[[NatsRouter, ServiceContext | None], None] | None = None
    tick_every: float | Callable[[], float] | None = None
    name: str = ""
    object_stores: tuple[ObjectStoreSpec, ...] = ()
    # Subjects it publishes besides its outbox's events, dead letters and receipts.
    publish_subjects: tuple[str, ...] = ()

    @property
    def service_name(self) -> str:
        return self.name or self.application.name

    def create_application(self, settings: Settings) -> App:
        """The application, its store from the settings, with what it `needs`; the partner
        registry is loaded here, once, and handed to `needs` and the application (its
        handlers read it there)."""
        registry = PartnerRegistry.load(settings.data_dir)
        options = dict(self.needs(settings, registry))
        if self.translation is not None and self.translation.inbound is not None:
            options["inbound"] = self.translation.inbound
        application = self.application(env=store_env(settings, self.application.name), **options)
        application.registry = registry
        return application

    def create_router(self, ctx: ServiceContext | None = None) -> NatsRouter:
        router = NatsRouter()
        for consumes in self.consumes:
            # Partitioned, one subscriber for each partition this instance consumes.
            parts = (consumes.consumer,) if ctx is None else ctx.active(consumes.consumer)
            for consumer in parts:
                part = (
                    consumes
                    if consumer is consumes.consumer
                    else replace(consumes, consumer=consumer)
                )
                part.subscribe(router, ctx, self.service_name)
        for answers in self.answers:
            answers.subscribe(router, ctx, self.service_name)
        if self.routes is not None:
            self.routes(router, ctx)
        return router

    def _tick_every(self) -> float | None:
        if callable(self.tick_every):
            return self.tick_every()
        if self.tick_every is None and self.application.scheduled:
            return 60.0  # what is due is due by the day: a minute is plenty
        return self.tick_every

    def service_spec(self) -> ServiceSpec:
        name, every, translation = self.service_name, self._tick_every(), self.translation
        return ServiceSpec(
            name=name,
            application_factory=self.create_application,
            router_factory=self.create_router,
            consumers=tuple(c.consumer for c in self.consumes),
            object_stores=self.object_stores,
            publish_subjects=self.publish_subjects,
            translate=None if translation is None else translation.to_contract,
            publishes=() if translation is None else translation.publishes,
            tick=None if every is None else _tick,
            tick_interval=60.0 if every is None else tick_interval(name, every),
            partitions=listed_partitions(name),
        )
