"""One module per ``ds-runner`` sub-command; each exposes ``command`` and returns an exit code."""
