"""Security properties: tokens, TINs never logged, fail-closed audit, conflicts of interest."""

from __future__ import annotations

import base64
import json
import logging
import time
from pathlib import Path

import jwt
import pytest
from access_world import ENTITIES, World, entity_ref, make_world, module_ref, tin_of
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from taxvault.access.policy import PolicyEngine, PolicyError, default_policy_dir
from taxvault.access.tokens import EMBEDDED_ISSUER, embedded_signing_key, issue_token, public_jwk
from taxvault.api.app import create_app
from taxvault.audit import AuditAppendError, AuditEvent, AuditLog


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**over: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": EMBEDDED_ISSUER, "aud": "taxvault-api", "sub": "cw-alice", "iat": now, "nbf": now, "exp": now + 600,
    }  # fmt: skip
    claims.update(over)
    return claims


def _signed(claims: dict[str, object], key: Ed25519PrivateKey | None = None) -> str:
    key = key or embedded_signing_key()
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": public_jwk(embedded_signing_key())["kid"]})


def _bad_tokens() -> dict[str, str]:
    kid = public_jwk(embedded_signing_key())["kid"]
    none_token = (
        _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        + "."
        + _b64(json.dumps(_claims()).encode())
        + "."
    )
    public_raw = base64.urlsafe_b64decode(public_jwk(embedded_signing_key())["x"] + "==")
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    import hashlib
    import hmac

    mac = hmac.new(public_raw, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    confusion = f"{header}.{payload}.{_b64(mac)}"
    good = _signed(_claims())
    head, _body, sig = good.split(".")
    tampered_body = _b64(json.dumps(_claims(sub="mgr-carol")).encode())
    return {
        "forged-signature": _signed(_claims(), Ed25519PrivateKey.generate()),
        "expired": _signed(
            _claims(iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200, exp=int(time.time()) - 3600)
        ),
        "wrong-audience": _signed(_claims(aud="another-api")),
        "wrong-issuer": _signed(_claims(iss="https://evil.example")),
        "not-yet-valid": _signed(_claims(nbf=int(time.time()) + 3600)),
        "no-expiry": _signed({k: v for k, v in _claims().items() if k != "exp"}),
        "alg-none": none_token,
        "alg-confusion-hs256": confusion,
        "tampered-payload": f"{head}.{tampered_body}.{sig}",
        "garbage": "not-a-token",
        "unknown-principal": _signed(_claims(sub="nobody")),
    }


@pytest.mark.parametrize("case", sorted(_bad_tokens().keys()))
def test_bad_tokens_get_401(world: World, case: str) -> None:
    token = _bad_tokens()[case]
    before = world.size()
    r = world.client.get(
        f"/v1/modules/{module_ref('tp')}/transcript",
        headers={"Authorization": f"Bearer {token}", "Purpose-Of-Use": "collection"},
    )
    assert r.status_code == 401, (case, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "WWW-Authenticate" in r.headers
    if case == "unknown-principal":  # our issuer signed it: the refusal of that subject is on the record
        assert world.size() == before + 1
        event = world.audit.event(before)
        assert (event.decision, event.policy) == ("deny", "refused:principal-inactive-or-unknown")
    else:
        assert world.size() == before  # no identity, nothing decided


def test_missing_token_gets_401(world: World) -> None:
    r = world.client.get(f"/v1/taxpayers/{entity_ref('tp')}", headers={"Purpose-Of-Use": "collection"})
    assert r.status_code == 401


def test_good_token_passes(world: World) -> None:
    r = world.client.get("/v1/me", headers={"Authorization": f"Bearer {issue_token('cw-alice')}"})
    assert r.status_code == 200 and r.json()["id"] == "cw-alice"


class FailingAuditLog(AuditLog):
    """An audit log whose appends never become durable."""

    def append(self, event: AuditEvent) -> int:
        raise AuditAppendError("injected: the store refused the append")


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("cw-alice", "/v1/modules/{m}/transcript"),  # would be allowed
        ("cw-alice", "/v1/taxpayers/{e}"),
        ("cw-bob", "/v1/taxpayers/{e2}"),  # would be denied: the denial must be recorded too
    ],
)
def test_audit_append_failure_gives_503_and_no_data(db_engine: Engine, who: str, path: str) -> None:
    failing = FailingAuditLog(db_engine)
    w = make_world(db_engine, audit=failing)
    try:
        url = path.format(m=module_ref("tp"), e=entity_ref("tp"), e2=entity_ref("tp2"))
        r = w.client.get(url, headers=w.headers(who, "collection" if who == "cw-alice" else "examination"))
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.text
        assert "transactions" not in body and "tin" not in r.json() and "LAST" not in body
    finally:
        w.client.close()
        failing.close()


def test_conflicts_denied_even_with_a_case_assigned(world: World) -> None:
    # Alice has open collection cases on each of these accounts.
    for name in ("alice_self", "alice_spouse", "alice_relative", "neighbour"):
        for path in (
            f"/v1/taxpayers/{entity_ref(name)}",
            f"/v1/modules/{module_ref(name)}/transcript",
            f"/v1/taxpayers/{entity_ref(name)}/returns",
        ):
            r = world.client.get(path, headers=world.headers("cw-alice", "collection"))
            assert r.status_code == 403, (name, path)
            event = world.event(world.size() - 1)
            assert "forbid-own-or-related-account" in (event.policy or "").split(",")
        # and break-glass cannot override a forbid
        r = world.client.get(
            f"/v1/taxpayers/{entity_ref(name)}",
            headers=world.headers("cw-alice", "collection", "Urgent: taxpayer called about a levy today."),
        )
        assert r.status_code == 403


