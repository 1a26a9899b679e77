"""The command line: bad profiles and options exit 2 naming the field; serve writes its log."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request

import pytest

from benchmarks.cli import main as ddbench_main
from mock_provider import read_request_log
from mock_provider.cli import main

BAD_PROFILES = {
    "gama": (
        "models:\n  judge:\n    latency:\n      ttft: {dist: gama, median: 1}\n",
        ["profile.models.judge.latency.ttft.dist", "'gama'", "fixed, uniform, lognormal, beta"],
    ),
    "negative": ("default:\n  capacity: {rpm: -3}\n", ["profile.default.capacity.rpm", "-3"]),
    "unknown key": ("default:\n  latncy: {}\n", ["profile.default.latncy", "unknown field"]),
    "rates": (
        "default:\n  faults: {error_500: 0.7, drop: 0.6}\n",
        ["profile.default.faults", "sum"],
    ),
    "yaml": ("default: [unclosed\n", ["not valid YAML"]),
}


@pytest.mark.parametrize("name", sorted(BAD_PROFILES))
def test_bad_profile_exits_2(tmp_path, capsys, name: str) -> None:
    text, words = BAD_PROFILES[name]
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    assert main(["--profile", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    for word in words:
        assert word in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--latency", "-1"],
        ["--max-concurrency", "0"],
        ["--request-log", "x.txt"],
        ["--port", "70000"],
        ["--profile", "/nonexistent/p.yaml"],
    ],
)
def test_bad_options_exit_2(capsys, argv: list[str]) -> None:
    assert main(argv) == 2
    assert ddbench_main(["serve", *argv]) == 2
    assert capsys.readouterr().err.count("\n") == 2


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_serve_until_sigterm_writes_the_log(tmp_path, suffix: str) -> None:
    log_path = tmp_path / f"requests{suffix}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mock_provider",
            "--port",
            "0",
            "--latency",
            "0.001",
            "--request-log",
            str(log_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        request = urllib.request.Request(
            f"{url}/chat/completions",
            data=b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}',
            headers={"Content-Type": "application/json", "X-DD-Tag": "col:3"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    (record,) = read_request_log(log_path)
    assert record.tag == "col:3" and record.status == 200
