"""ketenbus services: the shared runtime and one package per domain service."""
