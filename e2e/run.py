#!/usr/bin/env python3
"""End-to-end run of the real binaries, as deployed: `service migrate` (the init job), then
`handler` and `service` against a fresh PostgreSQL database, a local HTTP server playing AGS
IAM + Platform, game events over gRPC (grpcurl, or `buf curl`), claims over REST, a hot
reload, the cleanup job, a GDPR deletion, both /metrics scraped and every metric checked
present and moving, then SIGTERM and a clean exit with JSON logs. Last, the README's quick
start (embedded SQLite) with every command of its five-minute tour, output compared with the
README's.

    python3 e2e/run.py                 # binaries from target/debug (built if missing)
    python3 e2e/run.py --at 2026-12-15T12:00:00Z   # the binaries' clock set to that instant

`--at` runs every binary under libfaketime (Debian package `faketime`), its clock starting at
the given instant and running from there, so CI can check the run before, during and after a
season whatever today's date is. Times the script writes into the database are taken from the
same clock.

Environment: E2E_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres), E2E_BIN
(folder of the binaries, default target/debug), E2E_GRPC_CLIENT (grpcurl or buf; default:
whichever is on PATH, else target/e2e-tools/node_modules/.bin/buf). Only the Python standard
library is used. Exit code 0 when every check passed.
"""

import http.server
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "e2e"
CHECKS = []
FAKETIME_LIBS = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/faketime/libfaketimeMT.so.1"]
# The festival in challenges/winter-festival.yaml, and its claim grace after the end.
SEASON = (datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2027, 1, 15, tzinfo=timezone.utc))
GRACE = timedelta(days=7)


class Clock:
    """The binaries' clock: the real one, or libfaketime's, set off from the real one by the
    same amount in every process, so that `at` is now when the run starts."""

    def __init__(self, at=None):
        self.offset = timedelta(0)
        self.faked = at is not None
        if self.faked:
            self.offset = timedelta(seconds=round((at - datetime.now(timezone.utc)).total_seconds()))

    def now(self):
        return datetime.now(timezone.utc) + self.offset

    def env(self):
        """Environment entries that put a process on this clock."""
        if not self.faked:
            return {}
        lib = next((path for path in FAKETIME_LIBS if Path(path).exists()), None)
        if lib is None:
            raise SystemExit("--at needs libfaketime: apt-get install faketime")
        return {
            "LD_PRELOAD": lib,
            "FAKETIME": f"{int(self.offset.total_seconds()):+d}",
            # Timers and timeouts keep the real monotonic clock; only the calendar moves.
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "TZ": "UTC",
        }

    def sql(self, delta):
        """An SQL timestamp literal `delta` away from this clock's now."""
        return "'" + (self.now() + delta).strftime("%Y-%m-%d %H:%M:%S+00") + "'"


CLOCK = Clock()


def check(condition, what):
    """Records a check; stops the run at the first failure."""
    CHECKS.append(what)
    if not condition:
        raise AssertionError(what)
    print(f"  ok  {what}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a local AGS: IAM (tokens, JWKS) and Platform grants -----------------------------------

JWT_KEY = ROOT / "service/tests/data/jwt/key1.pem"
JWK = ROOT / "service/tests/data/jwt/key1.jwk.json"


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def player_token(sub, permissions=None):
    """An RS256 IAM access token for `sub`, signed with the test key the fake IAM publishes
    (openssl does the signing), valid on the binaries' clock."""
    now = int(CLOCK.now().timestamp())
    # The issuer is the service's AB_BASE_URL, as AGS IAM signs it.
    claims = {"sub": sub, "namespace": NAMESPACE, "iat": now, "exp": now + 3600,
              "iss": FakeAgs.issuer}
    if permissions:
        claims["permissions"] = permissions
    header = {"alg": "RS256", "typ": "JWT", "kid": "key1"}
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode()))
    signed = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(JWT_KEY)],
                            input=signing_input.encode(), capture_output=True, check=True)
    return signing_input + "." + b64url(signed.stdout)


def as_player(sub):
    return {"authorization": "Bearer " + player_token(sub)}



