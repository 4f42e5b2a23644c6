"""The Notificaties API 1.0 (VNG, ZGW) shapes the bridge speaks, and its channel config.

`Kanaal`, `Abonnement` (with its `kanalen` and per-channel `filters`) and `Notificatie` follow
the NRC's resources, so a municipal case system that already consumes ZGW notifications needs
no new code. One ketenbus extension: an `Abonnement` belongs to a registered `partner`, and is
only told about children that partner is involved with.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from ketenbus_contracts.envelope import PARTNER_ID_PATTERN
from services.infra import INFRA_DIR

CONFIG_PATH = INFRA_DIR / "notificaties" / "kanalen.yaml"

Actie = Literal["create", "update", "partial_update", "destroy"]


class _Vng(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Kanaal(_Vng):
    naam: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,49}$")]
    documentatie_link: str = Field(default="", alias="documentatieLink")
    filters: list[str] = Field(default_factory=list)


class AbonnementKanaal(_Vng):
    naam: str
    filters: dict[str, str] = Field(
        default_factory=dict,
        description="kenmerk → value; all must be equal (`#resource`, `#actie` match those)",
    )


class Abonnement(_Vng):
    callback_url: AnyHttpUrl = Field(alias="callbackUrl")
    auth: str = Field(description="The Authorization header value sent with every delivery")
    kanalen: Annotated[list[AbonnementKanaal], Field(min_length=1)]
    partner: Annotated[str, Field(pattern=PARTNER_ID_PATTERN)]


class Notificatie(_Vng):
    kanaal: str
    hoofd_object: str = Field(alias="hoofdObject")
    resource: str
    resource_url: str = Field(alias="resourceUrl")
    actie: Actie
    aanmaakdatum: datetime
    kenmerken: dict[str, str] = Field(default_factory=dict)

    def body(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class EventMapping(_Vng):
    kanaal: str
    resource: str
    actie: Actie


class Delivery(_Vng):
    backoff: Annotated[list[float], Field(min_length=1)]
    max_attempts: int = Field(ge=1)
    timeout: float = Field(gt=0)


class BridgeConfig(_Vng):
    version: str
    kanalen: list[Kanaal]
    events: dict[str, EventMapping]
    delivery: Delivery

    def kanaal(self, naam: str) -> Kanaal | None:
        return next((k for k in self.kanalen if k.naam == naam), None)


def load_config(path: Path = CONFIG_PATH) -> BridgeConfig:
    return BridgeConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def matches(abonnement: Abonnement, notificatie: Notificatie) -> bool:
    """Whether the subscription wants this notification (channel and all its filters)."""
    for kanaal in abonnement.kanalen:
        if kanaal.naam != notificatie.kanaal:
            continue
        fields = notificatie.kenmerken | {
            "#resource": notificatie.resource,
            "#actie": notificatie.actie,
        }
        if all(fields.get(key) == value for key, value in kanaal.filters.items()):
            return True
    return False
