"""The pseudonym service: the only process holding the pseudonym secret."""
