"""Logboek Dataverwerkingen (Logius): exporting kluis's processing log in the standard's shape."""
