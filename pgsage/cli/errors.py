"""What the CLI tells a shell user when something goes wrong, and its exit codes.

0  ok
1  failure (the server said no: not found, illegal transition, the job failed, ...)
2  usage (bad arguments, or INVALID_ARGUMENT from the server)
3  unavailable (the job service or a dependency cannot be reached or did not answer)
"""

from __future__ import annotations

import grpc

from pgsage import errors, rpc

OK, FAILURE, USAGE, UNAVAILABLE, INTERRUPTED = 0, 1, 2, 3, 130


class CliError(Exception):
    """An error with the message to print and the exit code to leave with."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


NOT_SIGNED_IN = "not signed in: set PGSAGE_TOKEN or run `pgsage login`"


def from_rpc(
    exc: grpc.RpcError, address: str, credential: str = "", *, tls: bool = False
) -> CliError:
    """A gRPC error as a one-line message and an exit code (`credential`: where the token
    sent came from, "" when none was; `tls`: whether the channel was TLS)."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    status = rpc.status_of(exc)
    reason, metadata = errors.from_status(status)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        if not credential:
            return CliError(NOT_SIGNED_IN, FAILURE)
        refused = status.message or "the token was refused"
        return CliError(
            f"not signed in: the token from {credential} was refused ({refused}); "
            "set PGSAGE_TOKEN or run `pgsage login`",
            FAILURE,
        )
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return CliError(
            f"the job service at {address} does not offer this yet (UNIMPLEMENTED): "
            "it is older than this pgsage",
            FAILURE,
        )
    if code == grpc.StatusCode.UNAVAILABLE and not reason and tls:
        return CliError(
            f"cannot reach the job service at {address} over TLS (is it running, serving TLS, "
            "with a certificate for that name from a CA you trust? see --ca-file)",
            UNAVAILABLE,
        )
    if code == grpc.StatusCode.UNAVAILABLE and not reason:
        return CliError(
            f"cannot reach the job service at {address} (is pgsage running? try `pgsage up`, "
            "or set --address / PGSAGE_ADDRESS)",
            UNAVAILABLE,
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return CliError(f"the job service at {address} did not answer in time", UNAVAILABLE)
    message = status.message or code.name.lower()
    if "field" in metadata:
        message = f"{metadata['field']}: {message}"
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return CliError(f"permission denied: {message}", FAILURE)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return CliError(message, USAGE)
    if code == grpc.StatusCode.UNAVAILABLE:
        return CliError(message, UNAVAILABLE)
    return CliError(message, FAILURE)
