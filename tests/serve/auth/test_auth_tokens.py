"""Access tokens: issue, verify, scopes and the Authorization header.  # C9.1 C9.3"""

from __future__ import annotations

import jwt
import pytest

from serve.auth import GRANT_TYPES, NO_STORE, SCOPES, AuthError, AuthService, Principal, TokenPair

T0 = 1_800_000_000  # the clock fixture's start


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict:
    return jwt.get_unverified_header(token)


pytestmark = [
    pytest.mark.requirement("C9.1", "C9.3"),
    pytest.mark.catalogue(
        part="Auth: access tokens, scopes, the Authorization header",
        scope="unit",
        strategy="example-based",
        tool="pytest, PyJWT, argon2, SQLite",
    ),
]


def test_scopes_are_the_four_documented_ones() -> None:
    assert SCOPES == ("predict", "feedback", "monitor", "admin")


def test_client_credentials_grant_returns_a_bearer_pair(pair: TokenPair) -> None:
    assert (pair.token_type, pair.expires_in, pair.scope) == ("Bearer", 900, "predict feedback")


def test_access_token_verifies_to_its_principal(auth: AuthService, pair: TokenPair) -> None:
    principal = auth.verify_access(pair.access_token)
    assert (principal.sub, principal.scopes, principal.kind) == (
        "scorer",
        frozenset({"predict", "feedback"}),
        "service",
    )
    assert principal.exp == T0 + 900


def test_access_token_carries_the_rfc_9068_header_and_claims(pair: TokenPair) -> None:
    header, claims = header_of(pair.access_token), claims_of(pair.access_token)
    assert (header["alg"], header["typ"]) == ("HS256", "at+jwt") and header["kid"]
    assert {"iss", "aud", "sub", "client_id", "exp", "iat", "nbf", "jti", "scope"} <= set(claims)
    assert (claims["iss"], claims["aud"]) == ("modelship", "modelship-api")


def test_refresh_token_has_its_own_typ_and_audience(pair: TokenPair) -> None:
    assert header_of(pair.refresh_token)["typ"] == "rt+jwt"
    assert claims_of(pair.refresh_token)["aud"] == "modelship"


def test_every_token_gets_a_unique_jti(auth: AuthService, service_secret: str) -> None:
    pairs = [auth.issue("client_credentials", client_id="scorer", client_secret=service_secret) for _ in range(3)]
    jtis = {claims_of(t)["jti"] for p in pairs for t in (p.access_token, p.refresh_token)}
    assert len(jtis) == 6


def test_requested_scope_subset_is_granted(auth: AuthService, service_secret: str) -> None:
    pair = auth.issue("client_credentials", client_id="scorer", client_secret=service_secret, scope="predict")
    assert pair.scope == "predict"
    assert auth.verify_access(pair.access_token).scopes == {"predict"}


def test_scope_beyond_the_clients_own_is_refused_with_invalid_scope(auth: AuthService, service_secret: str) -> None:
    with pytest.raises(AuthError) as err:
        auth.issue("client_credentials", client_id="scorer", client_secret=service_secret, scope="predict admin")
    assert (err.value.status, err.value.error) == (400, "invalid_scope")


def test_unknown_scope_name_is_refused_with_invalid_scope(auth: AuthService, service_secret: str) -> None:
    with pytest.raises(AuthError) as err:
        auth.issue("client_credentials", client_id="scorer", client_secret=service_secret, scope="everything")
    assert err.value.error == "invalid_scope"


def test_principal_with_the_scope_passes_require_scope(auth: AuthService, pair: TokenPair) -> None:
    AuthService.require_scope(auth.verify_access(pair.access_token), "predict")


def test_missing_scope_is_refused_with_403_insufficient_scope(auth: AuthService, pair: TokenPair) -> None:
    with pytest.raises(AuthError) as err:
        AuthService.require_scope(auth.verify_access(pair.access_token), "admin")
    assert (err.value.status, err.value.error) == (403, "insufficient_scope")
    assert err.value.www_authenticate == (
        'Bearer realm="modelship", error="insufficient_scope", '
        'error_description="this request needs the \'admin\' scope", scope="admin"'
    )


def test_admin_scope_does_not_imply_the_others() -> None:
    admin = Principal(sub="ops", scopes=frozenset({"admin"}), jti="j", exp=T0, kind="user")
    with pytest.raises(AuthError):
        AuthService.require_scope(admin, "predict")


