"""convzoo.cli: the console entry point; each room registers its own subcommands."""
