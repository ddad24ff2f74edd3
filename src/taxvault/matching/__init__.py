"""Matching under agreements: agreements, tokenisation, linkage (Splink on DuckDB; Spark at scale), leads."""
