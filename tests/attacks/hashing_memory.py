"""Reproduces issue 18, point 8 against a built natter binary: resident
memory (VmRSS) at start, after 100 registrations ten at a time, and after
100 logins ten at a time (half of them unknown names, which take the decoy
verification). Not part of the test suite (tests/it/hashing.rs is); run by
hand, e.g.

    cargo build --release --locked --bin natter
    python3 tests/attacks/hashing_memory.py target/release/natter
"""
import atexit, http.client, json, os, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
binary = sys.argv[1]
work = tempfile.mkdtemp()
server = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--database", f"sqlite://{work}/db",
                           "--account-creations-per-minute", "100000"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
# The server goes with this script, however it ends.
atexit.register(server.kill)
port = int(server.stdout.readline().decode().strip().rsplit(":", 1)[1])
def rss():
    return next(int(l.split()[1]) for l in open(f"/proc/{server.pid}/status") if l.startswith("VmRSS:")) / 1024
def post(path, name, source="127.0.0.1"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    c.request("POST", path, json.dumps({"username": name, "password": "correct horse battery"}), {"content-type": "application/json"})
    status = c.getresponse().status; c.close(); return status
for _ in range(200):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2); c.request("GET", "/healthz")
        if c.getresponse().status == 200: break
    except OSError: pass
    time.sleep(0.05)
start = rss()
with ThreadPoolExecutor(10) as pool:
    for batch in range(10):
        statuses = list(pool.map(lambda n: post("/api/register", f"u{batch}x{n}"), range(10)))
        assert statuses == [201] * 10, statuses
    after_reg = rss()
    for batch in range(10):
        names = [f"u{batch}x{n}" if n % 2 == 0 else f"nobody{batch}x{n}" for n in range(10)]
        statuses = list(pool.map(lambda n: post("/api/login", names[n], f"127.0.6.{batch * 10 + n + 1}"), range(10)))
        assert statuses == [200 if n % 2 == 0 else 401 for n in range(10)], statuses
after_login = rss()
print(f"{binary}: RSS {start:.1f} MiB at start, {after_reg:.1f} MiB after 100 registrations (10 at a time), {after_login:.1f} MiB after 100 logins (10 at a time, half unknown names)")
server.terminate(); server.wait()
