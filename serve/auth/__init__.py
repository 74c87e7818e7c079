"""Authentication and authorisation for the modelship API: OAuth 2 style JWTs, no Ray inside.

The rules this package enforces are written for users and operators in docs/auth.qmd.
"""

from .service import AuthService, ClientInfo
from .settings import AuthConfigError, AuthSettings
from .tokens import GRANT_TYPES, NO_STORE, SCOPES, AuthError, Principal, TokenPair

__all__ = [
    "GRANT_TYPES",
    "NO_STORE",
    "SCOPES",
    "AuthConfigError",
    "AuthError",
    "AuthService",
    "AuthSettings",
    "ClientInfo",
    "Principal",
    "TokenPair",
]
