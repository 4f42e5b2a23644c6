"""Settings of the whole system, only from the environment (`KETENBUS_…`) or arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def server_list(url: str) -> list[str]:
    """A NATS URL setting as the list of servers: a cluster is given comma-separated."""
    return [part.strip() for part in url.split(",") if part.strip()]


class TickSettings(BaseSettings):
    """A service's own clock: `KETENBUS_<SERVICE>_TICK_INTERVAL` seconds between the runs of its
    time-driven rules (tests shorten it); read with the service's prefix by `tick_interval`."""

    model_config = SettingsConfigDict(extra="ignore")
    tick_interval: float | None = Field(default=None, gt=0)


def tick_interval(service: str, default: float) -> float:
    """Seconds between `service`'s ticks: its `KETENBUS_<SERVICE>_TICK_INTERVAL`, or `default`."""
    own = TickSettings(_env_prefix=f"KETENBUS_{service.upper()}_")  # type: ignore[call-arg]
    return own.tick_interval or default


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KETENBUS_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".ketenbus"), description="Everything the system writes goes below here"
    )
    nats_url: str | None = Field(
        default=None, description="An existing NATS server; unset starts an embedded one"
    )
    nats_replicas: int = Field(
        default=1, ge=1, le=5, description="Stream replicas (3 in a cluster)"
    )
    nats_auth: Literal["none", "registry"] | None = Field(
        default=None,
        description=(
            "NATS authorization: `registry` starts the embedded nats-server with the users and "
            "allow-lists generated from the partner registry (infra/nats/auth.conf) and "
            "connects every process as its own NATS user (services/runtime/nats_auth.py); "
            "`none` connects everything without credentials. Unset: `registry` for the "
            "embedded server, `none` with KETENBUS_NATS_URL (an external server's operator "
            "enables its authorization, see infra/nats/cluster-node.conf)"
        ),
    )
    nats_tls_ca: Path | None = Field(
        default=None,
        description=(
            "CA certificate (PEM) the NATS servers' certificates are checked against; set, every "
            "connection is TLS (a cluster's nodes, infra/nats/cluster-node.conf)"
        ),
    )
    nats_tls_cert: Path | None = Field(
        default=None,
        description=(
            "Client certificate (PEM) shown to a NATS server that asks for one (`verify: true`); "
            "with KETENBUS_NATS_TLS_KEY"
        ),
    )
    nats_tls_key: Path | None = Field(
        default=None, description="The client certificate's private key (PEM)"
    )
    nats_nkey_seed_file: str | None = Field(
        default=None,
        description=(
            "A file with the NATS user's NKEY seed (`SU…`): the process proves its user with it "
            "instead of a password, whatever KETENBUS_NATS_AUTH says. `{user}` in the path is "
            "the user connecting (`/etc/ketenbus/nkeys/{user}.nk`), for a process that "
            "connects as more than one (`ketenbus up`: `backbone` and each service)"
        ),
    )
    nats_creds_file: str | None = Field(
        default=None,
        description=(
            "A NATS credentials file (user JWT and NKEY seed, from an operator's account "
            "server); as KETENBUS_NATS_NKEY_SEED_FILE, `{user}` in the path is the user"
        ),
    )
    store: Literal["sqlite", "postgres"] = "sqlite"
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_dbname: str = "ketenbus"
    postgres_user: str = "postgres"
    postgres_password: SecretStr = SecretStr("")
    postgres_schema: str = "public"
    postgres_pool_size: int = Field(
        default=2, ge=1, le=100, description="Connections each service's store keeps open"
    )
    postgres_max_overflow: int = Field(
        default=2,
        ge=0,
        le=100,
        description=(
            "Connections a store may open beyond its pool for a moment (eventsourcing's default "
            "of 10 let nine services and a command pass PostgreSQL's 100 clients together)"
        ),
    )
    signatures: Literal["required", "verify-if-present"] = Field(
        default="required",
        description=(
            "Partner signatures on inbound events: `required` (the default) refuses unsigned "
            "events (`missing-signature`); `verify-if-present` lets unsigned ones through, only "
            "as a migration setting while a partner's system learns to sign. A forged or "
            "altered signature is always refused."
        ),
    )
    inbound_max_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=512 * 1024,
        description=(
            "Largest inbound message a service or ingress accepts, checked before parsing: a "
            "larger one is dead-lettered as `too-large` with its size and sha256, never its "
            "body. At most half the server's max_payload (1 MiB, services/runtime/"
            "nats_server.py and infra/nats/cluster-node.conf), so the sealed original of any "
            "other refusal still fits in its dead letter"
        ),
    )
    inbound_max_depth: int = Field(
        default=32,
        ge=4,
        le=128,
        description=(
            "Deepest nesting of JSON objects and arrays an inbound message may have, checked "
            "before parsing (`too-deep`); contract events need about 8"
        ),
    )
    handler_max_deliveries: int = Field(
        default=5,
        ge=1,
        le=100,
        description=(
            "How often a service tries a consumed message whose handling raises an unexpected "
            "error (a fault of the code, not of the infrastructure) before it dead-letters it as "
            "`unexpected-error` and goes on; between tries the service restarts its consumers "
            "from the stored position with a growing pause. Failures of the store or NATS are "
            "retried for as long as they last and never dead-letter a message"
        ),
    )
    task_max_failures: int = Field(
        default=10,
        ge=1,
        le=1000,
        description=(
            "Failures in a row of a service's long-running task (its outbox relay, the start "
            "of its consumers, its ticks, its audit witness) after which the service gives up "
            "and exits non-zero, for its supervisor to start it again; before that the task is "
            "started again after a pause that doubles with each failure"
        ),
    )
    task_max_restarts: int = Field(
        default=30,
        ge=1,
        le=10000,
        description=(
            "Restarts of a service's long-running task within `KETENBUS_TASK_RESTART_WINDOW` "
            "after which the service gives up and exits non-zero, even when the task made some "
            "progress between its failures (a relay or tick that fails again each time soon "
            "after it starts)"
        ),
    )
    task_restart_window: float = Field(
        default=600.0,
        gt=0,
        description="Seconds over which a task's restarts are counted (`_TASK_MAX_RESTARTS`)",
    )
    task_restart_backoff: float = Field(
        default=0.5, gt=0, description="Seconds before a failed task's first restart"
    )
    task_max_backoff: float = Field(
        default=30.0, gt=0, description="The longest pause before a failed task's restart"
    )
    up_max_restarts: int = Field(
        default=5,
        ge=0,
        le=1000,
        description=(
            "How often `ketenbus up` starts a process that exited (a service, the webhook "
            "bridge, the embedded nats-server) again within `KETENBUS_UP_RESTART_WINDOW`; "
            "one more exit and it gives up: it stops everything and exits non-zero"
        ),
    )
    up_restart_window: float = Field(
        default=300.0, gt=0, description="Seconds over which `ketenbus up` counts restarts"
    )
    up_ready_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds `ketenbus up` waits for every service's first health answer",
    )
    lease_ttl: float = Field(
        default=15.0,
        ge=1.0,
        le=600.0,
        description=(
            "Seconds a lease of a service's instance (its partitions, its outbox, its ticks; "
            "services/runtime/leases.py) lasts without renewal; renewed every third of it. An "
            "instance whose process ended loses its leases at once, one that hangs after this"
        ),
    )
    http_host: str = Field(
        default="127.0.0.1",
        description=(
            "Where a service with `KETENBUS_<SERVICE>_HTTP_PORT` answers /healthz, /readyz "
            "and /metrics (loopback unless set)"
        ),
    )
    gc_young_threshold: int = Field(
        default=10_000,
        ge=0,
        description=(
            "Allocations between collections of Python's youngest garbage generation in a "
            "service process (Python's default: 700; 0 keeps it). A consumed batch allocates "
            "hundreds of thousands of short-lived objects that reference counting frees anyway; "
            "with the default the cyclic collector ran often enough to take 15-25 % of a "
            "batch's CPU (bench/README.md)."
        ),
    )
    audit_replay_workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description=(
            "Processes that project `ketenbus audit replay` (each child's events in one of "
            "them, in stream order); unset or 1: in the replay's own process; more pays only "
            "where each has a core to itself (measured slower on a shared 2-core host: "
            "bench/README.md)"
        ),
    )
    outbox_handoff_check: bool = Field(
        default=False,
        description=(
            "The outbox relay also reads what it takes from the in-memory hand-off back from "
            "the store and stops (HandoffMismatchError) where the contract events differ: "
            "on in the test suite, which so checks every relayed event it makes"
        ),
    )
    audit_witness_interval: float = Field(
        default=5.0,
        ge=0,
        description=(
            "Seconds between a running service's witnesses of its own new stored rows into "
            "the audit hash chain (0: only `ketenbus audit verify` witnesses)"
        ),
    )
    kluis_retention_interval: float = Field(
        default=3600.0,
        gt=0,
        description=(
            "Seconds between kluis's checks for keys whose retention (processing register) "
            "ran out; each scope whose period passed has its keys destroyed"
        ),
    )
    kluis_master_key: Literal["file", "pkcs11"] = Field(
        default="file",
        description=(
            "Where kluis's master key lives: `file` in <data_dir>/secrets/master.key, or "
            "`pkcs11` in an HSM's token, never leaving it (services/kluis/master_key.py)"
        ),
    )
    pkcs11_module: Path | None = Field(
        default=None,
        description=(
            "The PKCS#11 module (the HSM vendor's .so) holding kluis's master key and the "
            "pseudonym secret where they are kept in a token (services/runtime/hsm.py)"
        ),
    )
    pkcs11_token: str | None = Field(default=None, description="The token's label")
    pkcs11_pin: SecretStr = Field(
        default=SecretStr(""), description="The token's user PIN (from the secret store)"
    )
    kluis_pkcs11_key_label: str = Field(
        default="ketenbus-master", description="The master key's label in the token"
    )
    kluis_pkcs11_create_key: bool = Field(
        default=False,
        description=(
            "Make the master key in the token when it has none under the label (once, at the "
            "first start; otherwise a missing key is an error, never a new key made silently)"
        ),
    )
    pseudonym_key_store: Literal["file", "pkcs11"] = Field(
        default="file",
        description=(
            "Where the pseudonym service's secret lives: `file` in the data dir's secrets "
            "(services/pseudonym/bootstrap.py), or `pkcs11` in the token (KETENBUS_PKCS11_*), "
            "every pseudonym an HMAC computed inside it"
        ),
    )
    pseudonym_pkcs11_key_label: str = Field(
        default="ketenbus-pseudonym", description="The pseudonym secret's label in the token"
    )
    pseudonym_pkcs11_import: bool = Field(
        default=False,
        description=(
            "When the token has no secret under the label: put the data dir's secret file into "
            "it (the pseudonyms stay what they were; keep the file offline afterwards), or make "
            "a new one where there is no file (a new system only). Once, then off"
        ),
    )
    processing_register: Path | None = Field(
        default=None,
        description=(
            "The register of processing activities kluis enforces (unset: "
            "infra/processing-register.yaml); a region's own, as its FG confirmed it"
        ),
    )
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: str = "INFO"

    # The webhook bridge (adapters/notificaties) and the API its notifications point to.
    notificaties: Literal["on", "off"] = Field(
        default="off",
        description="`on`: `ketenbus up` also runs the Notificaties webhook bridge as a process",
    )
    api_base_url: str = Field(
        default="http://127.0.0.1:8080",
        description=(
            "Where partners reach the HTTP API (`ketenbus web`): notifications' hoofdObject "
            "and resourceUrl start with it"
        ),
    )

    @model_validator(mode="after")
    def _authorization_by_server(self) -> Settings:
        """Unset `nats_auth`: authorization on for the embedded server, off for an external one.
        Resolved once, so the processes started with `to_env` all get the same setting."""
        if self.nats_auth is None:
            self.nats_auth = "none" if self.nats_url else "registry"
        return self

    @model_validator(mode="after")
    def _client_certificate_with_its_key(self) -> Settings:
        if (self.nats_tls_cert is None) != (self.nats_tls_key is None):
            raise ValueError("KETENBUS_NATS_TLS_CERT and KETENBUS_NATS_TLS_KEY go together")
        return self

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "stores"

    @property
    def nats_dir(self) -> Path:
        return self.data_dir / "nats"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def to_env(self) -> dict[str, str]:
        """These settings as `KETENBUS_…` variables, for the service processes we start."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"KETENBUS_{name.upper()}"] = str(value)
        env["KETENBUS_DATA_DIR"] = str(self.data_dir.resolve())
        return env