class FakeAgs(http.server.BaseHTTPRequestHandler):
    grants = []
    lock = threading.Lock()
    issuer = ""

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.handle_any()

    def do_GET(self):
        if self.path == "/iam/v3/oauth/jwks":
            return self.answer(200, {"keys": [json.loads(JWK.read_text())]})
        if self.path == "/iam/v3/oauth/revocationlist":
            # Nothing revoked: an empty bloom filter and no revoked users.
            return self.answer(200, {"revoked_tokens": {"m": 64, "k": 1, "bits": [0]},
                                     "revoked_users": []})
        return self.answer(404, {"errorMessage": "not found"})

    def do_PUT(self):
        self.handle_any()

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/iam/v3/oauth/token":
            return self.answer(
                200, {"access_token": "e2e-token", "token_type": "Bearer", "expires_in": 3600}
            )
        if not self.path.startswith(("/platform/admin/namespaces/", "/platform/v3/admin/namespaces/")):
            return self.answer(404, {"errorMessage": "not found"})
        if self.headers.get("authorization") != "Bearer e2e-token":
            return self.answer(401, {"errorMessage": "bad token"})
        if "/users/e2e-unlucky/" in self.path:
            return self.answer(400, {"errorCode": 20002, "errorMessage": "wallet is locked"})
        with FakeAgs.lock:
            FakeAgs.grants.append((self.command, self.path, body.decode()))
        if "/fulfillments/" in self.path:
            # A fulfillment answers its result; only FULFILLED is a grant.
            transaction = self.path.rsplit("/", 1)[1]
            return self.answer(200, {"transactionId": transaction, "state": "FULFILLED",
                                     "items": json.loads(body or b"{}").get("items", [])})
        return self.answer(200, {})


# --- processes -------------------------------------------------------------------------------


class Proc:
    def __init__(self, name, args, env, logdir):
        self.name = name
        self.log_path = Path(logdir) / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, env={**env, **CLOCK.env()}, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None

    def lines(self):
        return self.log_path.read_text(errors="replace").splitlines()

    def tail(self, n=30):
        return "\n".join(self.lines()[-n:])


