"""``patrolmarl serve`` against a live server on localhost (the CLI in a subprocess, one per
module), called with a real HTTP client; advice as a library call on data."""

from __future__ import annotations

import builtins
import copy
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from patrolmarl.advise import SnapshotError, advise, check_snapshot, load_advisor
from patrolmarl.advise.serve import MAX_BODY_BYTES as LIMIT
from patrolmarl.advise.serve import SNAPSHOT_REFUSED
from patrolmarl.cli import main
from tests.advise.test_advise import _bad_everything

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "models" / "gaoxin"
EXAMPLE = REPO / "schemas" / "snapshot.example.json"
OPENAPI = REPO / "schemas" / "openapi.json"
JSON = {"Content-Type": "application/json"}


class Server:
    """A running ``patrolmarl serve`` at ``host``:``port``."""

    def __init__(self, process: subprocess.Popen, host: str, port: int) -> None:
        self.process, self.host, self.port = process, host, port

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, object]:
        """Status and JSON body of one request."""
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            status, data = response.status, response.read()
            assert response.getheader("Content-Type") == "application/json", data[:200]
            return status, json.loads(data)
        finally:
            conn.close()

    def advise(self, snapshot: object) -> tuple[int, object]:
        return self.request("POST", "/advise", json.dumps(snapshot).encode(), JSON)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    argv = [sys.executable, "-m", "patrolmarl.cli", "serve", "--policy", str(POLICY)]
    process = subprocess.Popen(
        [*argv, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line = process.stdout.readline()  # printed once the socket listens
        assert line.startswith("patrolmarl: serving gaoxin on http://"), process.stderr.read()
        host, port = line.rsplit("http://", 1)[1].strip().rsplit(":", 1)
        yield Server(process, host, int(port))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _example() -> dict:
    return json.loads(EXAMPLE.read_text())


# ---------------------------------------------------------------------------- endpoints


def test_health_and_the_card(server):
    assert server.request("GET", "/health") == (
        200,
        {"status": "ok", "policy": "gaoxin", "district": "gaoxin"},
    )
    card = json.loads((POLICY / "policy.json").read_text())
    assert server.request("GET", "/policy") == (200, card)


def test_advice_is_the_library_calls(server):
    status, body = server.advise(_example())
    assert status == 200
    assert body == advise(load_advisor(POLICY), _example())
    assert [entry["unit"] for entry in body] == [f"patrol_{n}" for n in range(14)]


def test_the_committed_openapi_is_the_served_one(server):
    status, served = server.request("GET", "/openapi.json")
    assert status == 200
    assert json.loads(OPENAPI.read_text()) == served, (
        "schemas/openapi.json is out of date: with patrolmarl serve running, "
        "curl -s localhost:8000/openapi.json | python -m json.tool > schemas/openapi.json"
    )
    snapshot = served["components"]["schemas"]["Snapshot"]
    assert snapshot["required"] == ["district", "time_of_day", "units", "calls"]
    assert set(served["paths"]) == {"/advise", "/policy", "/health"}


# ---------------------------------------------------------------------------- refused requests


def test_a_bad_snapshot_gets_422_with_every_problem(server):
    snapshot = _example()
    _bad_everything(snapshot)
    with pytest.raises(SnapshotError) as info:
        check_snapshot(snapshot, load_advisor(POLICY).exported.district)
    status, body = server.advise(snapshot)
    assert status == 422
    assert body == {"error": SNAPSHOT_REFUSED, "problems": info.value.problems}
    assert len(body["problems"]) == 13
    assert body["problems"][0] == (
        "district: the snapshot is of district 'other', the policy of 'gaoxin'"
    )


@pytest.mark.parametrize(
    "body, headers, status, error",
    [
        (b"{}", {}, 415, "Content-Type must be application/json, got none"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "got 'text/plain'"),
        (b'{"district": ', JSON, 400, "body:1:14: not a readable JSON body: Expecting value"),
        (b"\xff{}", JSON, 400, "body: not UTF-8 text (byte 0)"),
        (b"[" * 100 + b"]" * 100, JSON, 400, "body: nested more than 64 levels deep"),
        (b"[]", JSON, 422, SNAPSHOT_REFUSED),
    ],
    ids=["no-type", "text", "malformed", "not-utf8", "deep", "not-an-object"],
)
def test_refused_bodies_get_a_clear_4xx(server, body, headers, status, error):
    got, answer = server.request("POST", "/advise", body, headers)
    assert got == status
    assert error in answer["error"], answer


def test_a_body_declared_too_large_is_refused_before_it_is_read(server):
    conn = server.connection()
    try:
        conn.putrequest("POST", "/advise")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(LIMIT + 1))
        conn.endheaders()  # and no body: the answer comes from the header alone
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {
            "error": f"body of {LIMIT + 1} bytes, more than the limit of {LIMIT}"
        }
    finally:
        conn.close()


def test_a_streamed_body_too_large_is_refused(server):
    chunk = b" " * 65536
    chunks = [chunk] * (LIMIT // len(chunk) + 1)  # no Content-Length: chunked
    conn = server.connection()
    try:
        conn.request("POST", "/advise", body=iter(chunks), headers=JSON, encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {
            "error": f"body of more than the limit of {LIMIT} bytes"
        }
    finally:
        conn.close()


def test_unknown_paths_and_methods_get_json_errors(server):
    assert server.request("GET", "/nowhere") == (404, {"error": "Not Found"})
    assert server.request("GET", "/advise") == (405, {"error": "Method Not Allowed"})


def _random_value(rng: np.random.Generator, depth: int = 0) -> object:
    """A random JSON value: scalars of every kind, cells, and (not too deep) lists and objects."""
    choices = [
        lambda: None,
        lambda: bool(rng.integers(2)),
        lambda: int(rng.integers(-(10**6), 10**6)),
        lambda: float(rng.choice([-1.5, 0.0, 1e308, 1439.99, 1e-9])),
        lambda: "".join(rng.choice(list("ab:0_\u00e9\n"), size=int(rng.integers(6)))),
        lambda: "patrol_" + str(rng.integers(20)),
        lambda: [int(rng.integers(-2, 22)), int(rng.integers(-2, 22))],
        lambda: [_random_value(rng, depth + 1) for _ in range(int(rng.integers(3)))],
        lambda: {str(k): _random_value(rng, depth + 1) for k in range(int(rng.integers(3)))},
    ]
    return choices[int(rng.integers(len(choices) if depth < 3 else 7))]()


def _mutated(rng: np.random.Generator, value: object) -> object:
    """``value`` with one entry somewhere replaced, added or removed."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = list(value)[rng.integers(len(value))]
        roll = rng.random()
        if roll < 0.2:
            del value[key]
        elif roll < 0.5:
            value[key] = _random_value(rng)
        else:
            value[key] = _mutated(rng, value[key])
        return value
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = int(rng.integers(len(value)))
        value[i] = _mutated(rng, value[i]) if rng.random() < 0.7 else _random_value(rng)
        return value
    return _random_value(rng)


def test_random_bodies_never_get_a_500(server):
    rng = np.random.default_rng(13)
    text = EXAMPLE.read_bytes()
    bodies = []
    for _ in range(40):
        snapshot = _example()
        for _ in range(int(rng.integers(1, 4))):
            snapshot = _mutated(rng, snapshot)
        bodies.append(json.dumps(snapshot).encode())
    bodies += [rng.bytes(int(rng.integers(1, 200))) for _ in range(10)]
    bodies += [text[: int(rng.integers(len(text)))] for _ in range(10)]
    statuses = []
    for body in bodies:
        status, answer = server.request("POST", "/advise", body, JSON)
        statuses.append(status)
        if status == 200:
            assert isinstance(answer, list) and len(answer) == 14
        else:
            assert status in (400, 422) and isinstance(answer["error"], str), (status, answer)
    assert {400, 422} <= set(statuses)


# ---------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--policy", "nowhere"], "--policy: nowhere: no such export folder or file"),
        (["--port", "70000"], "argument --port: must be at most 65535, got 70000"),
        (["--port", "-1"], "argument --port: must be at least 0, got -1"),
        (["--port", "eighty"], "argument --port: expected a whole number, got 'eighty'"),
        (["--host", "10.255.255.1"], "--host: '10.255.255.1' is not an address of this machine"),
    ],
)
def test_bad_flags_are_one_line(flags, message, capsys):
    argv = ["serve", "--policy", str(POLICY), "--port", "0", *flags]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"patrolmarl: error: {message}\n"


def test_a_port_in_use_is_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--policy", str(POLICY), "--port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"patrolmarl: error: --port: {port} on 127.0.0.1 is in use (another server listens there)\n"
    )


# ---------------------------------------------------------------------------- the library call


def test_advice_on_data_touches_no_file(monkeypatch):
    advisor = load_advisor(POLICY)
    good, bad = _example(), {**_example(), "time_of_day": "25:00"}
    first = advise(advisor, good)  # loads what is loaded once (the schema's validator)

    def no_file(*args, **kwargs):
        raise AssertionError(f"a file was opened: {args[:1]}")

    for module, name in ((builtins, "open"), (io, "open"), (os, "open")):
        monkeypatch.setattr(module, name, no_file)
    assert advise(advisor, good) == first
    with pytest.raises(SnapshotError) as info:
        advise(advisor, bad)
    assert info.value.problems[0].startswith('time_of_day: expected "HH:MM"')


def test_one_advisor_gives_each_snapshot_its_own_advice():
    advisor = load_advisor(POLICY)
    later = copy.deepcopy(_example())
    later["calls"] = []
    later["time_of_day"] = "03:30"
    answers = [advise(advisor, snapshot) for snapshot in (_example(), later, _example())]
    assert answers[1] == advise(load_advisor(POLICY), later)  # as a new advisor gives it
    assert answers[0] == answers[2] != answers[1]
