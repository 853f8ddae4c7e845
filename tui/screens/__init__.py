"""Screens of the tailor TUI."""
