"""Notices: the rules that issue them, their templates, and PDF rendering."""
