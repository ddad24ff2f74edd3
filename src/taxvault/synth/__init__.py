"""Synthetic population: deterministic for a seed, generated and loaded in chunks.

Every identifier it makes is in a synthetic range (SSN area 900-999 with group
01-49, EIN prefix 00, routing numbers with the unassigned prefix 50), so nothing it
writes can be a real person's number.
"""
