"""Widgets of the tailor TUI that are shared by screens or too large to live in one."""
