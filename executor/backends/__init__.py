"""Backends: where a plan runs. Only this package imports `sky` (inside functions / child
processes), so importing tailor never loads SkyPilot."""