def http_json(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        return err.code, (json.loads(text) if text else None)


def wait_for(what, predicate, timeout=30.0, procs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.proc.poll() is not None:
                raise AssertionError(f"{p.name} exited with {p.proc.returncode}:\n{p.tail()}")
        try:
            if predicate():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# --- Prometheus text -------------------------------------------------------------------------

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            samples.setdefault(match.group(1), []).append(
                (match.group(2) or "", float(match.group(3)))
            )
    return samples


def total(samples, name, label=""):
    return sum(v for labels, v in samples.get(name, []) if label in labels)


# --- gRPC ------------------------------------------------------------------------------------


def grpc_client():
    chosen = os.environ.get("E2E_GRPC_CLIENT")
    for candidate in [chosen] if chosen else ["grpcurl", "buf"]:
        path = shutil.which(candidate)
        if path:
            return path
    local = ROOT / "target/e2e-tools/node_modules/.bin/buf"
    if local.exists():
        return str(local)
    raise SystemExit(
        "no gRPC client: install grpcurl, or buf (npm install --prefix target/e2e-tools @bufbuild/buf)"
    )


def grpc_args(client, target, method, body):
    """The command line calling `method` on `target` (host:port) with `body` (JSON text)
    through server reflection, with grpcurl or buf curl."""
    if Path(client).name == "grpcurl":
        return [client, "-plaintext", "-d", body, target, method]
    return [client, "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", body,
            f"http://{target}/{method}"]


def grpc_call(client, port, method, message):
    """Calls `method` with `message` (JSON) through server reflection; returns (ok, output)."""
    args = grpc_args(client, f"127.0.0.1:{port}", method, json.dumps(message))
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


STAT = "accelbyte.social.statistic.v1.StatisticStatItemUpdatedService/OnMessage"
LOGIN = "accelbyte.iam.account.v1.UserAuthenticationUserLoggedInService/OnMessage"
GDPR = "accelbyte.iam.account.v1.DeletionAccountGdprGdprRequestDataDeletionResponseService/OnMessage"


def stat_event(event_id, user, code, value, inc):
    return {"id": event_id, "namespace": NAMESPACE, "userId": user,
            "payload": {"statCode": code, "userId": user, "latestValue": value, "inc": inc}}


# --- the run ---------------------------------------------------------------------------------


def database_url(admin_url, database):
    """The URL of `database` on the server of `admin_url`."""
    return admin_url.rsplit("/", 1)[0] + "/" + database


def psql(admin_url, database, sql):
    done = subprocess.run(["psql", database_url(admin_url, database), "-v", "ON_ERROR_STOP=1", "-tAc", sql],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"psql: {done.stderr.strip()}")
    return done.stdout.strip()


def main():
    global CLOCK
    args = sys.argv[1:]
    if args[:1] == ["--at"] and len(args) == 2:
        at = datetime.fromisoformat(args[1].replace("Z", "+00:00"))
        if at.tzinfo is None:
            raise SystemExit(f"--at {args[1]}: give a time zone, e.g. {args[1]}Z")
        CLOCK = Clock(at.astimezone(timezone.utc))
    elif args:
        raise SystemExit("usage: e2e/run.py [--at RFC3339]")
    admin_url = os.environ.get("E2E_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    bin_dir = Path(os.environ.get("E2E_BIN", ROOT / "target/debug"))
    if not (bin_dir / "service").exists() or not (bin_dir / "handler").exists():
        subprocess.run(["cargo", "build", "-q", "-p", "service", "-p", "handler"], cwd=ROOT,
                       check=True)
    client = grpc_client()
    print(f"e2e: binaries in {bin_dir}, gRPC client {client}, clock {CLOCK.now():%Y-%m-%dT%H:%M:%SZ}"
          + (" (libfaketime)" if CLOCK.faked else ""), flush=True)

    host = re.sub(r"[^a-z0-9]", "_", socket.gethostname().lower())[:30]
    database = f"challenge_e2e_{host}_{os.getpid()}"
    admin_db = admin_url.rsplit("/", 1)[1]
    psql(admin_url, admin_db, f"CREATE DATABASE {database}")
    work = Path(tempfile.mkdtemp(prefix="challenge-e2e-"))
    procs = []
    ags = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAgs)
    FakeAgs.issuer = f"http://127.0.0.1:{ags.server_address[1]}"
    threading.Thread(target=ags.serve_forever, daemon=True).start()
    ok = False
    try:
        run(admin_url, database, bin_dir, client, work, procs, ags.server_address[1])
        ok = True
    finally:
        for p in procs:
            p.stop()
        ags.shutdown()
        if not ok:
            for p in procs:
                print(f"--- {p.name} log (last lines) ---\n{p.tail()}", file=sys.stderr)
        psql(admin_url, admin_db, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)
    readme_tour(bin_dir, client)
    print(f"e2e: all {len(CHECKS)} checks passed")


def swagger_ui_renders(api):
    """The Swagger UI, loaded in a real (headless) browser, renders the API's document: its
    assets come from the binary and it finds the document under the base path."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("   (no chromium: the Swagger UI is checked by the Rust tests only)")
        return
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
         "--dump-dom", api + "/apidocs/"],
        capture_output=True, text=True, timeout=120)
    dom = done.stdout
    check("Challenge Engine API" in dom and "/v1/challenges/{challenge}/goals/{goal}/claim" in dom,
          f"the Swagger UI at {{BASE_PATH}}/apidocs/ renders the API in a browser ({len(dom)} bytes)")


def run(admin_url, database, bin_dir, client, work, procs, ags_port):
    db_url = database_url(admin_url, database)
    challenges = work / "challenges"
    shutil.copytree(ROOT / "challenges", challenges)
    ports = {name: free_port() for name in ["grpc", "handler_metrics", "http", "service_metrics"]}
    base_env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "AB_NAMESPACE": NAMESPACE,
        "CHALLENGE_CONFIG_PATH": str(challenges),
        "LOG_LEVEL": "info",
        "RELOAD_DEBOUNCE_MS": "100",
    }

    print("1. migrations as an init job", flush=True)
    done = subprocess.run([bin_dir / "service", "migrate"], env={**base_env, **CLOCK.env()},
                          capture_output=True,
                          text=True, timeout=120)
    check(done.returncode == 0, f"`service migrate` succeeded ({done.stderr.strip()[-200:]})")

    print("2. start the event handler and the REST service", flush=True)
    handler = Proc("handler", [bin_dir / "handler"], {
        **base_env,
        "GRPC_PORT": str(ports["grpc"]),
        "METRICS_PORT": str(ports["handler_metrics"]),
        "LOG_LEVEL": "info,pipeline::events=debug",  # one line per event, as the specification shows
        "CLEANUP_INTERVAL_SECONDS": "1",
        "CLEANUP_RETENTION_DAYS": "1",
        "DEDUP_RETENTION_HOURS": "24",
    }, work)
    procs.append(handler)
    service = Proc("service", [bin_dir / "service"], {
        **base_env,
        "HTTP_PORT": str(ports["http"]),
        "METRICS_PORT": str(ports["service_metrics"]),
        "SERVE_GRPC_EVENTS": "false",
        "PLUGIN_GRPC_SERVER_AUTH_ENABLED": "true",
        "REWARD_CLIENT_MODE": "real",
        # GEMS rewards are fulfilled as a coins item, keyed by the claim's transaction id.
        "REWARD_CURRENCY_ITEMS": "GEMS=gems-coins,GOLD=gold-coins",
        "AB_BASE_URL": f"http://127.0.0.1:{ags_port}",
        "AB_CLIENT_ID": "e2e-client",
        "AB_CLIENT_SECRET": "e2e-secret",
        "CLEANUP_INTERVAL_SECONDS": "0",
    }, work)
    procs.append(service)
    handler_metrics = f"http://127.0.0.1:{ports['handler_metrics']}"
    service_metrics = f"http://127.0.0.1:{ports['service_metrics']}"
    api = f"http://127.0.0.1:{ports['http']}/challenge"
    for url in [handler_metrics + "/healthz", service_metrics + "/healthz"]:
        wait_for(url, lambda url=url: http_json("GET", url)[0] == 200, procs=procs)
    check(True, "both /healthz answer 200 (database reachable)")
    ok, out = grpc_call(client, ports["grpc"], "grpc.health.v1.Health/Check", {})
    check(ok and "SERVING" in out, f"gRPC health check says SERVING ({out})")
    swagger_ui_renders(api)
    before = {"handler": scrape(handler_metrics + "/metrics"),
              "service": scrape(service_metrics + "/metrics")}

    print("3. events over gRPC, progress and claims over REST", flush=True)
    player = as_player("e2e-player")
    status, body = http_json("POST", api + "/v1/challenges/initialize", headers=player)
    check(status == 200 and body["newAssignments"] > 0,
          f"initialize assigned the default goals ({status}, {body and body.get('newAssignments')})")
    ok, out = grpc_call(client, ports["grpc"], LOGIN,
                        {"id": "login-1", "namespace": NAMESPACE, "userId": "e2e-player"})
    check(ok and out == "{}", f"login event acknowledged ({out})")
    ok, out = grpc_call(client, ports["grpc"], STAT,
                        stat_event("lvl-1", "e2e-player", "player_level", 20, 20))
    check(ok and out == "{}", f"stat event acknowledged ({out})")
    # A counting goal tells a redelivery apart from a new event: weekly-veteran counts events.
    duplicates = lambda: total(scrape(handler_metrics + "/metrics"),
                               "challenge_events_processed_total", 'outcome="duplicate"')
    duplicates_before = duplicates()
    for attempt in range(2):
        ok, out = grpc_call(client, ports["grpc"], STAT,
                            stat_event("match-1", "e2e-player", "matches_played", 1, 1))
        check(ok and out == "{}", f"match event acknowledged (delivery {attempt + 1} of 2)")
    check(duplicates() == duplicates_before + 1,
          f"the redelivery counted as a duplicate ({duplicates_before:g} -> {duplicates():g})")
    ok, out = grpc_call(client, ports["grpc"], STAT, stat_event("bad", "", "player_level", 1, 1))
    check(not ok and "invalid" in out.lower(),
          f"an event without a user is refused as invalid ({out[:160]})")

    def level_goal(headers):
        status, body = http_json("GET", api + "/v1/challenges/achievements", headers=headers)
        assert status == 200, (status, body)
        return next(g for g in body["goals"] if g["goalId"] == "level-20")

    goal = level_goal(player)
    check(goal["status"] == "completed" and goal["progress"] == 20,
          f"level-20 completed with progress 20 ({goal['status']}, {goal['progress']})")
    status, body = http_json("GET", api + "/v1/challenges/weekly-missions", headers=player)
    veteran = next(g for g in body["goals"] if g["goalId"] == "weekly-veteran")
    check(veteran["progress"] == 1,
          f"the redelivered match counted once on the counting goal ({veteran['progress']})")

    # The festival, whatever today's date: counting between its start and end, listed (and its
    # rewards claimable) until a week after the end.
    now = CLOCK.now()
    in_season = SEASON[0] <= now < SEASON[1]
    readable = SEASON[0] <= now < SEASON[1] + GRACE
    ok, _ = grpc_call(client, ports["grpc"], STAT,
                      stat_event("tutorial-1", "e2e-player", "tutorial_completed", 1, 1))
    check(ok, "tutorial event acknowledged")
    status, body = http_json("GET", api + "/v1/challenges", headers=player)
    listed = [c["challengeId"] for c in body["challenges"]]
    check(("winter-2026" in listed) == readable,
          f"the festival is listed {'now' if readable else 'only during its season and grace'} ({listed})")
    status, body = http_json("GET", api + "/v1/challenges/winter-2026", headers=player)
    if readable:
        tutorial = next(g for g in body["goals"] if g["goalId"] == "complete-tutorial")
        expected = "completed" if in_season else "not_started"
        check(status == 200 and tutorial["status"] == expected,
              f"the tutorial event {'counted' if in_season else 'did not count after the end'} ({tutorial['status']})")
    else:
        check(status == 404, f"out of season, the festival answers 404 ({status}, {body})")
    claim = api + "/v1/challenges/achievements/goals/level-20/claim"
    status, body = http_json("POST", claim, headers=player)
    check(status == 200 and body["status"] == "claimed", f"claim answered 200 claimed ({status})")
    check(len(FakeAgs.grants) == 1, f"AGS Platform was called once ({FakeAgs.grants})")
    method, path, sent = FakeAgs.grants[0]
    sent = json.loads(sent)
    prefix = f"/platform/v3/admin/namespaces/{NAMESPACE}/users/e2e-player/fulfillments/"
    check(method == "PUT" and path.startswith(prefix) and re.fullmatch(r"ce-[0-9a-f]{32}", path[len(prefix):]),
          f"the grant is a fulfillment for the player keyed by the claim's transaction id ({method} {path})")
    check(sent.get("items") == [{"itemId": "gems-coins", "quantity": 50, "source": "REWARD", "origin": "System"}],
          f"the fulfillment carries the goal's 50 GEMS as the coins item ({sent})")
    status, body = http_json("POST", claim, headers=player)
    check(status == 409, f"a second claim answers 409 ({status}, {body})")

    unlucky = as_player("e2e-unlucky")
    ok, _ = grpc_call(client, ports["grpc"], STAT,
                      stat_event("lvl-2", "e2e-unlucky", "player_level", 25, 25))
    check(ok, "the unlucky player's stat event acknowledged")
    status, body = http_json("POST", claim, headers=unlucky)
    check(status == 502, f"a grant Platform refuses answers 502 ({status}, {body})")
    check(level_goal(unlucky)["status"] == "completed",
          "after the failed grant the goal is still completed (claimable again)")

    print("4. hot reload through the challenges folder", flush=True)
    reloads = lambda: total(scrape(handler_metrics + "/metrics"), "challenge_rules_reloads")
    first = reloads()
    with open(challenges / "achievements.yaml", "a") as f:
        f.write("\n# edited by the e2e run\n")
    wait_for("the handler to reload the rules", lambda: reloads() > first, procs=procs)
    check(True, "editing a challenge file reloaded the rules (challenge_rules_reloads moved)")

    print("5. the cleanup job", flush=True)
    # Times on the binaries' clock (PostgreSQL's now() is the real one).
    d31, d30 = CLOCK.sql(timedelta(days=-31)), CLOCK.sql(timedelta(days=-30))
    psql(admin_url, database,
         "INSERT INTO user_goal_progress (user_id, goal_id, challenge_id, namespace, is_active, "
         "assigned_at, updated_at, expires_at) VALUES "
         f"('e2e-dormant', 'daily-win-3', 'daily-missions', 'e2e', false, {d31}, {d31}, {d30}), "
         f"('e2e-dormant', 'daily-play-5', 'daily-missions', 'e2e', true, {d31}, {d31}, {d30}); "
         "INSERT INTO processed_events (event_id, user_id, processed_at) "
         f"VALUES ('e2e-old-event', 'e2e-dormant', {d30})")
    wait_for("the cleanup job", lambda: psql(
        admin_url, database,
        "SELECT count(*) FROM user_goal_progress WHERE user_id = 'e2e-dormant' AND NOT is_active") == "0"
        and psql(admin_url, database,
                 "SELECT count(*) FROM processed_events WHERE event_id = 'e2e-old-event'") == "0",
        procs=procs)
    check(True, "the cleanup job deleted the dormant, unselected daily row and the old event id")
    kept = psql(admin_url, database,
                "SELECT goal_id FROM user_goal_progress WHERE user_id = 'e2e-dormant'")
    check(kept == "daily-play-5", f"the dormant player's selected daily goal was kept ({kept})")

    print("6. GDPR deletion over gRPC", flush=True)
    ok, out = grpc_call(client, ports["grpc"], GDPR, {
        "payload": {"deletionGdpr": {"userId": "e2e-player", "namespace": NAMESPACE}},
        "namespace": NAMESPACE})
    check(ok, f"GDPR deletion acknowledged ({out})")
    rows = psql(admin_url, database,
                "SELECT (SELECT count(*) FROM user_goal_progress WHERE user_id = 'e2e-player') + "
                "(SELECT count(*) FROM processed_events WHERE user_id = 'e2e-player') + "
                "(SELECT count(*) FROM reward_grants WHERE user_id = 'e2e-player') + "
                "(SELECT count(*) FROM notification_outbox WHERE user_id = 'e2e-player')")
    check(rows == "0", f"no row of the deleted player is left in any table ({rows})")
    goal = level_goal(player)
    check(goal["status"] == "not_started", f"REST shows the player from scratch ({goal['status']})")
    ledger = psql(admin_url, database, "SELECT count(*), bool_or(key LIKE '%e2e-player%') FROM reward_ledger")
    check(ledger == "1|f", f"the granted reward left one ledger row naming no user ({ledger})")
    ok, _ = grpc_call(client, ports["grpc"], STAT,
                      stat_event("lvl-3", "e2e-player", "player_level", 20, 20))
    check(ok and level_goal(player)["status"] == "completed", "the player reaches level 20 again")
    status, body = http_json("POST", claim, headers=player)
    check(status == 409 and len(FakeAgs.grants) == 1,
          f"the same reward is not granted again after the deletion ({status}, {len(FakeAgs.grants)} grants)")

    print("6b. claim: auto: the handler's completion is claimed by the service, once", flush=True)
    chests = as_player("e2e-chests")
    ok, out = grpc_call(client, ports["grpc"], STAT,
                        stat_event("wins-50", "e2e-chests", "matches_won", 50, 50))
    check(ok and out == "{}", f"fifty wins acknowledged by the handler ({out})")
    mine = lambda: [g for g in FakeAgs.grants if "/users/e2e-chests/" in g[1]]
    wait_for("the gold chest granted without a claim", lambda: len(mine()) > 0, timeout=20)
    time.sleep(1.5)
    granted = mine()
    check(len(granted) == 1 and ("gold-coins" in granted[0][2] or "gems-coins" in granted[0][2]),
          f"one fulfillment of the gold chest's drawn currency ({granted})")
    status, body = http_json("GET", api + "/v1/challenges/treasure-chests", headers=chests)
    shown = {g["goalId"]: g for g in (body or {}).get("goals", [])}
    check(status == 200 and shown.get("gold-chest", {}).get("status") == "claimed"
          and shown["gold-chest"].get("autoClaim") is True
          and shown.get("bronze-chest", {}).get("status") == "completed",
          f"the gold chest reads claimed, the bronze one waits for its player ({status})")

    print("7. metrics of both binaries present and moving", flush=True)
    after = {"handler": scrape(handler_metrics + "/metrics"),
             "service": scrape(service_metrics + "/metrics")}
    moving = {
        # metric: (binary, sample name, label filter)
        "challenge_event_processing_seconds": ("handler", "challenge_event_processing_seconds_count", ""),
        "challenge_api_request_duration_seconds": ("service", "challenge_api_request_duration_seconds_count", ""),
        "challenge_db_query_duration_seconds": ("handler", "challenge_db_query_duration_seconds_count", ""),
        "challenge_db_query_duration_seconds (service)": ("service", "challenge_db_query_duration_seconds_count", ""),
        "challenge_flush_duration_seconds": ("handler", "challenge_flush_duration_seconds_count", ""),
        "challenge_errors_total": ("service", "challenge_errors_total", 'component="api"'),
        "challenge_rules_reloads": ("handler", "challenge_rules_reloads", ""),
        "challenge_cleanup_deleted_rows_total": ("handler", "challenge_cleanup_deleted_rows_total", ""),
        "challenge_cleanup_runs_total": ("handler", "challenge_cleanup_runs_total", 'outcome="ok"'),
        "challenge_events_processed_total": ("handler", "challenge_events_processed_total", ""),
        "challenge_events_rejected_total": ("handler", "challenge_events_rejected_total", ""),
    }
    for what, (binary, name, label) in moving.items():
        was, now = total(before[binary], name, label), total(after[binary], name, label)
        check(now > was, f"{binary}: {what} moved ({was:g} -> {now:g})")
    for binary in ["handler", "service"]:
        for name in ["challenge_db_connections_active", "challenge_buffer_size",
                     "challenge_errors_total", "challenge_rules_reloads",
                     "challenge_rules_reload_failures", "challenge_db_query_duration_seconds_bucket",
                     "challenge_flush_duration_seconds_bucket",
                     "challenge_cleanup_last_success_timestamp_seconds"]:
            check(name in after[binary], f"{binary}: {name} present")
        info = after[binary].get("challenge_rules_info", [])
        check(len(info) == 1 and info[0][1] == 1 and "content_hash=" in info[0][0],
              f"{binary}: challenge_rules_info names the loaded rule set ({info})")
    # At rest no event waits and, between the handler's cleanup runs (every second here), no
    # connection stays busy: a leaked connection or a stuck event never reaches zero.
    for binary, url in [("handler", handler_metrics), ("service", service_metrics)]:
        gauges = lambda url=url: scrape(url + "/metrics")
        at_rest = lambda samples: (total(samples, "challenge_db_connections_active") == 0
                                   and total(samples, "challenge_buffer_size") == 0)
        wait_for(f"{binary} at rest", lambda: at_rest(gauges()), timeout=10)
        samples = gauges()
        check(total(samples, "challenge_db_connections_max") > 0,
              f"{binary}: at rest no connection is busy and no event waits; the pool has a size")

    print("8. SIGTERM: both stop cleanly, logs are JSON lines", flush=True)
    for p in procs:
        code = p.stop()
        check(code == 0, f"{p.name} exited 0 on SIGTERM ({code})")
        lines = [json.loads(line) for line in p.lines() if line.strip()]
        check(all({"timestamp", "level", "message"} <= set(line) for line in lines),
              f"{p.name}: every log line is JSON with timestamp, level, message ({len(lines)} lines)")
        check(any("stopped" in line["message"] for line in lines),
              f"{p.name}: logged its orderly stop")
    processed = [json.loads(line) for line in handler.lines()
                 if '"event processed"' in line]
    check(processed and all({"event_id", "user_id", "duration_ms"} <= set(line)
                            for line in processed),
          "handler: 'event processed' lines carry event_id, user_id, duration_ms")


# --- the README's five-minute tour, as written ----------------------------------------------

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def tour_blocks():
    """The README tour's fenced blocks, in order: (language, text)."""
    text = (ROOT / "README.md").read_text()
    tour = text[text.index("## Five-minute tour"):text.index("## A taste of the DSL")]
    return tour, re.findall(r"```(\w*)\n(.*?)```", tour, re.S)


def run_tour_command(line, client, ports, bin_dir, cwd, env):
    for default, port in [("8000", ports["http"]), ("6565", ports["grpc"]), ("8080", ports["metrics"])]:
        line = line.replace(f"localhost:{default}", f"localhost:{port}")
    line = line.replace("cargo run -q -p service --", shlex.quote(str(bin_dir / "service")))
    words = shlex.split(line)
    if words[0] == "grpcurl":
        # grpcurl -plaintext -d JSON host:port method, with the client at hand
        body, target, method = words[words.index("-d") + 1], words[-2], words[-1]
        args = grpc_args(client, target, method, body)
        return subprocess.run(args, capture_output=True, text=True, timeout=60).stdout
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60,
                          cwd=cwd, env=env).stdout


def normalized(text):
    return TIME.sub("<time>", text).strip().splitlines()


def log_lines(path, message):
    """The JSON log lines of `path` whose message is `message`."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == message:
            found.append(entry)
    return found


def started(service, ports, log_path, timeout=60.0):
    """Whether the quick-start service answers /healthz; False as soon as it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.poll() is not None:
            return False
        try:
            if http_json("GET", f"http://127.0.0.1:{ports['metrics']}/healthz")[0] == 200:
                return True
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.1)
    return False


