"""One module per CLI subcommand: each parses nothing and renders what core returns."""