def test_require_scope_with_a_misspelt_scope_is_a_programming_error() -> None:
    principal = Principal(sub="x", scopes=frozenset({"predict"}), jti="j", exp=T0, kind="service")
    with pytest.raises(ValueError, match="unknown scope"):
        AuthService.require_scope(principal, "predicts")


def test_bearer_header_yields_the_principal(auth: AuthService, pair: TokenPair) -> None:
    assert auth.principal_from_header(f"Bearer {pair.access_token}").sub == "scorer"


def test_bearer_scheme_is_case_insensitive(auth: AuthService, pair: TokenPair) -> None:
    assert auth.principal_from_header(f"bearer {pair.access_token}").sub == "scorer"


def test_cached_access_token_still_expires(auth: AuthService, pair: TokenPair, clock) -> None:
    auth.verify_access(pair.access_token)  # now in the cache
    clock.advance(900 + 30)
    with pytest.raises(AuthError) as err:
        auth.verify_access(pair.access_token)
    assert err.value.detail == "the access token has expired"


def test_access_token_is_accepted_within_the_leeway_after_exp(auth: AuthService, pair: TokenPair, clock) -> None:
    clock.advance(900 + 29)
    assert auth.verify_access(pair.access_token).sub == "scorer"


def test_cache_stays_within_its_size(make_auth, service_secret: str) -> None:
    small = make_auth(cache_size=2)
    tokens = [
        small.issue("client_credentials", client_id="scorer", client_secret=service_secret).access_token
        for _ in range(4)
    ]
    for token in tokens + tokens[:1]:
        small.verify_access(token)
    assert len(small._cache) == 2


def test_service_without_cache_verifies_every_time(make_auth, pair: TokenPair) -> None:
    uncached = make_auth(cache_size=0)
    assert uncached.verify_access(pair.access_token) == uncached.verify_access(pair.access_token)
    assert len(uncached._cache) == 0


def test_verify_access_touches_neither_sqlite_nor_argon2(auth: AuthService, pair: TokenPair, monkeypatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("the hot path must not reach the database or the password hasher")

    class NoHasher:
        def __getattr__(self, name):
            return forbidden

    monkeypatch.setattr("serve.auth.store.sqlite3.connect", forbidden)
    monkeypatch.setattr(auth, "_hasher", NoHasher())
    auth.verify_access(pair.access_token)
    auth.verify_access(pair.access_token)


def test_two_services_on_one_state_dir_accept_each_others_tokens(make_auth, pair: TokenPair) -> None:
    replica = make_auth()
    assert replica.verify_access(pair.access_token).sub == "scorer"


def test_expires_in_is_the_access_tokens_real_lifetime(pair: TokenPair) -> None:
    claims = claims_of(pair.access_token)
    assert claims["exp"] - claims["iat"] == pair.expires_in == 900


def test_missing_credentials_error_carries_the_status_code_text_and_challenge_the_api_sends(auth) -> None:
    with pytest.raises(AuthError) as err:
        auth.principal_from_header(None)
    error = err.value
    assert (error.status, error.error, error.detail) == (401, "invalid_request", "a Bearer access token is required")
    assert error.www_authenticate == 'Bearer realm="modelship"'


def test_400_error_has_no_challenge_and_lists_the_grant_types(auth: AuthService) -> None:
    with pytest.raises(AuthError) as err:
        auth.issue("implicit")
    assert (err.value.status, err.value.error, err.value.www_authenticate) == (400, "unsupported_grant_type", None)
    assert err.value.detail == "grant_type must be one of: client_credentials, password, refresh_token"


@pytest.mark.parametrize("grant_type", GRANT_TYPES)
def test_every_published_grant_type_is_handled_by_the_token_endpoint(auth: AuthService, grant_type: str) -> None:
    # Without its parameters a known grant is an invalid_request, never an unsupported one.
    with pytest.raises(AuthError) as err:
        auth.issue(grant_type)
    assert err.value.error == "invalid_request"


def test_no_store_holds_the_rfc_6749_cache_headers_and_cannot_be_changed() -> None:
    assert dict(NO_STORE) == {"Cache-Control": "no-store", "Pragma": "no-cache"}
    with pytest.raises(TypeError):
        NO_STORE["Cache-Control"] = "public"  # type: ignore[index]