def readme_tour(bin_dir, client):
    """Runs the README's two-command quick start (embedded SQLite, mock users and rewards) and
    every step of its tour: each command's output, the log line of the rejected edit and lint's
    answers are compared with the README's (times aside)."""
    print("9. the README's five-minute tour, as written", flush=True)
    work = Path(tempfile.mkdtemp(prefix="challenge-tour-"))
    shutil.copytree(ROOT / "challenges", work / "challenges")
    ports = {name: free_port() for name in ["http", "grpc", "metrics"]}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "DB_", "AB_", "CHALLENGE_", "CLEANUP_"))}
    env.update({"PLUGIN_GRPC_SERVER_AUTH_ENABLED": "false", "REWARD_CLIENT_MODE": "mock",
                "HTTP_PORT": str(ports["http"]), "GRPC_PORT": str(ports["grpc"]),
                "METRICS_PORT": str(ports["metrics"]), "RELOAD_DEBOUNCE_MS": "100",
                **CLOCK.env()})
    log_path = work / "service.log"
    achievements = work / "challenges/achievements.yaml"
    original = achievements.read_text()
    service = None
    try:
        # A port picked free can be taken before the service binds it: start again on others.
        for attempt in range(3):
            log = open(log_path, "wb")
            service = subprocess.Popen([bin_dir / "service"], cwd=work, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
            if started(service, ports, log_path):
                break
            output = log_path.read_text(errors="replace")
            if service.poll() is None or "cannot listen" not in output or attempt == 2:
                raise AssertionError(f"the quick-start service did not start:\n{output[-3000:]}")
            ports.update({name: free_port() for name in ports})
            env.update({"HTTP_PORT": str(ports["http"]), "GRPC_PORT": str(ports["grpc"]),
                        "METRICS_PORT": str(ports["metrics"])})
        tour, blocks = tour_blocks()
        steps = 0
        restored = False

        def put_back():
            """Putting the target back reloads the rules, and lint is happy again."""
            achievements.write_text(original)
            back = "challenge files match the rules in use again"
            check(back in tour, "README step 6 names the log line of the undone edit")
            wait_for("the undone edit", lambda: log_lines(log_path, back))
            check(True, f"putting the target back logged `{back}`")
            clean = re.search(r"lint answers `([^`]+)`", tour)
            check(clean is not None, "README step 6 quotes lint's answer on the fixed files")
            got = run_tour_command("cargo run -q -p service -- lint challenges/", client, ports,
                                   bin_dir, work, env).strip()
            check(got == clean.group(1), f"README: lint on the fixed files answers `{got}`")

        for index, (lang, body) in enumerate(blocks):
            if lang == "json" and '"challenge rules reload rejected"' in body:
                # Step 6: the edit the README describes, and the log line it shows.
                check("Change `target: 20` of `level-20`" in tour, "README step 6 names its edit")
                edited = re.sub(r"(- id: level-20\n(?:\s+.*\n)*?\s+target: )20\n", r"\g<1>25\n",
                                original, count=1)
                check(edited != original, "the tour's edit applies to achievements.yaml")
                achievements.write_text(edited)
                wait_for("the rejected reload", lambda: log_lines(log_path, "challenge rules reload rejected"))
                got = log_lines(log_path, "challenge rules reload rejected")[0]
                expected = json.loads(body)
                got.pop("timestamp"), expected.pop("timestamp")
                check(got == expected, f"README: the rejected edit logs what the README shows"
                      + ("" if got == expected else f"\n got: {got}"))
                steps += 1
                continue
            if lang != "sh" or index + 1 >= len(blocks):
                continue
            if "replay" in body and not restored:
                # Step 7 starts from the deployed rules: step 6's edit was put back.
                put_back()
                restored = True
            expected = blocks[index + 1][1]
            commands = body.replace("\\\n", " ")
            got = "".join(run_tour_command(line, client, ports, bin_dir, work, env) + "\n"
                          for line in commands.strip().splitlines())
            same = normalized(got) == normalized(expected)
            check(same, f"README: `{commands.strip().splitlines()[0][:70]}` prints what the README shows"
                  + ("" if same else f"\n got: {got}"))
            steps += 1
        check(steps >= 7, f"the README tour ran all its steps ({steps})")

        if not restored:
            put_back()
    finally:
        if service is not None and service.poll() is None:
            service.send_signal(signal.SIGTERM)
            service.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as err:
        print(f"e2e FAILED: {err}", file=sys.stderr)
        sys.exit(1)
