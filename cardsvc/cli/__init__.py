"""The `cardsvc` command line: one module per subcommand."""
