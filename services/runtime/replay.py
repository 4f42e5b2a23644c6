"""Answering a signed request once: the nonces seen within the freshness window.

kluis's batches, the pseudonym service's requests and the handover's attachment requests carry a
`nonce`; a request copied off the wire and sent again within the window is refused
(`replayed-request`) instead of being answered (and logged, and charged) a second time. Kept in
memory, which is enough because a request older than the window is refused as stale anyway; a
restart forgets the nonces, so a request copied less than one window before a restart could be
answered once more after it.
"""

from __future__ import annotations


class ReplayGuard:
    """The nonces of the signed requests answered within the freshness window, per partner.

    A request older than the window is refused as stale before it gets here, so a nonce need
    only be remembered that long.
    """

    def __init__(self, window_seconds: float) -> None:
        self.window = window_seconds
        self._seen: dict[tuple[str, str], float] = {}

    def first_time(self, partner: str, nonce: str, now: float) -> bool:
        """True the first time (partner, nonce) is seen within the window; remembers it."""
        if len(self._seen) > 1000:  # prune now and then, not on every request
            self._seen = {k: t for k, t in self._seen.items() if now - t <= 2 * self.window}
        seen = self._seen.get((partner, nonce))
        if seen is not None and now - seen <= 2 * self.window:
            return False
        self._seen[(partner, nonce)] = now
        return True
