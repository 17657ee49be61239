# Run by tasks/recreate.yml as `python3 -c` on the Pi-hole's host, in the background:
#   dns_probe.py SERVER NAME STOP_FILE LIMIT [PORT]
# asks SERVER:PORT (UDP, port 53 by default) for NAME every 0.1 s until STOP_FILE exists or LIMIT
# seconds have passed, then prints JSON:
# probes, failed, outages ([start offset, seconds] each: from the first unanswered question to the
# next answer), longest, down_at_end. An answer is NOERROR with at least one record.
import json
import os
import socket
import sys
import time

server, name, stop_file, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
port = int(sys.argv[5]) if len(sys.argv) > 5 else 53
question = b"".join(bytes([len(label)]) + label.encode("ascii") for label in name.rstrip(".").split("."))
question += b"\x00\x00\x01\x00\x01"
started = time.time()
probes = failed = 0
down_since = None
outages = []
while not os.path.exists(stop_file) and time.time() - started < limit:
    sent = time.time()
    query_id = os.urandom(2)
    answered = False
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.3)
    try:
        sock.sendto(query_id + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + question, (server, port))
        while not answered:
            data = sock.recv(4096)
            answered = data[:2] == query_id and len(data) > 7 and data[3] & 0x0F == 0 and data[6:8] != b"\x00\x00"
    except OSError:
        pass
    finally:
        sock.close()
    probes += 1
    now = time.time()
    if answered and down_since is not None:
        outages.append([round(down_since - started, 2), round(now - down_since, 2)])
        down_since = None
    elif not answered:
        failed += 1
        if down_since is None:
            down_since = sent
    time.sleep(max(0.0, 0.1 - (time.time() - sent)))
if down_since is not None:
    outages.append([round(down_since - started, 2), round(time.time() - down_since, 2)])
print(json.dumps({"probes": probes, "failed": failed, "outages": outages,
                  "longest": max([seconds for dummy, seconds in outages] or [0.0]),
                  "down_at_end": down_since is not None}))
