"""The vindplaatsen register (seed 000, 1.1): who handles signals at each childcare location,
consultation bureau and school, from `infra/signalling/vindplaatsen.yaml`.

Professional contact points only; nothing about a child. Queried by `ketenbus signal vindplaats`
and by partner systems that need to know whom to call; a match names each signaller's contact
person from here (`match_contact`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from services.infra import INFRA_DIR
from services.signalling.domain import Party

VINDPLAATSEN_PATH = INFRA_DIR / "signalling" / "vindplaatsen.yaml"

Kind = Literal["childcare", "consultation-bureau", "school"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ContactPerson(_Strict):
    function: str
    phone: str = ""
    email: str = ""


class Vindplaats(_Strict):
    id: str
    kind: Kind
    name: str
    partner: str
    codes: dict[str, str] = Field(default_factory=dict)
    municipality: str
    contact: ContactPerson


class VindplaatsRegister(_Strict):
    version: str
    vindplaatsen: list[Vindplaats]

    def find(
        self,
        *,
        kind: str | None = None,
        partner: str | None = None,
        municipality: str | None = None,
        code: str | None = None,
    ) -> list[Vindplaats]:
        """The vindplaatsen matching every given criterion (`code`: any organisation code)."""
        return [
            v
            for v in self.vindplaatsen
            if (kind is None or v.kind == kind)
            and (partner is None or v.partner == partner)
            and (municipality is None or v.municipality == municipality)
            and (code is None or code in v.codes.values())
        ]

    def of_signaller(self, signaller: Party) -> Vindplaats | None:
        """The vindplaats a signal arose at: the one it names (of its own partner only), or
        the partner's only one; None when neither applies."""
        own = self.find(partner=signaller.partner)
        named = signaller.vindplaats
        if named is not None:
            return next((v for v in own if v.id == named), None)
        return own[0] if len(own) == 1 else None

    def match_contact(self, signaller: Party) -> dict[str, str]:
        """How the parties to a match reach a signaller: the signal's own role and contact,
        with its vindplaats's contact person where there is one (`MatchContact`)."""
        contact = {
            "partner": signaller.partner,
            "role": signaller.role,
            "contact": signaller.contact,
        }
        vindplaats = self.of_signaller(signaller)
        if vindplaats is None:
            return contact
        person = vindplaats.contact
        return contact | {
            "vindplaats": vindplaats.name,
            "function": person.function,
            "phone": person.phone,
            "email": person.email,
        }


def load_vindplaatsen(path: Path = VINDPLAATSEN_PATH) -> VindplaatsRegister:
    return VindplaatsRegister.model_validate(yaml.safe_load(path.read_text()))
