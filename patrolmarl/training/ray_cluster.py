"""Joining Ray: a local instance sized for this machine, or an existing cluster by address.

Ray Tune and Optuna are the optional extra ``sweep``; without them the callers
say in one line how to install it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import warnings
from types import ModuleType

from patrolmarl.errors import PatrolMarlError

INSTALL_HINT = "pip install 'patrolmarl[sweep]'"
#: Seconds to wait for a cluster's address to answer before giving up.
CONNECT_TIMEOUT = 5.0
#: Ray's shared-memory object store; trials pass only small dicts through it.
OBJECT_STORE_BYTES = 256 * 2**20


def ray_installed() -> bool:
    """Whether Ray can be imported (``patrolmarl[sweep]`` is installed)."""
    return importlib.util.find_spec("ray") is not None


def import_ray(what: str) -> ModuleType:
    """``ray``, or a one-line :class:`PatrolMarlError` saying how to install it."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no banner tables from Tune
    try:
        import optuna
        import ray
        import ray.tune  # noqa: F401
    except ImportError:
        raise PatrolMarlError(
            f"{what} needs Ray Tune and Optuna, which are not installed: {INSTALL_HINT}"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # A resumed trial reports its evaluations again; Optuna keeps the first of each step.
    warnings.filterwarnings("ignore", "The reported value is ignored", UserWarning)
    return ray


def check_address(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise a one-line :class:`PatrolMarlError` unless ``HOST:PORT`` accepts a connection
    within ``timeout`` seconds (``auto`` is looked up locally by Ray itself)."""
    if address == "auto":
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PatrolMarlError(f"--address: expected auto or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = (
            f"no answer within {timeout:g} s"
            if isinstance(exc, TimeoutError)
            else (exc.strerror or str(exc))
        )
        raise PatrolMarlError(
            f"--address {address}: no Ray cluster answers there ({reason})"
        ) from None


def connect(what: str, address: str | None, num_cpus: int) -> bool:
    """Start local Ray with ``num_cpus`` (``address`` None) or join the cluster at ``address``.

    Returns whether this call started Ray (the caller then shuts it down).
    """
    ray = import_ray(what)
    if ray.is_initialized():
        return False
    # ERROR: not Ray's start-up notices (e.g. on token authentication) on every run.
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        ray.init(
            address="local",  # a new instance, never a cluster found on this machine
            num_cpus=num_cpus,
            include_dashboard=False,
            object_store_memory=OBJECT_STORE_BYTES,
            **quiet,
        )
        return True
    check_address(address)
    try:
        ray.init(address=address, **quiet)
    except ConnectionError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "cannot connect"
        raise PatrolMarlError(f"--address {address}: {first}") from None
    return True


def local_cpus() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
