"""Reproduces issue 18, point 6 against a built natter binary: COUNT idle
sockets (or half-open requests, a head that never ends) from one address
(or SOURCES addresses) while the process runs at a soft and hard open-files
limit of LIMIT, and asks /healthz from another address during the flood and
13 s later. Not part of the test suite (tests/it/http_limits.rs is, scaled
down); run by hand, e.g.

    cargo build --release --locked --bin natter
    python3 tests/attacks/http_floods.py target/release/natter idle 1100 1024
    python3 tests/attacks/http_floods.py target/release/natter half-open 8300 8192
    SOURCES=20 python3 tests/attacks/http_floods.py target/release/natter half-open 8300 8192

Extra arguments after LIMIT are passed to `natter serve`.
"""
import atexit, http.client, os, resource, socket, subprocess, sys, tempfile, time

binary, mode, count, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sources = int(os.environ.get("SOURCES", "1"))
extra = sys.argv[5:]
# This side holds COUNT sockets.
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
work = tempfile.mkdtemp()
log = open(os.path.join(work, "natter.log"), "w")
env = dict(os.environ, NO_COLOR="1", NATTER_LOG="natter=info")
server = subprocess.Popen(
    [binary, "serve", "--listen", "127.0.0.1:0", "--database", f"sqlite://{work}/db"] + extra,
    preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)),
    stdout=subprocess.PIPE, stderr=log, env=env)
# The server goes with this script, however it ends.
atexit.register(server.kill)
port = int(server.stdout.readline().decode().strip().rsplit(":", 1)[1])

def rss():
    for line in open(f"/proc/{server.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
def fds():
    return len(os.listdir(f"/proc/{server.pid}/fd"))
def healthz():
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=("127.0.0.1", 0))
        c.request("GET", "/healthz"); r = c.getresponse(); body = r.read(); c.close()
        return f"{r.status} {body[:60]!r}"
    except Exception as e:
        return f"no answer ({type(e).__name__})"
def closed(socks):
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            data = s.recv(4096)
            if data == b"" or data.startswith(b"HTTP/1.1 4") or data.startswith(b"HTTP/1.1 5"):
                n += 1
        except BlockingIOError:
            pass
        except OSError:
            n += 1
    return n

for _ in range(200):
    if healthz().startswith("200"): break
    time.sleep(0.05)
print(f"{mode} x{count} from {sources} address(es), file limit {limit}: start RSS {rss()} MiB, {fds()} fds, healthz {healthz()}")
socks = []
t0 = time.time()
for i in range(count):
    s = socket.socket(); s.bind((f"127.0.1.{2 + i % sources}" if sources > 1 else "127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", port))
        if mode == "half-open":
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: natter\r\nX-Slow: ")
    except OSError as e:
        print("client connect error", e); break
    socks.append(s)
time.sleep(1)
print(f"  flood open ({time.time()-t0:.1f}s): RSS {rss()} MiB, {fds()} fds, healthz from 127.0.0.1: {healthz()}, closed by server so far: {closed(socks)}/{len(socks)}")
time.sleep(12)
print(f"  13 s later: RSS {rss()} MiB, {fds()} fds, healthz: {healthz()}, closed by server: {closed(socks)}/{len(socks)}")
for s in socks: s.close()
server.terminate(); server.wait(timeout=20)
log.close()
print("  log:", [l.strip()[27:] for l in open(os.path.join(work, "natter.log")) if "limit" in l or "caps" in l])
