"""The safety decisions: witness, split brain, damping, maintenance, watchdog, claims, boot identity."""
