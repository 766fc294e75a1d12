"""A gRPC health probe: `python -m pgsage.probe HOST:PORT [SERVICE]`.

Exits 0 when the service reports SERVING, 1 otherwise (for compose healthchecks and
scripts; Kubernetes has native gRPC probes).
"""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m pgsage.probe HOST:PORT [SERVICE]", file=sys.stderr)
        return 2
    service = argv[1] if len(argv) > 1 else ""
    with grpc.insecure_channel(argv[0]) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=3
            )
        except grpc.RpcError as exc:
            print(f"{argv[0]}: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(f"{argv[0]} {service or '(overall)'}: {status}")
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
