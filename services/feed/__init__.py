"""The feed: each partner reads the events about its own children, and its receipts."""
