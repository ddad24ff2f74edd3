"""Identities, policies, masking, grants and the Gate: the one door to protected data."""
