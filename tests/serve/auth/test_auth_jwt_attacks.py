"""Attacks on the access token (RFC 8725): each one ends in 401 with a WWW-Authenticate challenge.

Requirements: C9.1 (only valid tokens reach the model), C9.3 (OWASP API2, broken authentication).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import urllib.request
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from serve.auth import AuthError, AuthService, TokenPair

pytestmark = [
    pytest.mark.requirement("C9.1", "C9.3"),
    pytest.mark.catalogue(
        part="Auth: access token verification against RFC 8725 attacks",
        scope="unit",
        strategy="attack",
        tool="pytest, PyJWT, argon2, SQLite",
    ),
]

T0 = 1_800_000_000  # the clock fixture's start
CHALLENGE = 'Bearer realm="modelship"'


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def good_claims(**changes: Any) -> dict[str, Any]:
    claims = {
        "iss": "modelship",
        "aud": "modelship-api",
        "sub": "scorer",
        "client_id": "scorer",
        "kind": "service",
        "scope": "predict",
        "jti": "forged",
        "iat": T0,
        "nbf": T0,
        "exp": T0 + 900,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def hs256(secret: bytes, claims: dict[str, Any], **header: Any) -> str:
    """Sign by hand, so that even keys PyJWT would refuse can be used to attack."""
    head = segment({"alg": "HS256", "typ": "at+jwt", **header})
    body = segment(claims)
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


@pytest.fixture
def forge(signing_key: tuple[str, bytes]) -> Callable[..., str]:
    """A token signed with our real key: only the claim or header under test is wrong."""
    kid, secret = signing_key

    def make(claims: dict[str, Any] | None = None, **header: Any) -> str:
        fields = {k: v for k, v in {"kid": kid, **header}.items() if v is not None}  # None: leave it out
        return hs256(secret, good_claims() if claims is None else claims, **fields)

    return make


def refused(call: Callable[[], object]) -> AuthError:
    """Run call, expect the 401 every attack must produce, and return the error."""
    with pytest.raises(AuthError) as err:
        call()
    assert err.value.status == 401
    assert err.value.www_authenticate and err.value.www_authenticate.startswith(CHALLENGE)
    return err.value


def test_forged_token_with_our_key_is_accepted_as_a_control(auth: AuthService, forge) -> None:
    # Guards the suite itself: the attacks below fail for their one defect, not for a bad fixture.
    assert auth.verify_access(forge()).sub == "scorer"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_token_is_rejected(auth: AuthService, signing_key, alg: str) -> None:
    token = f"{segment({'alg': alg, 'typ': 'at+jwt', 'kid': signing_key[0]})}.{segment(good_claims())}."
    assert refused(lambda: auth.verify_access(token)).error == "invalid_token"


def test_rs256_token_signed_with_a_fresh_rsa_key_is_rejected(auth: AuthService, signing_key) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(good_claims(), private, algorithm="RS256", headers={"kid": signing_key[0], "typ": "at+jwt"})
    refused(lambda: auth.verify_access(token))


def test_hs256_token_signed_with_an_rsa_public_key_pem_is_rejected(auth: AuthService, signing_key) -> None:
    public_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    refused(lambda: auth.verify_access(hs256(public_pem, good_claims(), kid=signing_key[0])))


def test_token_signed_with_another_secret_is_rejected(auth: AuthService, signing_key) -> None:
    token = hs256(secrets.token_bytes(64), good_claims(), kid=signing_key[0])
    refused(lambda: auth.verify_access(token))


def test_hs512_token_signed_with_our_key_is_rejected_because_the_algorithm_is_pinned(auth, signing_key) -> None:
    kid, secret = signing_key
    token = jwt.encode(good_claims(), secret, algorithm="HS512", headers={"kid": kid, "typ": "at+jwt"})
    refused(lambda: auth.verify_access(token))


def test_payload_tampered_to_add_admin_scope_is_rejected(auth: AuthService, pair: TokenPair) -> None:
    head, body, sig = pair.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["scope"] = "predict feedback admin"
    refused(lambda: auth.verify_access(f"{head}.{segment(claims)}.{sig}"))


def test_token_with_its_signature_stripped_is_rejected(auth: AuthService, pair: TokenPair) -> None:
    head, body, _ = pair.access_token.split(".")
    refused(lambda: auth.verify_access(f"{head}.{body}."))


def test_token_with_only_two_segments_is_rejected(auth: AuthService, pair: TokenPair) -> None:
    head, body, _ = pair.access_token.split(".")
    assert refused(lambda: auth.verify_access(f"{head}.{body}")).detail == "the access token is malformed"


def test_expired_access_token_is_rejected_with_401(auth: AuthService, pair: TokenPair, clock) -> None:
    clock.advance(900 + 30)
    error = refused(lambda: auth.verify_access(pair.access_token))
    assert error.www_authenticate == (
        'Bearer realm="modelship", error="invalid_token", error_description="the access token has expired"'
    )


def test_token_whose_nbf_is_in_the_future_is_rejected(auth: AuthService, forge) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(nbf=T0 + 31))))


def test_token_whose_iat_is_beyond_the_leeway_is_rejected(auth: AuthService, forge) -> None:
    error = refused(lambda: auth.verify_access(forge(good_claims(iat=T0 + 31))))
    assert error.detail == "the access token is not valid yet"


def test_token_whose_iat_is_within_the_leeway_is_accepted(auth: AuthService, forge) -> None:
    assert auth.verify_access(forge(good_claims(iat=T0 + 29))).sub == "scorer"


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "iss", "aud", "sub", "client_id", "jti", "scope", "kind"])
def test_token_missing_a_required_claim_is_rejected(auth: AuthService, forge, claim: str) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(**{claim: None}))))


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_token_with_a_boolean_time_claim_is_rejected(auth: AuthService, forge, claim: str) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(**{claim: True}))))


@pytest.mark.parametrize("client_id", ["someone-else", "", ["scorer"], 1])
def test_token_whose_client_id_is_not_its_sub_is_rejected(auth: AuthService, forge, client_id: object) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(client_id=client_id))))


def test_token_with_a_non_string_sub_is_rejected(auth: AuthService, forge) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(sub=["scorer"], client_id=["scorer"]))))


def test_token_that_expires_in_the_year_9999_is_rejected(auth: AuthService, forge) -> None:
    assert refused(lambda: auth.verify_access(forge(good_claims(exp=253_402_300_799)))).detail == (
        "the access token is invalid"
    )


def test_token_living_past_the_access_lifetime_and_leeway_is_rejected(auth: AuthService, forge) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(exp=T0 + 900 + 31))))


def test_token_living_the_access_lifetime_plus_the_leeway_is_accepted(auth: AuthService, forge) -> None:
    assert auth.verify_access(forge(good_claims(exp=T0 + 900 + 30))).sub == "scorer"


def test_token_issued_long_ago_with_a_fresh_exp_is_rejected(auth: AuthService, forge) -> None:
    # Each time is plausible on its own; only together do they claim a lifetime we never give.
    refused(lambda: auth.verify_access(forge(good_claims(iat=T0 - 3600, nbf=T0 - 3600, exp=T0 + 60))))


@pytest.mark.parametrize("exp", [T0, T0 - 1])
def test_token_that_expires_when_or_before_it_is_issued_is_rejected(auth: AuthService, forge, exp: int) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(exp=exp))))


def test_access_lifetime_cap_follows_the_configured_lifetime(make_auth, pair: TokenPair) -> None:
    # Lowering the setting ends the tokens issued under the longer one (docs/auth.qmd, Settings).
    shorter = make_auth(access_ttl_s=300)
    refused(lambda: shorter.verify_access(pair.access_token))


@pytest.fixture
def forge_refresh(forge, pair: TokenPair) -> Callable[..., str]:
    """The pair's real refresh token re-signed with some claims changed (None: left out)."""
    real = jwt.decode(pair.refresh_token, options={"verify_signature": False})

    def make(**changes: Any) -> str:
        claims = {k: v for k, v in {**real, **changes}.items() if v is not None}
        return forge(claims, typ="rt+jwt")

    return make


