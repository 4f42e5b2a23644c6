"""audit: verify signatures and hash chains, replay history, export the processing log."""
