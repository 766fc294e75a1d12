"""A gRPC health probe: `python -m pgsage.probe [TLS options] HOST:PORT [SERVICE]`.

Exits 0 when the service reports SERVING, 1 otherwise (for compose healthchecks and
scripts; Kubernetes has native gRPC probes). Against a TLS port, `--ca` names the CA to
trust (and `--server-name` the name on the server's certificate); against a port that
requires client certificates (the optimizer under mutual TLS), `--cert` and `--key` as well.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pgsage import tls


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pgsage.probe")
    parser.add_argument("address", help="HOST:PORT")
    parser.add_argument("service", nargs="?", default="", help="service name (default: all)")
    parser.add_argument("--ca", type=Path, help="PEM CA to trust (TLS)")
    parser.add_argument("--cert", type=Path, help="PEM client certificate (mutual TLS)")
    parser.add_argument("--key", type=Path, help="PEM client key (mutual TLS)")
    parser.add_argument("--server-name", help="the name on the server's certificate")
    return parser


def _channel(args: argparse.Namespace) -> grpc.Channel:
    client = tls.load_client(
        ca=("--ca", args.ca),
        cert=("--cert", args.cert),
        key=("--key", args.key),
        server_name=args.server_name,
    )
    if client is None:
        return grpc.insecure_channel(args.address)
    return grpc.secure_channel(args.address, client.credentials(), options=client.options())


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        channel = _channel(args)
    except tls.SettingsError as exc:
        print(f"{args.address}: {exc}", file=sys.stderr)
        return 2
    with channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=3
            )
        except grpc.RpcError as exc:
            print(f"{args.address}: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(f"{args.address} {args.service or '(overall)'}: {status}")
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
