"""Shared privacy policy: the processing register and the relation rules, pure evaluation.

kluis (which releases keys) and the feed service (which decides what a partner sees) both read
these, so neither imports the other.
"""
