"""arrangements: support requests, TLVs, OPPs, youth-care decisions, combined arrangements,
funding disputes escalated to the holders of doorzettingsmacht, Variawet and regie."""
