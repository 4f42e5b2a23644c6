"""The runtime every service shares: settings, logging, NATS (embedded or external), streams,
event stores, the outbox relay and tracked consumption."""
