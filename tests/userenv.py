"""The environment a user's shell has, for tests that run `ketenbus` as a user runs it."""

from __future__ import annotations

import os

# Kept from the tests' own environment: how long `up` waits for a service to start is a bound
# for a shared, loaded machine (tests/conftest.py), not part of what the user configured.
KEPT = ("KETENBUS_UP_READY_TIMEOUT",)


def user_env() -> dict[str, str]:
    """os.environ without the tests' KETENBUS_ settings (a user sets none), bar the start bound."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KETENBUS_") or k in KEPT}
