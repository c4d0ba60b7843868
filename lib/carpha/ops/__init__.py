"""The operator's tools: the read-only survey and what check, status, log, run-if-master and copy show."""