def test_no_tin_in_any_log_output(
    world: World, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from taxvault.api.middleware import JsonFormatter

    caplog.set_level(logging.DEBUG)
    caplog.handler.setFormatter(JsonFormatter())
    tin = tin_of("tp")
    h = world.headers("cw-alice", "collection")
    world.client.post("/v1/taxpayers/lookup", headers=h, json={"tin": tin})
    world.client.post("/v1/taxpayers/lookup", headers=h, json={"tin": tin_of("tp2")})  # denied
    world.client.post("/v1/taxpayers/lookup", headers=h, json={"tin": tin + "x"})  # invalid body
    r = world.client.get(f"/v1/taxpayers/{tin}", headers=h)  # a TIN where an id belongs
    assert r.status_code == 422 and tin not in r.text
    world.client.get(f"/v1/taxpayers/{tin[:3]}-{tin[3:5]}-{tin[5:]}/returns", headers=h)
    world.client.get(f"/v1/taxpayers/{entity_ref('tp')}", headers=h)
    world.client.get(f"/v1/taxpayers/{entity_ref('tp')}", headers={**h, "X-Request-ID": tin})
    out = capsys.readouterr()
    logged = "\n".join(caplog.handler.format(rec) for rec in caplog.records) + out.out + out.err
    assert caplog.records, "requests must be logged"
    all_tins = [e[1] for e in ENTITIES.values()]
    for t in all_tins:
        assert t not in logged
        assert f"{t[:3]}-{t[3:5]}-{t[5:]}" not in logged
    # nor in any audit event
    for i in range(world.size()):
        raw = world.event(i).to_bytes().decode()
        assert not any(t in raw for t in all_tins)


def test_rate_limit_per_principal(db_engine: Engine) -> None:
    w = make_world(db_engine, rate=0.001)  # a burst of one, then nothing
    try:
        h = w.headers("cw-alice", "collection")
        first = w.client.get("/v1/me", headers=h)
        second = w.client.get("/v1/me", headers=h)
        assert first.status_code == 200
        assert second.status_code == 429 and "Retry-After" in second.headers
        assert second.headers["content-type"].startswith("application/problem+json")
        other = w.client.get("/v1/me", headers=w.headers("cw-bob"))
        assert other.status_code == 200  # per principal
    finally:
        w.client.close()
        w.audit.close()


def test_a_policy_that_does_not_validate_stops_the_server(tmp_path: Path, db_engine: Engine) -> None:
    bad = tmp_path / "policies"
    bad.mkdir()
    for f in default_policy_dir().iterdir():
        (bad / f.name).write_text(f.read_text())
    (bad / "broken.cedar").write_text(
        '@id("typo")\npermit (principal, action == TaxVault::Action::"read", resource)\n'
        'when { principal.rolez.contains("caseworker") };\n'
    )
    with pytest.raises(PolicyError):
        PolicyEngine(bad)
    with pytest.raises(PolicyError):
        create_app(db_engine, policies=PolicyEngine(bad))


def test_request_ids_and_problem_json(world: World) -> None:
    r = world.client.get("/v1/nowhere", headers={"X-Request-ID": "req-12345678"})
    assert r.status_code == 404
    assert r.headers["x-request-id"] == "req-12345678"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["request_id"] == "req-12345678"


def test_access_report_pseudonymises_and_lists_fields(world: World) -> None:
    world.client.get(f"/v1/taxpayers/{entity_ref('tp')}", headers=world.headers("cw-alice", "collection"))
    world.client.get(f"/v1/modules/{module_ref('tp')}/transcript", headers=world.headers("cw-bob", "examination"))
    world.client.get(f"/v1/taxpayers/{entity_ref('tp2')}", headers=world.headers("cw-alice", "collection"))  # denied
    r = world.client.get("/v1/me/access-report", headers=world.headers("taxpayer", "self_service"))
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 2
    newest, oldest = items
    assert newest["unit"] == "examination" and newest["purpose"] == "examination"
    assert oldest["unit"] == "collection" and "tin" in oldest["fields"]
    for item in items:
        assert item["accessor"].startswith("employee-")
        assert "cw-" not in json.dumps(item)


def test_break_glass_is_queued_for_oversight(world: World) -> None:
    r = world.client.get(
        f"/v1/taxpayers/{entity_ref('tp2')}",
        headers=world.headers("mgr-carol", "collection", "Taxpayer in branch office; system outage on case tool."),
    )
    assert r.status_code == 200 and r.headers["break-glass"].startswith("flagged")
    q = world.client.get("/v1/audit/break-glass", headers=world.headers("ovs-privacy", "oversight_review"))
    assert q.status_code == 200
    (item,) = q.json()["items"]
    assert item["principal_id"] == "mgr-carol" and item["resource"] == entity_ref("tp2")
    assert item["state"] == "pending"
    assert world.event(item["leaf_index"]).policy == "break-glass"


def test_oversight_proofs(world: World) -> None:
    for _ in range(3):
        world.client.get(f"/v1/taxpayers/{entity_ref('tp')}", headers=world.headers("cw-alice", "collection"))
    h = world.headers("ovs-privacy", "oversight_review")
    sth = world.client.get("/v1/audit/sth", headers=h).json()
    assert sth["tree_size"] >= 3
    inc = world.client.get("/v1/audit/proofs/inclusion", params={"leaf_index": 1}, headers=h)
    assert inc.status_code == 200 and inc.json()["leaf_index"] == 1
    con = world.client.get("/v1/audit/proofs/consistency", params={"old_size": 2}, headers=h)
    assert con.status_code == 200
    beyond = world.client.get("/v1/audit/proofs/inclusion", params={"leaf_index": 10_000}, headers=h)
    assert beyond.status_code == 404
    events = world.client.get("/v1/audit/events", params={"limit": 2}, headers=h).json()
    assert len(events["items"]) == 2 and events["next_offset"] == 2
