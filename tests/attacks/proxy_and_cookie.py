"""Reproduces issue 18's proxy items (4's address part, 7's cookie, log and
metrics items) against a built natter binary behind nginx configured with
docs/nginx/natter.conf (nginx must be installed). Each client is a distinct
loopback address; natter allows two account creations per address per
minute. Run by hand, with and without trusting the proxy:

    python3 tests/attacks/proxy_and_cookie.py target/release/natter trusted
    python3 tests/attacks/proxy_and_cookie.py target/release/natter none
"""
import http.client, json, os, subprocess, sys, tempfile, time, socket
binary = sys.argv[1]; trusted = sys.argv[2] == "trusted"
work = tempfile.mkdtemp()
args = [binary, "serve", "--listen", "127.0.0.1:0", "--database", f"sqlite://{work}/db",
        "--account-creations-per-minute", "2", "--metrics-listen", "127.0.0.1:0"]
if trusted: args += ["--trusted-proxy", "127.0.0.1"]
server = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
port = int(server.stdout.readline().decode().strip().rsplit(":", 1)[1])
metrics_line = server.stdout.readline().decode().strip()
s = socket.socket(); s.bind(("127.0.0.1", 0)); nport = s.getsockname()[1]; s.close()
site = open("/work/wt-secinfra/docs/nginx/natter.conf").read()
site = site.replace("127.0.0.1:3001", f"127.0.0.1:{port}").replace("127.0.0.1:3002", f"127.0.0.1:{port}") \
    .replace("listen 8080;", f"listen 127.0.0.1:{nport};").replace("/var/log/nginx/natter.access.log", f"{work}/access.log")
open(f"{work}/natter.conf", "w").write(site)
open(f"{work}/nginx.conf", "w").write(f"""worker_processes 1; pid {work}/nginx.pid; error_log {work}/error.log warn;
events {{ worker_connections 256; }}
http {{ access_log off; client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/f; uwsgi_temp_path {work}/u; scgi_temp_path {work}/s; include {work}/natter.conf; }}""")
nginx = subprocess.Popen(["/usr/sbin/nginx", "-p", work, "-c", f"{work}/nginx.conf", "-g", "daemon off;"], stderr=subprocess.DEVNULL)
time.sleep(0.5)
def req(method, path, source, body=None, headers={}, to=nport):
    c = http.client.HTTPConnection("127.0.0.1", to, timeout=10, source_address=(source, 0))
    h = {"content-type": "application/json", **headers}
    c.request(method, path, json.dumps(body) if body else None, h)
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, r.getheader("set-cookie"), data
try:
    reg = lambda name, source, headers={}: req("POST", "/api/register", source, {"username": name, "password": "correct horse"}, headers)[0]
    print("trusted proxy" if trusted else "no --trusted-proxy", "| nginx -> natter")
    print("  client 127.0.0.11 registers 3 times through nginx:", [reg(f"a{i}", "127.0.0.11") for i in range(3)])
    print("  client 127.0.0.12 (another person behind the same proxy):", [reg("b0", "127.0.0.12")])
    print("  client 127.0.0.13 forging X-Forwarded-For 203.0.113.x each time:", [reg(f"c{i}", "127.0.0.13", {"x-forwarded-for": f"203.0.113.{i}"}) for i in range(3)])
    direct = [req("POST", "/api/register", "127.0.0.14", {"username": f"d{i}", "password": "correct horse"},
                  {"x-forwarded-for": f"198.51.100.{i}"}, to=port)[0] for i in range(3)]
    print("  direct to natter from 127.0.0.14 forging X-Forwarded-For:", direct)
    st, cookie, body = req("POST", "/api/register", "127.0.0.1", {"username": "e0", "password": "correct horse"}, {"x-forwarded-proto": "https", "x-forwarded-for": "192.0.2.50"}, to=port)
    print("  register with X-Forwarded-Proto: https from 127.0.0.1:", st, cookie)
    token = json.loads(body).get("token", "no-token")
    st, cookie, body = req("POST", "/api/register", "127.0.0.15", {"username": "f0", "password": "correct horse"}, {"x-forwarded-proto": "https"}, to=port)
    print("  same from untrusted 127.0.0.15:", st, cookie)
    c = http.client.HTTPConnection("127.0.0.1", nport, timeout=10); c.request("GET", f"/healthz?token={token}"); c.getresponse().read(); c.close()
    time.sleep(0.3)
    log = open(f"{work}/access.log").read()
    print("  nginx access log lines:", len(log.splitlines()), "| token in it:", token in log, "| 'token=' in it:", "token=" in log, "| last line:", log.splitlines()[-1])
    mport = int(metrics_line.rsplit(":", 1)[1].split("/")[0])
    print("  ", metrics_line, "| /metrics there:", req("GET", "/metrics", "127.0.0.1", to=mport)[0], "| /metrics on --listen:", req("GET", "/metrics", "127.0.0.1", to=port)[0], "| through nginx:", req("GET", "/metrics", "127.0.0.1")[0])
finally:
    nginx.terminate(); nginx.wait(); server.terminate(); server.wait()
