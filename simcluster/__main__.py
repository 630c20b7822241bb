"""``python -m simcluster``: run the Kubernetes API stand-in in the foreground as a
clearly labelled simulated cluster, with a kubeconfig file for kubectl and the app."""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from simcluster.cluster import KubeStandIn
from simcluster.quantity import QuantityError
from simcluster.quantity import parse as parse_quantity

_BANNER = """\
==============================================================================
  SIMULATED CLUSTER - this is NOT a real Kubernetes cluster
  Lotse's Kubernetes API stand-in is listening on {url}
  Objects live in memory and vanish when it stops. No containers run: its
  controllers and kubelet act by documented rules ({pods}), logs
  and exec answer from a simulated shell (simcluster/README.md).
  Requests are authenticated, authorised by RBAC and admitted as on a real
  cluster. The admin kubeconfig (kubernetes-admin, group system:masters):
      {path}
      export KUBECONFIG={path}
  Stop with Ctrl-C.
=============================================================================="""


def _wait_until_ready(url: str, ca_pem: bytes, seconds: float = 10.0) -> None:
    """Return once ``/readyz`` answers, so the kubeconfig appears only for a serving cluster."""
    deadline = time.monotonic() + seconds
    trusted = ssl.create_default_context(cadata=ca_pem.decode())
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1, context=trusted) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def _capacity(text: str) -> dict[str, str]:
    """``cpu=32,memory=128Gi`` as a capacity; a quantity Kubernetes could not read is refused."""
    capacity = {}
    for item in text.split(","):
        name, _, amount = (part.strip() for part in item.partition("="))
        if not name:
            raise argparse.ArgumentTypeError(f"{item!r} is not NAME=QUANTITY")
        try:
            parse_quantity(amount)
        except QuantityError:
            raise argparse.ArgumentTypeError(f"{item!r} is not NAME=QUANTITY") from None
        capacity[name] = amount
    return capacity


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simcluster",
        description="Run a SIMULATED Kubernetes API server (Lotse's stand-in) in the foreground.",
    )
    parser.add_argument("--port", type=int, default=8001, help="port to listen on (8001)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--pace",
        "--auto-ready",  # its former name
        dest="pace",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds from a pod's creation to Running and Ready, which every step of the node "
        "scales with (1; 0: at once)",
    )
    parser.add_argument(
        "--no-kubelet",
        action="store_true",
        help="run no kubelet: pods stay Pending until something sets their status",
    )
    parser.add_argument(
        "--node-capacity",
        type=_capacity,
        default=None,
        metavar="NAME=QUANTITY,...",
        help="the node's capacity where it differs from cpu=4,memory=8Gi,pods=110 "
        "(a benchmark's fifty labs need more)",
    )
    parser.add_argument("--kubeconfig", type=Path, default=None, help="where to write it")
    parser.add_argument("--namespace", default=None, help="the kubeconfig's default namespace")
    args = parser.parse_args(argv)

    # SIGTERM stops the cluster as Ctrl-C does: cleanly, with exit status 0.
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    standin = KubeStandIn(
        pace=None if args.no_kubelet else args.pace, node_capacity=args.node_capacity
    )
    standin.log_requests = False
    standin.start(port=args.port, host=args.host)
    _wait_until_ready(standin.url, standin.ca.pem)
    path = args.kubeconfig or Path(tempfile.gettempdir()) / f"lotse-standin-{args.port}.kubeconfig"
    # Written beside and renamed, so a reader never sees half a file.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(yaml.safe_dump(standin.kubeconfig(args.namespace), sort_keys=False))
    os.chmod(partial, 0o600)
    partial.replace(path)
    if args.no_kubelet:
        pods = "no kubelet: pods stay Pending"
    else:
        pods = f"pods are Ready {args.pace:g} s after they are created"
    print(_BANNER.format(url=standin.url, path=path, pods=pods), flush=True)

    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
        print("Simulated cluster stopped.", flush=True)


if __name__ == "__main__":
    main()
