"""The command line: argument parsing (main), one module per subcommand,
the devd hooks' entry points (carpevent, geomevent)."""
