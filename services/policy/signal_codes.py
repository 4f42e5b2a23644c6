"""What a partner checks before it seals a signal, read from the region's signalling rules.

The signalling service reads the whole of `infra/signalling/rules.yaml`; a partner's side (the
CLI, the web app's form) needs only the part the rules publish for it: the concern codes it
may seal, the age bands a signal declares, the age limit and how long a signal is kept at most
(Jeugdwet afdeling 7.1). The backbone never sees the codes: they travel sealed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from ketenbus_contracts.signalling import age_band_of, signal_period
from services.infra import INFRA_DIR

RULES_PATH = INFRA_DIR / "signalling" / "rules.yaml"


@dataclass(frozen=True)
class SignalCodes:
    """The concern codes (code -> Dutch label), the age bands, the age limit and the longest a
    signal is kept (in years)."""

    concern_domains: dict[str, str]
    age_bands: tuple[str, ...]
    age_limit_years: int
    max_years: int

    def age_band(self, birth_date: date, on: date) -> str | None:
        """The band the child is in on `on`; None from the age limit on."""
        return age_band_of(birth_date, on, self.age_bands)

    def removal_on(self, registered_on: date, birth_date: date | None) -> date:
        """The planned removal date: the longest a signal is kept, before the age limit."""
        return signal_period(
            registered_on, birth_date, max_years=self.max_years, age_limit=self.age_limit_years
        )


def load_signal_codes(path: Path = RULES_PATH) -> SignalCodes:
    raw = yaml.safe_load(path.read_text())
    years = re.fullmatch(r"P([0-9]+)Y", raw["lifecycle"]["max_signal_duration"])
    if years is None:
        raise ValueError("max_signal_duration is read here in whole years (PnY)")
    return SignalCodes(
        concern_domains=dict(raw["concern_domains"]),
        age_bands=tuple(raw["age_bands"]),
        age_limit_years=int(raw["lifecycle"]["age_limit_years"]),
        max_years=int(years.group(1)),
    )
