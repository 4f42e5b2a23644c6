"""OSO (Overstapservice Onderwijs): handover dossiers in and out of ketenbus."""
