"""Server-side console sessions: a random id in a cookie, everything else in the store.

Why server side: signing out, an idle timeout and an absolute lifetime must really end the
session (a self-contained cookie cannot be revoked), and the CSRF token must be bound to it.
The cookie holds only a random id; the store holds its keyed hash. The principal's row is
re-checked on every request by the door (a deactivated principal's next page is refused).

Settings: ``TAXVAULT_WEB_IDLE_SECONDS`` (default 900) and ``TAXVAULT_WEB_ABSOLUTE_SECONDS``
(default 28800, a working day).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taxvault.web.sealing import keyed_hash
from taxvault.web.tables import web_sessions

COOKIE = "taxvault_session"
TOUCH_EVERY = dt.timedelta(seconds=30)  # last_seen is written at most this often (one write per page is too many)


@dataclass(frozen=True, slots=True)
class WebSession:
    """One signed-in browser: who, for which purpose, and its CSRF token."""

    id_hash: str
    principal_id: str
    purpose: str | None
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class SessionStore:
    """Create, find, change and end sessions; expired ones are removed when met."""

    def __init__(
        self,
        engine: Engine,
        *,
        idle_seconds: int | None = None,
        absolute_seconds: int | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.idle = dt.timedelta(seconds=idle_seconds or int(os.environ.get("TAXVAULT_WEB_IDLE_SECONDS", "900")))
        self.absolute = dt.timedelta(
            seconds=absolute_seconds or int(os.environ.get("TAXVAULT_WEB_ABSOLUTE_SECONDS", "28800"))
        )
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def create(self, principal_id: str, purpose: str | None) -> tuple[str, WebSession]:
        """A new session: the cookie value (shown once) and the session."""
        cookie = secrets.token_urlsafe(32)
        now = self.clock()
        session = WebSession(keyed_hash("session", cookie), principal_id, purpose, secrets.token_urlsafe(32), now, now)
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(web_sessions).where(web_sessions.c.created_at < now - self.absolute - dt.timedelta(days=1))
            )
            conn.execute(
                web_sessions.insert().values(
                    id_hash=session.id_hash,
                    principal_id=principal_id,
                    purpose=purpose,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return cookie, session

    def load(self, cookie: str | None) -> WebSession | None:
        """The live session behind the cookie, or None (unknown, idle too long, or too old: removed)."""
        if not cookie or len(cookie) > 128:
            return None
        id_hash = keyed_hash("session", cookie)
        c = web_sessions.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(web_sessions).where(c.id_hash == id_hash)).first()
        if row is None:
            return None
        now = self.clock()
        created, seen = _aware(row.created_at), _aware(row.last_seen_at)
        if now - seen > self.idle or now - created > self.absolute:
            self.destroy(id_hash)
            return None
        if now - seen > TOUCH_EVERY:
            with self.engine.begin() as conn:
                conn.execute(sa.update(web_sessions).where(c.id_hash == id_hash).values(last_seen_at=now))
            seen = now
        return WebSession(id_hash, row.principal_id, row.purpose, row.csrf_token, created, seen)

    def set_purpose(self, session: WebSession, purpose: str) -> WebSession:
        """The session acting for ``purpose`` from now on."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(web_sessions).where(web_sessions.c.id_hash == session.id_hash).values(purpose=purpose)
            )
        return WebSession(
            session.id_hash, session.principal_id, purpose, session.csrf_token, session.created_at, session.last_seen_at
        )

    def destroy(self, id_hash: str) -> None:
        """End the session (its cookie no longer opens anything)."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(web_sessions).where(web_sessions.c.id_hash == id_hash))

    def destroy_all(self, principal_id: str) -> None:
        """End every session of ``principal_id`` (e.g. after she is deactivated)."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(web_sessions).where(web_sessions.c.principal_id == principal_id))
