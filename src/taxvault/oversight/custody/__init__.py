"""HTTP routes of data custody: ``/v1/grants`` and ``/v1/exports`` (services in oversight/grants.py, exports.py)."""
