"""The HTTP API: an app factory that assembles each domain's router."""
