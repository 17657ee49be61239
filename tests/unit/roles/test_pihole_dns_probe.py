"""roles/pihole/files/dns_probe.py, the probe that measures the DNS outage of a Pi-hole recreate
(tasks/recreate.yml runs it on the host with `python3 -c`), against a small DNS server in this test
that answers, goes silent (a recreate), answers again, and answers with errors."""

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PROBE = os.path.join(ROOT, "roles", "pihole", "files", "dns_probe.py")


class FakeDns:
    """Answers every A question with one record while mode is 'answer'; 'silent' drops them,
    'servfail' answers SERVFAIL, 'empty' answers NOERROR without a record."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.mode = "answer"
        self.questions = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            self.questions += 1
            if self.mode == "silent":
                continue
            rcode = 2 if self.mode == "servfail" else 0
            records = 1 if self.mode == "answer" else 0
            header = data[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, records, 0, 0)
            answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 2, 4) + bytes([172, 30, 99, 50]) if records else b""
            self.sock.sendto(header + data[12:] + answer, peer)

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


def run_probe(tmp_path, server, steps):
    """Start the probe, run STEPS [(mode, questions to wait for)], stop it; its JSON."""
    stop = tmp_path / "stop"
    code = open(PROBE, encoding="utf-8").read()
    proc = subprocess.Popen([sys.executable, "-c", code, "127.0.0.1", "nas.home.arpa", str(stop), "120",
                             str(server.port)], stdout=subprocess.PIPE, text=True)
    for mode, questions in steps:
        server.mode = mode
        target = server.questions + questions
        while server.questions < target:
            time.sleep(0.02)
    stop.touch()
    out, _err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    return json.loads(out)


def test_one_outage_is_measured_from_the_first_unanswered_question_to_the_next_answer(tmp_path):
    server = FakeDns()
    try:
        result = run_probe(tmp_path, server, [("answer", 3), ("silent", 4), ("answer", 3)])
    finally:
        server.close()
    assert result["failed"] >= 4
    assert result["probes"] >= result["failed"] + 6
    assert len(result["outages"]) == 1
    assert result["longest"] == result["outages"][0][1] > 0
    assert result["down_at_end"] is False


def test_errors_and_empty_answers_count_as_unanswered_and_an_outage_at_the_end_is_reported(tmp_path):
    server = FakeDns()
    try:
        result = run_probe(tmp_path, server, [("answer", 2), ("servfail", 2), ("answer", 2), ("empty", 2),
                                              ("silent", 2)])
    finally:
        server.close()
    assert len(result["outages"]) == 2
    assert result["down_at_end"] is True
    assert result["longest"] == max(seconds for dummy, seconds in result["outages"])


def test_no_server_at_all_is_one_outage_for_the_whole_run(tmp_path):
    server = FakeDns()
    port = server.port
    server.close()  # nothing listens on the port any more: every question is refused or times out
    stop = tmp_path / "stop"
    code = open(PROBE, encoding="utf-8").read()
    proc = subprocess.Popen([sys.executable, "-c", code, "127.0.0.1", "nas.home.arpa", str(stop), "1.0",
                             str(port)], stdout=subprocess.PIPE, text=True)
    out, _err = proc.communicate(timeout=30)
    result = json.loads(out)
    assert result["probes"] == result["failed"] > 0
    assert len(result["outages"]) == 1 and result["down_at_end"] is True
