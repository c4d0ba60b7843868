"""carpha's hands on the host: the runner (the only module that starts processes), probes, GARP frames."""
