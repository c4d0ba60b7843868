"""One module per resource, each exposing an opposite pair of Actions:
addresses (claim/release), storage (promote/demote), jails (start/stop),
replica (attach/detach). Actions never call each other; only
carpha.engine.transitions knows their order."""
