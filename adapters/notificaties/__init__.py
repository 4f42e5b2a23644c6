"""Webhook bridge: ketenbus events as VNG Notificaties API 1.0 notifications."""
