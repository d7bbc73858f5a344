"""Fault injection in the fake provider (issue 11, item 12): error statuses with Retry-After,
slow answers, every Nth request, refused connections — for a while — from the command line,
the control endpoint and tests alike."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from channel_adapters.fake import CONTROL, FakeProvider, Response
from channel_adapters.fake_faults import Fault, FaultError
from tests.support import journeyctl_command, run_cli
from tests.support.adapters import fake_provider

fake = pytest.fixture(fake_provider)


def refused(url: str) -> bool:
    try:
        httpx.post(url + "/hook", json={}, timeout=5)
    except httpx.ConnectError:
        return True
    return False


def wait_until(check: Callable[[], object], timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {check}"
        time.sleep(0.02)
    return value


# --- the fault itself --------------------------------------------------------------------------


def test_a_fault_says_what_does_not_go_together_and_how_to_fix_it() -> None:
    def dashed(field: str) -> str:
        return "--" + field.replace("_", "-")

    problems = Fault(retry_after=5, every=2, refuse=True).problems(dashed)
    assert [(p.field, p.message, p.fix) for p in problems] == [
        ("retry_after", "--retry-after needs --fail: a Retry-After goes with an error status",
         "add --fail 429"),
        ("every", "--every needs --fail or --delay: it says which requests they hit",
         "add --fail 500 or --delay 2s"),
        ("refuse", "--refuse goes alone: a refused connection gets no status and no delay",
         "leave out --fail, --delay and --every, or --refuse"),
        ("refuse", "--refuse needs --for: refusing connections for good would leave nothing "
                   "to rehearse", "add --for 30s"),
    ]
    assert [p.field for p in Fault(fail=200).problems()] == ["fail"]
    assert [p.field for p in Fault(duration=3).problems()] == ["for"]
    assert Fault(fail=429, retry_after=5, every=3, delay=2, duration=30).problems() == []


def test_the_control_endpoint_reads_durations_and_refuses_nonsense() -> None:
    fault = Fault.from_json({"fail": 503, "retry_after": "1m", "delay": 0.5, "every": 2,
                             "for": "30s"})
    assert fault == Fault(fail=503, retry_after=60, delay=0.5, every=2, duration=30)
    assert fault.describe() == ("HTTP 503 (Retry-After: 60) to every 2nd request, 0.5s late, "
                                "for 30s")
    assert Fault.from_json({"refuse": True, "for": 5}).describe() == \
        "refusing connections for 5s"
    assert Fault.from_json({"delay": "2s"}).describe() == \
        "normal answers to every request, 2s late, until cleared"
    for body, message in [
        ([], "the body must be a JSON object"),
        ({"fial": 500}, "unknown field 'fial'"),
        ({"fail": "500"}, "fail: '500' is not an HTTP status"),
        ({"delay": "soon"}, "delay: 'soon' is not a number of seconds or a duration"),
        ({"fail": 500, "for": -1}, "for: -1 is not a number of seconds or a duration"),
        ({"refuse": True}, "refuse needs for"),
    ]:
        with pytest.raises(FaultError, match=re.escape(message)):
            Fault.from_json(body)


# --- in a test, over real sockets --------------------------------------------------------------


def test_every_nth_request_fails_with_retry_after_then_the_fault_ends(
        fake: FakeProvider) -> None:
    fake.queue("/hook", Response(418))  # queued answers still come first
    fake.inject(Fault(fail=503, retry_after=7, every=2, duration=60))
    with httpx.Client(base_url=fake.url) as client:
        answers = [client.post("/hook", json={"n": i}) for i in range(5)]
        assert [a.status_code for a in answers] == [418, 200, 503, 200, 503]
        assert answers[2].headers["retry-after"] == "7"
        assert answers[2].text == "injected fault: HTTP 503 Service Unavailable"
        assert [r.status for r in fake.received("/hook")] == [418, 200, 503, 200, 503]
        fake.clear()
        assert [client.post("/hook", json={}).status_code for _ in range(2)] == [200, 200]


def test_a_slow_fault_answers_late(fake: FakeProvider) -> None:
    fake.inject(Fault(delay=0.5))
    started = time.monotonic()
    assert httpx.post(fake.url + "/hook", json={}).status_code == 200
    assert time.monotonic() - started >= 0.5


def test_refused_connections_close_the_port_then_open_it_again(fake: FakeProvider) -> None:
    with httpx.Client(base_url=fake.url) as client:
        assert client.post("/hook", json={}).status_code == 200  # a kept-alive connection
        fake.inject(Fault(refuse=True, duration=0.5))
        with pytest.raises(httpx.TransportError):  # the open connection is dropped too
            client.post("/hook", json={})
        assert refused(fake.url)
        wait_until(lambda: not refused(fake.url))  # by itself, on the same port
    assert httpx.get(fake.url + CONTROL).json() == {"fault": None}


def test_the_control_endpoint_plays_shows_and_clears_a_fault(fake: FakeProvider) -> None:
    started = httpx.post(fake.url + CONTROL, json={"fail": 500, "for": "1m"})
    assert started.json() == {"fault": {"fail": 500, "retry_after": None, "delay": 0.0,
                                        "every": 1, "refuse": False, "for": 60.0},
                              "playing": "HTTP 500 to every request for 60s"}
    assert httpx.post(fake.url + "/v3/mail/send", json={}).status_code == 500
    shown = httpx.get(fake.url + CONTROL).json()
    assert (shown["playing"], shown["requests"]) == ("HTTP 500 to every request for 60s", 1)
    assert httpx.post(fake.url + CONTROL, json={"every": 0}).status_code == 400
    assert httpx.delete(fake.url + CONTROL).json() == {"fault": None}
    assert httpx.post(fake.url + "/hook", json={}).status_code == 200
    assert [r.path for r in fake.received()] == ["/v3/mail/send", "/hook"]  # not the control


# --- journeyctl fake-provider ------------------------------------------------------------------


class Running:
    """`journeyctl fake-provider ...` with its output lines read as they come."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen([*journeyctl_command(), "fake-provider", *args],
                                        stdout=subprocess.PIPE, text=True,
                                        env={**os.environ, "NO_COLOR": "1", **(env or {})})
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        first = self.line(lambda line: "listening on" in line)
        match = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert match, first
        self.url = match[0]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def line(self, wanted: Callable[[str], bool], timeout: float = 30) -> str:
        """The next line that is `wanted` (the lines before it are kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            self.seen.append(line)
            if wanted(line):
                return line

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def running() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(*args: str) -> Running:
        started.append(Running(*args))
        return started[-1]

    yield start
    for one in started:
        one.stop()


@pytest.mark.e2e
def test_the_command_plays_a_timed_fault_then_answers_normally(running) -> None:
    fake = running("--fail", "503", "--retry-after", "5", "--every", "2", "--for", "2s")
    fake.line(lambda line: line == "fault: HTTP 503 (Retry-After: 5) to every 2nd request "
                                   "for 2s")
    with httpx.Client(base_url=fake.url) as client:
        answers = [client.post("/hook", json={}) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 503, 200, 503]
        assert answers[1].headers["retry-after"] == "5"
        fake.line(lambda line: line == "fault over: answering normally")
        assert [client.post("/hook", json={}).status_code for _ in range(2)] == [200, 200]


@pytest.mark.e2e
def test_the_command_refuses_connections_for_a_while_on_its_port(running) -> None:
    fake = running("--refuse", "--for", "2s", "--quiet")
    assert refused(fake.url)
    fake.line(lambda line: line == "fault over: answering normally")
    wait_until(lambda: not refused(fake.url))
    assert httpx.post(fake.url + "/services/T/B/X", json={"text": "hi"}).text == "ok"


@pytest.mark.e2e
def test_the_command_answers_late_with_delay(running) -> None:
    fake = running("--delay", "1", "--quiet")
    started = time.monotonic()
    assert httpx.post(fake.url + "/hook", json={}, timeout=30).status_code == 200
    assert time.monotonic() - started >= 1


@pytest.mark.e2e
def test_the_printed_rehearsal_command_works_when_pasted(running) -> None:
    fake = running("--quiet")
    line = fake.line(lambda text: text.startswith("rehearse an outage"))
    command = line.split(": ", 1)[1]
    assert command.startswith("curl ")
    pasted = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                            timeout=60)
    assert pasted.returncode == 0 and '"fail":503' in pasted.stdout, pasted
    assert httpx.post(fake.url + "/hook", json={}).status_code == 503
    fake.line(lambda line: line == "fault: HTTP 503 to every request for 30s")


@pytest.mark.e2e
def test_fault_options_that_do_not_go_together_are_a_clear_error() -> None:
    result = run_cli("fake-provider", "--refuse")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "--refuse: error[JC978]: --refuse needs --for: refusing connections for good " \
           "would leave nothing to rehearse" in result.stderr
    assert "= hint: add --for 30s" in result.stderr
    bad = run_cli("fake-provider", "--delay", "2x", "--retry-after", "1")
    assert bad.returncode == 1
    assert "--delay: error[JC978]: --delay '2x' is not a duration" in bad.stderr
    assert "= hint: write a duration such as --delay 30s, --delay 5m, or seconds: --delay " \
           "0.5" in bad.stderr
    assert "--retry-after: error[JC978]: --retry-after needs --fail: a Retry-After goes with " \
           "an error status\n  = hint: add --fail 429" in bad.stderr
    assert run_cli("fake-provider", "--fail", "200").returncode == 2  # typer: out of range
