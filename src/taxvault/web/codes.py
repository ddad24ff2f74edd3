"""One-time sign-in codes: the credential the embedded issuer checks (never a bare principal picker).

Why: the embedded issuer has no passwords. An administrator (or the person herself, on a
machine she controls) mints a code with ``taxvault console sign-in-code --as E000012``; it is
random (100 bits), stored only as a keyed hash, valid for 10 minutes and redeemed at most
once (a conditional UPDATE, so two redemptions at once cannot both succeed).
"""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from taxvault.errors import NotFound
from taxvault.store.tables import principals
from taxvault.web.sealing import keyed_hash
from taxvault.web.tables import web_sign_in_codes

CODE_TTL = dt.timedelta(minutes=10)
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by people
_GROUPS, _GROUP_LEN = 4, 5


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch in _ALPHABET)


def mint_sign_in_code(conn: Connection, principal_id: str, *, now: dt.datetime | None = None) -> str:
    """A new code for the active principal ``principal_id`` (NotFound if there is none)."""
    active = conn.execute(sa.select(principals.c.active).where(principals.c.id == principal_id)).scalar()
    if not active:
        raise NotFound("no active principal with that id")
    now = now or dt.datetime.now(dt.UTC)
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP_LEN))
    conn.execute(sa.delete(web_sign_in_codes).where(web_sign_in_codes.c.expires_at < now - dt.timedelta(days=1)))
    conn.execute(
        web_sign_in_codes.insert().values(
            code_hash=keyed_hash("sign-in-code", raw),
            principal_id=principal_id,
            created_at=now,
            expires_at=now + CODE_TTL,
            used_at=None,
        )
    )
    return "-".join(raw[i : i + _GROUP_LEN] for i in range(0, len(raw), _GROUP_LEN))


def redeem_sign_in_code(conn: Connection, code: str, *, now: dt.datetime | None = None) -> str | None:
    """The principal the code was minted for, if it is unused and unexpired (it is then used up)."""
    raw = _normalise(code)
    if len(raw) != _GROUPS * _GROUP_LEN:
        return None
    now = now or dt.datetime.now(dt.UTC)
    digest = keyed_hash("sign-in-code", raw)
    c = web_sign_in_codes.c
    done = conn.execute(
        sa.update(web_sign_in_codes)
        .where(c.code_hash == digest, c.used_at.is_(None), c.expires_at > now)
        .values(used_at=now)
    )
    if done.rowcount != 1:
        return None
    return conn.execute(sa.select(c.principal_id).where(c.code_hash == digest)).scalar_one()  # type: ignore[no-any-return]