def invalid_grant(call: Callable[[], object]) -> None:
    with pytest.raises(AuthError) as err:
        call()
    assert (err.value.status, err.value.error) == (400, "invalid_grant")


def test_re_signed_refresh_token_is_accepted_as_a_control(auth: AuthService, forge_refresh) -> None:
    assert auth.refresh(forge_refresh()).scope == "predict feedback"


def test_refresh_token_without_client_id_is_refused_with_invalid_grant(auth: AuthService, forge_refresh) -> None:
    invalid_grant(lambda: auth.refresh(forge_refresh(client_id=None)))


def test_refresh_token_whose_client_id_is_not_its_sub_is_refused(auth: AuthService, forge_refresh) -> None:
    invalid_grant(lambda: auth.refresh(forge_refresh(client_id="someone-else")))


def test_refresh_token_living_past_the_session_lifetime_is_refused(auth: AuthService, forge_refresh) -> None:
    invalid_grant(lambda: auth.refresh(forge_refresh(exp=T0 + 28_800 + 31)))


def test_refresh_token_living_the_session_lifetime_plus_the_leeway_is_accepted(auth, forge_refresh) -> None:
    assert auth.refresh(forge_refresh(exp=T0 + 28_800 + 30)).scope == "predict feedback"


def test_token_for_another_audience_is_rejected(auth: AuthService, forge) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(aud="someone-else"))))


def test_token_with_an_audience_list_is_rejected(auth: AuthService, forge) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(aud=["modelship-api", "other"]))))


def test_token_from_another_issuer_is_rejected(auth: AuthService, forge) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(iss="https://evil.example"))))


def test_token_with_an_unknown_scope_is_rejected(auth: AuthService, forge) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(scope="predict root"))))


def test_token_with_an_unknown_kind_is_rejected(auth: AuthService, forge) -> None:
    refused(lambda: auth.verify_access(forge(good_claims(kind="robot"))))


