#!/usr/bin/env python3
"""The compose stack without containers: read compose/docker-compose.yml (as
`docker-compose config` renders it with compose/.env, not a copy of it) and
start the same binaries with the same arguments and environment as its
services, against a real Kafka broker and Azurite that the caller started
(tests/deploy/test_local_stack.c does, with tests/support).

What is translated, and only this:
  - container paths: a named volume becomes a directory under --workdir, a
    read-only bind mount its source, a writable one a directory under
    --workdir, a secret /run/secrets/NAME a file with a generated token;
  - host names: kafka:9092 becomes --bootstrap, azurite:10000 the host:port
    of --azurite;
  - listeners: MM_HTTP_ADDR 0.0.0.0:PORT becomes 127.0.0.1:<a free port>;
  - commands run from a directory of links to the built binaries and the
    image's scripts (deploy/image/), found on PATH as in the image;
  - the batch-scoring interval (mm-every SECONDS) becomes --score-interval.
Every service is started in depends_on order and waited for as compose
would: service_healthy runs the service's own healthcheck command (the
image's mm-healthcheck), service_completed_successfully waits for exit 0.

A service whose mode its binary does not have yet (`mm-scorer serve`,
`mm-ingest watch`: `<binary> <mode> --help` names no such mode) is reported
and left out; then the CSV is loaded by a one-shot mm-ingest run with the
ingest service's environment instead of being dropped into the watched folder,
and the scorer's HTTP answer is not checked.

Then: sample data (mm-datagen) goes in, and the run checks that every key gets
a model and a decision (mmctl report on the promoter's registry), that the
scheduled batch scoring writes predictions for every key (its sink), that the
scorer answers over HTTP (when it runs), and with --trainers 2 that both
trainers were assigned partitions and trained models (their /metrics).

Exit status 0 when every check passed, 1 otherwise (the services' logs are
printed), 2 on a usage or setup error.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from check_manifests import (BINARY_PATHS, IMAGE_NAME, compose_env,  # noqa: E402
                             compose_volume, split_command, yaml)

PROVIDED = {"kafka", "azurite"}  # started by the caller, not from the compose file
EXTRA_BINARIES = {"mm-datagen": "tools/datagen/mm-datagen"}


def log(msg):
    print(f"local_stack: {msg}", flush=True)


def timeout_s(s):
    try:
        mult = float(os.environ.get("MM_TEST_TIMEOUT_MULT", "1") or 1)
    except ValueError:
        mult = 1.0
    return s * max(mult, 1.0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_compose(compose_dir):
    exe = shutil.which("docker-compose")
    if not exe:
        sys.exit("local_stack: docker-compose is missing (scripts/deps.sh installs it)")
    p = subprocess.run([exe, "--project-directory", compose_dir, "-f",
                        os.path.join(compose_dir, "docker-compose.yml"), "config"],
                       capture_output=True, text=True, cwd=compose_dir)
    if p.returncode != 0:
        sys.exit("local_stack: docker-compose config: " + p.stderr.strip())
    return yaml.safe_load(p.stdout)


def order(services):
    """Services in depends_on order (the provided ones left out)."""
    done, out = set(PROVIDED), []

    def visit(name, path=()):
        if name in done:
            return
        if name in path:
            raise SystemExit(f"local_stack: depends_on circle through {name}")
        deps = services[name].get("depends_on") or {}
        for d in (deps if isinstance(deps, list) else deps.keys()):
            visit(d, path + (name,))
        done.add(name)
        out.append(name)

    for n in services:
        visit(n)
    return out


class Proc:
    def __init__(self, service, index, argv, env, http, log_path):
        self.service, self.index, self.argv, self.env, self.http = service, index, argv, env, http
        self.log_path = log_path
        self.popen = None

    @property
    def name(self):
        return f"{self.service}.{self.index}"


class Stack:
    def __init__(self, cfg, args):
        self.cfg = cfg
        self.args = args
        self.services = {n: s for n, s in cfg["services"].items()}
        self.work = args.workdir
        self.bin = os.path.join(self.work, "bin")
        self.procs = []
        self.skipped = {}
        self.failures = []
        self.secrets = {}
        self._make_bin()
        az = re.match(r"https?://([^/]+)", args.azurite)
        if not az:
            sys.exit(f"local_stack: --azurite {args.azurite!r} is not an http URL")
        self.hosts = {"kafka:9092": args.bootstrap, "azurite:10000": az.group(1)}

    # ------------------------------------------------------------ translation
    def _make_bin(self):
        os.makedirs(self.bin, exist_ok=True)
        for name, rel in {**BINARY_PATHS, **EXTRA_BINARIES}.items():
            src = os.path.join(self.args.build_dir, rel)
            if not os.access(src, os.X_OK):
                sys.exit(f"local_stack: {src} is not built")
            os.symlink(src, os.path.join(self.bin, name))
        image_dir = os.path.join(ROOT, "deploy", "image")
        for name in os.listdir(image_dir):
            os.symlink(os.path.join(image_dir, name), os.path.join(self.bin, name))

    def secret_file(self, name):
        if name not in self.secrets:
            path = os.path.join(self.work, "secrets", name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(f"local-stack-{name}-{os.getpid()}\n")
            os.chmod(path, 0o600)
            self.secrets[name] = path
        return self.secrets[name]

    def mounts(self, svc):
        """container path -> host path for a service."""
        m = {}
        for v in (compose_volume(x) for x in svc.get("volumes") or []):
            target = v["target"]
            if v.get("type") == "volume":
                host = os.path.join(self.work, "volumes", v.get("source") or target.strip("/").replace("/", "_"))
                os.makedirs(host, exist_ok=True)
            elif v.get("read_only"):
                host = v["source"]
            else:
                host = os.path.join(self.work, "binds", os.path.basename(v["source"].rstrip("/")))
                os.makedirs(host, exist_ok=True)
            m[target] = host
        for s in svc.get("secrets") or []:
            name = s if isinstance(s, str) else s.get("source")
            target = f"/run/secrets/{name}" if isinstance(s, str) else s.get("target", f"/run/secrets/{name}")
            m[target] = self.secret_file(name)
        for path in ("/usr/local/bin", "/usr/bin"):
            m.setdefault(path, self.bin)
        return m

    def translate(self, value, mounts):
        s = str(value)
        for target in sorted(mounts, key=len, reverse=True):
            host = mounts[target]
            if s == target or s.startswith(target + "/"):
                s = host + s[len(target):]
                break
            if "=" in s:
                k, _, v = s.partition("=")
                if v == target or v.startswith(target + "/"):
                    s = f"{k}={host}{v[len(target):]}"
                    break
        for name, repl in self.hosts.items():
            s = s.replace(name, repl)
        return s

    def plan(self, name, index):
        svc = self.services[name]
        mounts = self.mounts(svc)
        argv = [self.translate(a, mounts) for a in svc.get("command") or []]
        if argv and argv[0] == "mm-every":
            argv[1] = str(self.args.score_interval)
        env = {k: self.translate(v, mounts) for k, v in compose_env(svc).items()}
        http = None
        if env.get("MM_HTTP_ADDR"):
            http = f"127.0.0.1:{free_port()}"
            env["MM_HTTP_ADDR"] = http
        os.makedirs(os.path.join(self.work, "logs"), exist_ok=True)
        return Proc(name, index, argv, env, http, os.path.join(self.work, "logs", f"{name}.{index}.log"))

    def base_env(self, extra):
        env = {k: os.environ[k] for k in ("HOME", "LANG", "TMPDIR", "ASAN_OPTIONS", "UBSAN_OPTIONS")
               if k in os.environ}
        env["PATH"] = self.bin + os.pathsep + "/usr/local/bin:/usr/bin:/bin"
        env.update(extra)
        return env

    # ------------------------------------------------------------ processes
    def mode_available(self, argv):
        binary, mode, _ = split_command(argv)
        if not mode or binary == "mmctl":
            return True
        p = subprocess.run([os.path.join(self.bin, binary), mode, "--help"], capture_output=True, text=True,
                           env=self.base_env({}), timeout=30)
        usage = (p.stdout + p.stderr).split("\n\n")[0]
        return p.returncode == 0 and re.search(rf"\b{re.escape(mode)}\b", usage) is not None

    def start(self, proc):
        f = open(proc.log_path, "ab")
        proc.popen = subprocess.Popen(proc.argv, env=self.base_env(proc.env), stdout=f, stderr=subprocess.STDOUT,
                                      cwd=self.work, start_new_session=True)
        f.close()
        self.procs.append(proc)
        log(f"started {proc.name}: {' '.join(proc.argv)}" + (f" (http {proc.http})" if proc.http else ""))

    def healthy(self, proc):
        hc = self.services[proc.service].get("healthcheck") or {}
        test = hc.get("test")
        if hc.get("disable") or not test:
            return proc.popen.poll() is None
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        mounts = self.mounts(self.services[proc.service])
        cmd = [self.translate(a, mounts) for a in test[1:]]
        if test[0] == "CMD-SHELL":
            cmd = ["sh", "-c", " ".join(cmd)]
        try:
            return subprocess.run(cmd, env=self.base_env(proc.env), capture_output=True, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def wait_for(self, dep, condition, deadline):
        procs = [p for p in self.procs if p.service == dep]
        if not procs:
            if dep in self.skipped:
                return True
            self.failures.append(f"{dep} was never started")
            return False
        while time.time() < deadline:
            if condition == "service_completed_successfully":
                rcs = [p.popen.poll() for p in procs]
                if all(rc == 0 for rc in rcs):
                    return True
                if any(rc not in (None, 0) for rc in rcs):
                    self.failures.append(f"{dep} exited {rcs}")
                    return False
            else:
                for p in procs:
                    if p.popen.poll() is not None:
                        self.failures.append(f"{p.name} exited {p.popen.returncode} before it was healthy")
                        return False
                if all(self.healthy(p) for p in procs):
                    return True
            time.sleep(0.5)
        self.failures.append(f"{dep} did not reach {condition} in time")
        return False

    def up(self):
        for name in order(self.services):
            svc = self.services[name]
            if str(svc.get("image", "")).split("/")[-1].split(":")[0] != IMAGE_NAME:
                self.failures.append(f"service {name} is neither a manymodels service nor provided (kafka, azurite)")
                return False
            deps = svc.get("depends_on") or {}
            for dep, cond in (deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)):
                if dep in PROVIDED:
                    continue
                if not self.wait_for(dep, (cond or {}).get("condition", "service_started"),
                                     time.time() + timeout_s(180)):
                    return False
            probe = self.plan(name, 0)
            if not self.mode_available(probe.argv):
                binary, mode, _ = split_command(probe.argv)
                self.skipped[name] = f"{binary} has no mode {mode!r} yet"
                log(f"skipped {name}: {self.skipped[name]}")
                continue
            replicas = self.args.trainers if name == "trainer" else 1
            for i in range(replicas):
                self.start(probe if i == 0 else self.plan(name, i))
        return True

    def down(self):
        for p in reversed(self.procs):
            if p.popen and p.popen.poll() is None:
                try:
                    os.killpg(p.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        end = time.time() + timeout_s(60)
        for p in reversed(self.procs):
            if not p.popen:
                continue
            try:
                p.popen.wait(max(0.1, end - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.popen.wait()

    def dump_logs(self):
        for p in self.procs:
            try:
                with open(p.log_path, errors="replace") as f:
                    lines = f.readlines()[-40:]
            except OSError:
                continue
            print(f"---- {p.name} (last {len(lines)} lines of {p.log_path})")
            sys.stdout.write("".join(lines))

    # ------------------------------------------------------------ the run
    def run_tool(self, argv, env, timeout=120):
        return subprocess.run(argv, env=self.base_env(env), capture_output=True, text=True,
                              timeout=timeout_s(timeout), cwd=self.work)

    def service_env(self, name):
        return self.plan(name, 99).env

    def load_data(self):
        data = os.path.join(self.work, "data")
        os.makedirs(data, exist_ok=True)
        csv = os.path.join(data, "sales.csv")
        p = self.run_tool(["mm-datagen", "sales", "--stores", str(self.args.stores), "--items", str(self.args.items),
                           "--days", str(self.args.days), "--seed", "7", "--out", csv], {})
        if p.returncode != 0:
            self.failures.append(f"mm-datagen failed: {p.stderr.strip()}")
            return None
        keys = self.args.stores * self.args.items
        ingest = self.services.get("ingest")
        if ingest is None:
            self.failures.append("the compose file has no ingest service")
            return None
        if "ingest" in self.skipped:
            env = self.service_env("ingest")
            log(f"loading {csv} with a one-shot mm-ingest (the ingest service's environment)")
            p = self.run_tool(["mm-ingest", csv], env, timeout=300)
            if p.returncode not in (0, 2):
                self.failures.append(f"mm-ingest exited {p.returncode}: {p.stderr.strip()[-2000:]}")
                return None
        else:
            watched = self.watched_folder()
            if not watched:
                self.failures.append("the ingest service mounts no writable folder to watch")
                return None
            tmp = os.path.join(watched, ".sales.csv.part")
            shutil.copyfile(csv, tmp)
            os.rename(tmp, os.path.join(watched, "sales.csv"))
            log(f"dropped sales.csv into the watched folder {watched}")
        return keys

    def watched_folder(self):
        """The host directory of the ingest service's writable bind mount (the
        folder it watches), as mounts() translated it."""
        svc = self.services["ingest"]
        mounts = self.mounts(svc)
        for v in (compose_volume(x) for x in svc.get("volumes") or []):
            if v.get("type") == "bind" and not v.get("read_only"):
                return mounts[v["target"]]
        return None

    def report(self):
        reg = self.service_env("promoter").get("MM_PROMOTER_REGISTRY")
        sink = self.service_env("batch-scorer").get("MM_SCORER_SINK") if "batch-scorer" in self.services else None
        argv = ["mmctl", "report", "-o", "json", "--registry", reg]
        if sink and os.path.exists(sink):
            argv += ["--sink", sink]
        p = self.run_tool(argv, {})
        if p.returncode != 0:
            return None
        try:
            return json.loads(p.stdout)
        except ValueError:
            return None

    def model_predictions(self, keys):
        """The latest predictions in the batch scorer's sink when every key's
        come from a registered model version (not a fallback the scorer fitted)."""
        sink = self.service_env("batch-scorer").get("MM_SCORER_SINK")
        if not sink or not os.path.exists(sink):
            return None
        p = self.run_tool(["mmctl", "predictions", "list", "-o", "json", "--sink", sink], {})
        if p.returncode != 0:
            return None
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            return None
        rows = doc.get("predictions", doc) if isinstance(doc, dict) else doc
        by_key = {}
        for r in rows or []:
            by_key.setdefault(r.get("partition_key"), []).append(r)
        if len(by_key) < keys:
            return None
        if not all(all((r.get("model_version") or 0) > 0 and r.get("status") == "ok" for r in rs)
                   for rs in by_key.values()):
            return None
        return [r for rs in by_key.values() for r in rs]

    def wait_until(self, what, fn, seconds):
        end = time.time() + timeout_s(seconds)
        while time.time() < end:
            for p in self.procs:
                rc = p.popen.poll()
                if rc is not None and p.service not in self.one_shots():
                    self.failures.append(f"{p.name} exited {rc} while waiting for {what}")
                    return None
            v = fn()
            if v:
                return v
            time.sleep(1)
        self.failures.append(f"timed out waiting for {what}")
        return None

    def one_shots(self):
        return {n for n, s in self.services.items() if s.get("restart") == "no"}

    def metric(self, proc, name):
        try:
            with urllib.request.urlopen(f"http://{proc.http}/metrics", timeout=5) as r:
                text = r.read().decode()
        except (OSError, urllib.error.URLError):
            return None
        total = None
        for line in text.splitlines():
            m = re.match(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.eE+-]+)$", line)
            if m:
                total = (total or 0) + float(m.group(1))
        return total

    def check_scorer_http(self, keys):
        scorer = [p for p in self.procs if p.service == "scorer"]
        if not scorer:
            log(f"scorer HTTP not checked: {self.skipped.get('scorer', 'no scorer service')}")
            return
        p = scorer[0]
        # The token is the first line of the service's secret (a file this run generated).
        names = [s if isinstance(s, str) else s.get("source") for s in self.services["scorer"].get("secrets") or []]
        if not names:
            self.failures.append("the scorer service has no secret holding its bearer tokens")
            return
        with open(self.secret_file(names[0])) as f:
            token = f.read().split()[0]
        key = "store=1/item=1"
        body = json.dumps({"key": key}).encode()

        def ask(auth):
            req = urllib.request.Request(f"http://{p.http}/v1/forecast", data=body, method="POST",
                                         headers={"Content-Type": "application/json", **auth})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()
            except OSError as e:
                return None, str(e).encode()

        status = self.wait_until("the scorer to answer POST /v1/forecast with 200",
                                 lambda: ask({"Authorization": f"Bearer {token}"})[0] == 200 or None, 120)
        if status:
            log(f"scorer answered POST /v1/forecast for {key}")
            st, _ = ask({})
            if st != 401:
                self.failures.append(f"the scorer answered {st} without a token (expected 401)")

    def ready(self, proc):
        try:
            with urllib.request.urlopen(f"http://{proc.http}/readyz", timeout=5) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def run(self):
        if not self.up():
            return
        # As a readiness gate would: data goes in once every listening service
        # is ready (a trainer is ready once partitions are assigned to it, so
        # with several trainers the group has settled).
        waiting = [p for p in self.procs if p.http and p.popen.poll() is None]
        if not self.wait_until("every service to be ready (/readyz)",
                               lambda: all(self.ready(p) for p in waiting) or None, 180):
            return
        log("ready: " + ", ".join(p.name for p in waiting))
        keys = self.load_data()
        if keys is None:
            return
        rep = self.wait_until(f"a decision for each of the {keys} keys",
                              lambda: (lambda r: r if r and r.get("decided_keys", 0) >= keys else None)(self.report()),
                              600)
        if not rep:
            return
        log(f"registry: {rep.get('keys')} keys, {rep.get('versions')} versions, {rep.get('approved')} approved, "
            f"{rep.get('decided_keys')} decided")
        if rep.get("versions", 0) < keys:
            self.failures.append(f"only {rep.get('versions')} model versions for {keys} keys")
        if "batch-scorer" in self.services and "batch-scorer" not in self.skipped:
            # A run that started after the last decision answers every key from its champion or fallback.
            rows = self.wait_until(f"predictions from a registered model for each of the {keys} keys",
                                   lambda: self.model_predictions(keys), 300)
            if rows:
                log(f"sink: {len(rows)} prediction rows from registered models for {keys} keys")
        self.check_scorer_http(keys)
        trainers = [p for p in self.procs if p.service == "trainer"]
        if len(trainers) > 1:
            for t in trainers:
                parts = self.metric(t, "mm_trainer_assigned_partitions")
                rows = self.metric(t, "mm_trainer_rows_consumed_total")
                trained = self.metric(t, "mm_trainer_models_trained_total")
                log(f"{t.name}: {parts} partitions, {rows} rows consumed, {trained} models trained")
                if not parts or not rows or not trained:
                    self.failures.append(f"{t.name} did not share the work (partitions {parts}, rows {rows}, "
                                         f"models {trained})")
            slots = sorted(os.listdir(os.path.join(self.work, "volumes", "trainer-state")))
            if len([s for s in slots if not s.endswith(".lock")]) < len(trainers):
                self.failures.append(f"the trainers did not take a state slot each: {slots}")


def main():
    ap = argparse.ArgumentParser(description="Run the compose stack's services as local processes.")
    ap.add_argument("--bootstrap", required=True, help="Kafka bootstrap (host:port) of the running broker")
    ap.add_argument("--azurite", required=True, help="Azurite endpoint, http://127.0.0.1:PORT/devstoreaccount1")
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--workdir", required=True, help="an empty directory for volumes, logs and data")
    ap.add_argument("--compose-dir", default=os.path.join(ROOT, "compose"))
    ap.add_argument("--trainers", type=int, default=1)
    ap.add_argument("--score-interval", type=int, default=3, help="seconds between batch-scoring runs")
    ap.add_argument("--stores", type=int, default=3)
    ap.add_argument("--items", type=int, default=4)
    ap.add_argument("--days", type=int, default=150)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    if os.listdir(args.workdir):
        print(f"local_stack: --workdir {args.workdir} is not empty", file=sys.stderr)
        sys.exit(2)
    stack = Stack(render_compose(args.compose_dir), args)
    try:
        stack.run()
    finally:
        stack.down()
    for name, why in stack.skipped.items():
        log(f"not run: {name} ({why})")
    if stack.failures:
        stack.dump_logs()
        for f in stack.failures:
            print(f"FAIL: {f}")
        sys.exit(1)
    log("all checks passed")


if __name__ == "__main__":
    main()
