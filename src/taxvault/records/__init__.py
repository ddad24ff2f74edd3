"""Taxpayer records over the API: service functions (pure reads on a connection) and the router."""
