"""Adapters between partner systems' formats (EDEXML, OSO, CSV, webhooks) and ketenbus events."""