def test_refresh_token_used_as_access_token_is_rejected(auth: AuthService, pair: TokenPair) -> None:
    refused(lambda: auth.verify_access(pair.refresh_token))


def test_access_token_used_as_refresh_token_is_refused_with_invalid_grant(auth: AuthService, pair: TokenPair) -> None:
    # The token endpoint answers 400 invalid_grant here (RFC 6749, section 5.2), not 401.
    with pytest.raises(AuthError) as err:
        auth.refresh(pair.access_token)
    assert (err.value.status, err.value.error) == (400, "invalid_grant")


def test_token_without_typ_is_rejected(auth: AuthService, signing_key) -> None:
    head = segment({"alg": "HS256", "kid": signing_key[0]})
    body = segment(good_claims())
    sig = hmac.new(signing_key[1], f"{head}.{body}".encode(), hashlib.sha256).digest()
    refused(lambda: auth.verify_access(f"{head}.{body}.{b64(sig)}"))


def test_token_with_an_unknown_kid_is_rejected(auth: AuthService, forge) -> None:
    refused(lambda: auth.verify_access(forge(kid="20270101-deadbeef")))


def test_token_without_kid_is_rejected(auth: AuthService, forge) -> None:
    token = forge(kid=None)
    assert "kid" not in jwt.get_unverified_header(token)
    refused(lambda: auth.verify_access(token))


def test_token_with_a_non_string_kid_is_rejected(auth: AuthService, forge) -> None:
    refused(lambda: auth.verify_access(forge(kid=["a"])))


def test_token_with_an_unsupported_critical_header_is_rejected(auth: AuthService, forge) -> None:
    refused(lambda: auth.verify_access(forge(crit=["exp-policy"], **{"exp-policy": 1})))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail loudly, and record, if anything tries to open a connection."""
    attempts: list[str] = []

    def blocked(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args))
        raise AssertionError("a token header made the service open a connection")

    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setattr(socket, "create_connection", blocked)
    monkeypatch.setattr(socket, "getaddrinfo", blocked)
    monkeypatch.setattr(urllib.request, "urlopen", blocked)
    return attempts


@pytest.mark.parametrize("header", ["jku", "x5u"])
def test_key_url_header_is_not_fetched_and_the_token_is_rejected(
    auth: AuthService, signing_key, no_network: list[str], header: str
) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        good_claims(),
        private,
        algorithm="RS256",
        headers={"kid": signing_key[0], "typ": "at+jwt", header: "https://attacker.example/keys.json"},
    )
    refused(lambda: auth.verify_access(token))
    assert no_network == []


def test_hs256_token_with_a_jku_header_but_an_attacker_secret_is_rejected(
    auth: AuthService, signing_key, no_network: list[str]
) -> None:
    token = hs256(secrets.token_bytes(32), good_claims(), kid=signing_key[0], jku="https://attacker.example/k")
    refused(lambda: auth.verify_access(token))
    assert no_network == []


def test_embedded_jwk_header_is_ignored(auth: AuthService, signing_key, no_network: list[str]) -> None:
    attacker = secrets.token_bytes(32)
    jwk = {"kty": "oct", "k": b64(attacker)}
    refused(lambda: auth.verify_access(hs256(attacker, good_claims(), kid=signing_key[0], jwk=jwk)))
    assert no_network == []


def test_basic_scheme_is_answered_with_a_plain_bearer_challenge(auth: AuthService) -> None:
    error = refused(lambda: auth.principal_from_header("Basic c2NvcmVyOnNlY3JldA=="))
    assert error.www_authenticate == CHALLENGE


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_authorization_header_is_answered_with_a_plain_bearer_challenge(auth, header) -> None:
    error = refused(lambda: auth.principal_from_header(header))
    assert (error.error, error.www_authenticate) == ("invalid_request", CHALLENGE)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer    "])
def test_bearer_with_an_empty_token_is_rejected_as_invalid_token(auth: AuthService, header: str) -> None:
    assert refused(lambda: auth.principal_from_header(header)).error == "invalid_token"


@pytest.mark.parametrize(
    "token",
    [
        "not a jwt",
        "!!!.@@@.###",
        "eyJhbGciOiJIUzI1NiJ9.e30",
        "e30x.e30.abc",
        "bnVsbA.e30.abc",
        "W10.e30.abc",
        "a.b.c.d",
        "",
        "x" * 5000,
    ],
)
def test_malformed_token_is_rejected(auth: AuthService, token: str) -> None:
    error = refused(lambda: auth.verify_access(token))
    assert error.error == "invalid_token"


def test_bearer_token_with_characters_outside_b64token_is_rejected(auth: AuthService, pair: TokenPair) -> None:
    refused(lambda: auth.principal_from_header(f"Bearer {pair.access_token}!"))


def test_error_description_never_contains_a_quote_or_backslash() -> None:
    from serve.auth.tokens import challenge

    value = challenge("modelship", "invalid_token", 'say "hi" \\ bye')
    assert value.endswith('error_description="say ?hi? ? bye"')
