"""handover: the warm handover at every transition, with OSO dossiers in and out."""
