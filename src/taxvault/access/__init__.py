"""Identities, policies, masking, grants and the Gate: the one door to protected data.

- :mod:`~taxvault.access.tokens`: bearer JWTs (PyJWT) against a JWKS; the embedded issuer.
- :mod:`~taxvault.access.policy`: Cedar policies and schema (``policies/``), validated at start-up.
- :mod:`~taxvault.access.principals`: who the caller is and how she relates to a taxpayer.
- :mod:`~taxvault.access.masking`: last four, year only, or in full, by role and purpose.
- :mod:`~taxvault.access.gate`: authorize -> fetch -> mask -> audit -> respond (fail closed).
"""
