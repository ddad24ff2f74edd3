"""Canonical record types and the value types that validate themselves."""
