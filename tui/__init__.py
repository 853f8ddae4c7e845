"""tailor: the CLI and the Textual app (the only package that imports textual, rich, click)."""
