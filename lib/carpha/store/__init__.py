"""Stored state: per-group state, journals, locks and the safe file handling under them."""
