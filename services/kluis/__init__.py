"""kluis: the key service. Data keys per (child, purpose), released by policy, logged."""
