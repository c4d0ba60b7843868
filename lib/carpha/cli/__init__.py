"""The command line: argument parsing, one module per group of subcommands, the devd hooks' entry points."""
