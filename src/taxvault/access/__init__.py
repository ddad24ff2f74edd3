"""Identities, policies, masking, grants and the door: the one path to protected data.

- :mod:`~taxvault.access.door`: the door, transport-neutral: session -> unit of work ->
  locate -> decide (Cedar) -> fetch or write -> mask -> audit -> commit (fail closed).
- :mod:`~taxvault.access.http`: the FastAPI adapter (token, Purpose-Of-Use, rate limit).
- :mod:`~taxvault.access.local`: the CLI and job adapter (``--as``, system principals).
- :mod:`~taxvault.access.events`: the one builder of audit events.
- :mod:`~taxvault.access.tokens`: bearer JWTs (PyJWT) against a JWKS; the embedded issuer.
- :mod:`~taxvault.access.policy`: Cedar policies and schema (``policies/``), validated at start-up.
- :mod:`~taxvault.access.disclosure`: what each permit discloses (``@disclose`` annotations).
- :mod:`~taxvault.access.principals`: who the caller is and how she relates to a taxpayer.
- :mod:`~taxvault.access.masking`: last four, year only, or in full, by role and purpose.
"""
