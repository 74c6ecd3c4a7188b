"""Who is calling, from what gRPC knows: the client certificate, a bearer token, or (in
development only) the self-asserted x-caller-id header."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pricing_service.quoting.access import ANONYMOUS, AccessPolicy, Caller, UnauthenticatedError

if TYPE_CHECKING:
    import grpc

MAX_IDENTITY = 128
_BEARER = "bearer "


def _first(auth: Any, *keys: str) -> str | None:
    """The first non-empty value of the auth context properties `keys`, in order."""
    for key in keys:
        for value in auth.get(key) or ():
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            if text:
                return text
    return None


def _valid(identity: str, method: str, via: str) -> str:
    if len(identity) > MAX_IDENTITY or not identity.isprintable():
        raise UnauthenticatedError(
            f"the {via} names an identity that is not printable or longer than {MAX_IDENTITY}",
            reason="IDENTITY_INVALID",
            caller=ANONYMOUS,
            method=method,
        )
    return identity


def _metadata(context: Any, key: str) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k == key and isinstance(v, str):
            return v
    return None


def identify(
    context: grpc.ServicerContext | grpc.aio.ServicerContext[Any, Any],
    access: AccessPolicy,
    method: str,
) -> Caller:
    """The caller of this RPC; raises UnauthenticatedError when one was claimed and failed.

    A client certificate wins: its CN, else its first URI SAN, else its first DNS SAN
    (an empty CN never names anyone); a certificate naming nothing is refused. Then an
    `authorization: Bearer <token>` whose SHA-256 the table knows. The x-caller-id header
    names the caller only where the table allows it (development). Else: anonymous.
    """
    peer = context.peer()
    auth = context.auth_context()
    if auth.get("x509_pem_cert"):
        name = _first(auth, "x509_common_name", "peer_uri", "peer_dns")
        if name is None:
            raise UnauthenticatedError(
                "the client certificate names no identity (no CN, no URI or DNS SAN)",
                reason="CERTIFICATE_WITHOUT_IDENTITY",
                caller=ANONYMOUS,
                method=method,
            )
        return Caller(_valid(name, method, "certificate"), "certificate", peer)
    authorization = _metadata(context, "authorization")
    if authorization is not None:
        token = authorization[len(_BEARER) :] if authorization.lower().startswith(_BEARER) else ""
        identity = access.token_identity(token) if token else None
        if identity is None:
            raise UnauthenticatedError(
                "the bearer token is not known",
                reason="TOKEN_UNKNOWN",
                caller=ANONYMOUS,
                method=method,
            )
        return Caller(identity, "token", peer)
    if access.header_identity:
        header = _metadata(context, "x-caller-id")
        if header:
            return Caller(_valid(header[:64], method, "x-caller-id header"), "header", peer)
    return Caller(ANONYMOUS, "none", peer)
