"""Rehearsals on the simulated cluster: carpha simulate's harness and scenarios, the soak, the watchdog rig."""
