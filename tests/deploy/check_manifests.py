#!/usr/bin/env python3
"""Validate the deployment files offline (docs/deployment.md, "Validation").

  compose   `docker-compose config` renders compose/docker-compose.yml with
            compose/.env, then our invariants on the result;
  k8s       every overlay in deploy/overlays/ is built with kustomize and
            checked by kubeconform -strict against the schemas vendored in
            deploy/schemas/ (Kubernetes and KEDA), then our invariants;
  image     the Dockerfile: non-root user, tini, HEALTHCHECK, labels, and a
            runtime package for every shared library the built binaries need.

Invariants shared by compose and Kubernetes: every manymodels container gets
the settings its binary requires (read from `<binary> [mode] --help-markdown`
of the build), sets no MM_* variable its binary does not know (except the
ones listed in ASSUMED, for modes still being built), uses one image
reference whose tag is the project version, and mounts the spec read-only.

    tests/deploy/check_manifests.py --build-dir build [--only compose|k8s|image]
    tests/deploy/check_manifests.py self-test   # the checks fail on broken input

Exit status 0: all checks pass; 1: a check failed (each failure printed with
the file or object it is about); 2: a tool is missing (scripts/deps.sh).
"""
import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print(f"check_manifests: PyYAML is missing for {sys.executable} "
          "(Debian's python3-yaml; scripts/deps.sh installs it)", file=sys.stderr)
    sys.exit(2)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, ".deps", "deploy", "bin")
K8S_SCHEMA_VERSION = "v1.31.0"
IMAGE_NAME = "manymodels"

# Settings the compose file and the overlays pass to modes that are being
# built in parallel (`mm-scorer serve`, `mm-ingest watch`): accepted although
# the binary's --help-markdown does not list them yet, and reported.
ASSUMED = {
}
# Wrappers of the image (deploy/image/): how many arguments precede the command.
WRAPPERS = {"mm-slot": 1, "mm-every": 1}
BINARY_PATHS = {
    "mm-ingest": "services/ingest/mm-ingest",
    "mm-trainer": "services/trainer/mm-trainer",
    "mm-promoter": "services/promoter/mm-promoter",
    "mm-scorer": "services/scorer/mm-scorer",
    "mmctl": "tools/mmctl/mmctl",
}
WORKLOADS = ("Deployment", "StatefulSet", "Job", "CronJob")


class Checks:
    def __init__(self):
        self.failures = []
        self.notes = []

    def fail(self, where, msg):
        self.failures.append(f"{where}: {msg}")

    def note(self, where, msg):
        self.notes.append(f"{where}: {msg}")


# ------------------------------------------------------------ binaries' settings

class BinaryInfo:
    """What one binary (in one mode) accepts: from its --help-markdown."""

    def __init__(self, build_dir):
        self.build_dir = build_dir
        self.cache = {}

    def _run(self, args):
        try:
            p = subprocess.run(args, capture_output=True, text=True, timeout=30)
        except OSError as e:
            return 127, str(e)
        return p.returncode, p.stdout

    def settings(self, binary, mode):
        """(known env names, required groups, flag->env) or None if unknown binary."""
        key = (binary, mode)
        if key in self.cache:
            return self.cache[key]
        rel = BINARY_PATHS.get(binary)
        if rel is None:
            self.cache[key] = None
            return None
        path = os.path.join(self.build_dir, rel)
        if not os.access(path, os.X_OK):
            raise SystemExit(f"check_manifests: {path} is not built (scripts/build.sh)")
        if binary == "mmctl":
            rc, out = self._run([path, "--help"])
            known = set(re.findall(r"\(env (MM_[A-Z0-9_]+)\)", out))
            flags = dict(re.findall(r"--([a-z-]+) \S+\s+.*?\(env (MM_[A-Z0-9_]+)\)", out))
            required = [{"MM_BOOTSTRAP_SERVERS", "MM_BOOTSTRAP_FILE"}] if mode == "topics" else []
            res = (known, required, flags)
            self.cache[key] = res
            return res
        out = ""
        for args in ([path, mode, "--help-markdown"] if mode else [], [path, "--help-markdown"]):
            if not args:
                continue
            rc, out = self._run(args)
            if rc == 0 and "| Flag |" in out:
                break
        known, flags, required = set(), {}, []
        for line in out.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 6 or not cells[0].startswith("`--"):
                continue
            flag, default, env, desc = cells[0].strip("`")[2:], cells[2], cells[4].strip("`"), cells[5]
            if env:
                known.add(env)
                flags[flag] = env
            if "(required)" in desc and not default:
                required.append({env})
        if "MM_BOOTSTRAP_SERVERS" in known:
            required.append({"MM_BOOTSTRAP_SERVERS", "MM_BOOTSTRAP_FILE"})
        res = (known, required, flags)
        self.cache[key] = res
        return res


def split_command(cmd):
    """(binary, mode, args) of a container command, wrappers skipped."""
    cmd = list(cmd or [])
    while cmd and os.path.basename(cmd[0]) in WRAPPERS:
        cmd = cmd[1 + WRAPPERS[os.path.basename(cmd[0])]:]
    if not cmd:
        return None, None, []
    binary = os.path.basename(cmd[0])
    rest = cmd[1:]
    mode = None
    if binary == "mmctl":
        words = [a for a in rest if not a.startswith("-")]
        mode = words[0] if words else None
    elif rest and not rest[0].startswith("-"):
        mode = rest[0]
        rest = rest[1:]
    return binary, mode, rest


def check_settings(c, where, binfo, command, env, shared=()):
    """env: name -> value (None when it comes from a Secret); shared: names that
    come from configuration every container gets (envFrom), which a binary may
    ignore, so they are not checked against what it knows. Returns whether the
    binary needs the dataset spec."""
    binary, mode, args = split_command(command)
    if binary is None:
        c.fail(where, "no command")
        return
    info = binfo.settings(binary, mode)
    if info is None:
        c.fail(where, f"runs {binary!r}, which is not a manymodels binary")
        return
    known, required, flags = info
    given = set(env)
    for a in args:
        m = re.match(r"--([a-z-]+)", a)
        if m and m.group(1) in flags:
            given.add(flags[m.group(1)])
    assumed = ASSUMED.get((binary, mode), set())
    needs_spec = any("MM_SPEC" in g for g in required)
    for group in required:
        if not group & {k for k in given if env.get(k, "x") != ""}:
            c.fail(where, f"{binary}{' ' + mode if mode else ''} needs {' or '.join(sorted(group))} "
                          "(flag or environment), and it is not set")
    for name in sorted(given):
        if not name.startswith("MM_") or name.startswith("MM_KAFKA_") or name in shared:
            continue
        if name in known:
            continue
        if name in assumed:
            c.note(where, f"{name}: assumed for `{binary} {mode}` (not in its --help-markdown yet)")
            continue
        c.fail(where, f"{name} is not a setting of {binary}{' ' + mode if mode else ''} "
                      "(see its --help-markdown)")
    return needs_spec


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"project\(manymodels VERSION ([0-9.]+)", f.read())
    return m.group(1) if m else None


def check_image_ref(c, where, image, version):
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    if not tag:
        c.fail(where, f"image {image!r} has no tag")
    elif tag == "latest":
        c.fail(where, f"image {image!r}: pin a version, not latest")
    if name.split("/")[-1] == IMAGE_NAME and version and tag != version:
        c.fail(where, f"image {image!r}: tag {tag!r} is not the project version {version}")


# ------------------------------------------------------------------- compose

def render_compose(c, compose_dir):
    exe = shutil.which("docker-compose")
    if not exe:
        print("check_manifests: docker-compose is missing (scripts/deps.sh installs it)", file=sys.stderr)
        sys.exit(2)
    p = subprocess.run([exe, "--project-directory", compose_dir, "-f",
                        os.path.join(compose_dir, "docker-compose.yml"), "config"],
                       capture_output=True, text=True, cwd=compose_dir)
    if p.returncode != 0:
        c.fail("compose/docker-compose.yml", "docker-compose config: " + p.stderr.strip())
        return None
    return yaml.safe_load(p.stdout)


def compose_env(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def check_compose(c, cfg, binfo, version, where_file="compose/docker-compose.yml"):
    services = cfg.get("services", {})
    named_volumes = set((cfg.get("volumes") or {}).keys())
    mm = {n: s for n, s in services.items() if str(s.get("image", "")).split("/")[-1].split(":")[0] == IMAGE_NAME}
    if not mm:
        c.fail(where_file, "no service runs the manymodels image")
    images = {s["image"] for s in mm.values()}
    if len(images) > 1:
        c.fail(where_file, f"the manymodels services use different images: {sorted(images)}")
    for name, svc in services.items():
        where = f"{where_file}: service {name}"
        check_image_ref(c, where, str(svc.get("image", "")), version)
        limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        if not limits.get("memory") or not limits.get("cpus"):
            c.fail(where, "no resource limits (deploy.resources.limits cpus and memory)")
    for name, svc in mm.items():
        where = f"{where_file}: service {name}"
        cmd = svc.get("command") or []
        binary, mode, _ = split_command(cmd)
        one_shot = svc.get("restart") == "no"
        scheduled = bool(cmd) and os.path.basename(cmd[0]) == "mm-every"
        hc = svc.get("healthcheck") or {}
        if not one_shot and not scheduled and (hc.get("disable") or not hc.get("test")):
            c.fail(where, "a long-running service needs a healthcheck")
        env = compose_env(svc)
        check_settings(c, where, binfo, cmd, env)
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            c.fail(where, "depends_on must use conditions (service_healthy)")
            deps = {}
        if binary != "mmctl":
            for need, cond in (("kafka", "service_healthy"), ("azurite", "service_healthy"),
                               ("topic-init", "service_completed_successfully")):
                if (deps.get(need) or {}).get("condition") != cond:
                    c.fail(where, f"depends_on {need} must have condition {cond}")
        vols = [compose_volume(v) for v in svc.get("volumes") or []]
        for v in vols:
            target = v.get("target", "")
            if target.startswith("/etc/manymodels") and not v.get("read_only"):
                c.fail(where, f"{target} (the spec) must be mounted read-only")
            if target.startswith("/var/lib/manymodels") and (v.get("type") != "volume" or v.get("source") not in named_volumes):
                c.fail(where, f"state at {target} must be on a named volume")
        if env.get("MM_SPEC") and not any(
                (v.get("target") == env["MM_SPEC"] or env["MM_SPEC"].startswith(v.get("target", "//") + "/"))
                for v in vols):
            c.fail(where, f"MM_SPEC={env['MM_SPEC']} is not mounted")
    trainer = services.get("trainer")
    if trainer is None:
        c.fail(where_file, "no trainer service")
    else:
        if trainer.get("container_name") or trainer.get("ports"):
            c.fail(f"{where_file}: service trainer", "a scalable service takes no container_name or published port")
    partitions = compose_partitions(services)
    if partitions is None:
        c.fail(where_file, "no topic-init service running `mmctl topics init --partitions N`")


def compose_volume(v):
    """The long form of a service volume (docker-compose 1.x prints the short one)."""
    if isinstance(v, dict):
        return v
    parts = v.split(":")
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) > 2 else "rw"
    kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
    return {"type": kind, "source": source, "target": target, "read_only": "ro" in mode.split(",")}


def compose_partitions(services):
    for svc in services.values():
        cmd = [str(x) for x in (svc.get("command") or [])]
        if cmd[:3] == ["mmctl", "topics", "init"] and "--partitions" in cmd:
            try:
                return int(cmd[cmd.index("--partitions") + 1])
            except (ValueError, IndexError):
                return None
    return None


# -------------------------------------------------------------------- kubernetes

def tool(name):
    path = os.path.join(TOOLS, name)
    if not os.access(path, os.X_OK):
        print(f"check_manifests: {path} is missing (scripts/deps.sh installs it)", file=sys.stderr)
        sys.exit(2)
    return path


def kustomize_build(c, overlay):
    p = subprocess.run([tool("kustomize"), "build", overlay], capture_output=True, text=True)
    if p.returncode != 0:
        c.fail(os.path.relpath(overlay, ROOT), "kustomize build: " + p.stderr.strip())
        return None
    return p.stdout


def kubeconform(c, where, rendered):
    schemas = os.path.join(ROOT, "deploy", "schemas")
    p = subprocess.run([tool("kubeconform"), "-strict", "-summary", "-output", "text",
                        "-schema-location",
                        os.path.join(schemas, "kubernetes", K8S_SCHEMA_VERSION,
                                     "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
                        "-schema-location",
                        os.path.join(schemas, "crds", "{{ .Group }}", "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"),
                        "-"], input=rendered, capture_output=True, text=True)
    if p.returncode != 0:
        for line in (p.stdout + p.stderr).splitlines():
            if line.strip() and not line.startswith("Summary"):
                c.fail(where, "kubeconform: " + line.strip())
        if not (p.stdout + p.stderr).strip():
            c.fail(where, f"kubeconform exited {p.returncode}")


def pod_spec(obj):
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("spec", {}), spec.get("template", {}).get("metadata", {})


def is_mm_container(ctr):
    image = ctr.get("image", "")
    return image.split("/")[-1].split(":")[0] == IMAGE_NAME


def container_env(ctr, configmaps, c, where, shared=None):
    env = {}
    for src in ctr.get("envFrom") or []:
        if "configMapRef" in src:
            name = src["configMapRef"].get("name")
            if name not in configmaps:
                c.fail(where, f"envFrom ConfigMap {name!r} is not in the overlay")
                continue
            data = {k: str(v) for k, v in (configmaps[name].get("data") or {}).items()}
            env.update(data)
            if shared is not None:
                shared.update(data)
        elif "secretRef" in src:
            c.fail(where, "envFrom secretRef: name each secret variable (secretKeyRef)")
    for e in ctr.get("env") or []:
        env[e["name"]] = e.get("value") if "value" in e else None
    return env


def check_k8s(c, where_overlay, docs, binfo, version, external_secrets):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    configmaps = by_kind.get("ConfigMap", {})
    secrets = {n: set((s.get("data") or {}).keys()) | set((s.get("stringData") or {}).keys())
               for n, s in by_kind.get("Secret", {}).items()}
    for n, keys in external_secrets.items():
        secrets.setdefault(n, set()).update(keys)
    pvcs = set(by_kind.get("PersistentVolumeClaim", {}))
    mm_images = set()
    workload_labels = []
    for kind in WORKLOADS:
        for name, obj in by_kind.get(kind, {}).items():
            where = f"{where_overlay}: {kind} {name}"
            spec, meta = pod_spec(obj)
            labels = meta.get("labels") or {}
            workload_labels.append((kind, name, labels))
            psc = spec.get("securityContext") or {}
            claim_templates = {t["metadata"]["name"] for t in obj.get("spec", {}).get("volumeClaimTemplates") or []}
            volumes = {v["name"]: v for v in spec.get("volumes") or []}
            for vname, v in volumes.items():
                if "configMap" in v and v["configMap"]["name"] not in configmaps:
                    c.fail(where, f"volume {vname}: ConfigMap {v['configMap']['name']!r} is not in the overlay")
                if "secret" in v:
                    sname = v["secret"]["secretName"]
                    for item in v["secret"].get("items") or []:
                        if item["key"] not in secrets.get(sname, set()):
                            c.fail(where, f"volume {vname}: Secret {sname!r} has no key {item['key']!r}")
                    if sname not in secrets:
                        c.fail(where, f"volume {vname}: Secret {sname!r} is neither in the overlay nor external")
                if "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] not in pvcs:
                    c.fail(where, f"volume {vname}: claim {v['persistentVolumeClaim']['claimName']!r} is not in the overlay")
            for ctr in spec.get("containers") or []:
                cw = f"{where} container {ctr['name']}"
                check_image_ref(c, cw, ctr.get("image", ""), version)
                res = ctr.get("resources") or {}
                for part in ("requests", "limits"):
                    for r in ("cpu", "memory"):
                        if not (res.get(part) or {}).get(r):
                            c.fail(cw, f"no {part}.{r}")
                csc = ctr.get("securityContext") or {}
                non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
                uid = csc.get("runAsUser", psc.get("runAsUser"))
                if non_root is not True or uid in (None, 0):
                    c.fail(cw, "must run as non-root (runAsNonRoot: true and a runAsUser other than 0)")
                if csc.get("allowPrivilegeEscalation") is not False:
                    c.fail(cw, "allowPrivilegeEscalation must be false")
                if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                    c.fail(cw, "capabilities must drop ALL")
                if kind in ("Deployment", "StatefulSet"):
                    for probe in ("livenessProbe", "readinessProbe"):
                        if not ctr.get(probe):
                            c.fail(cw, f"no {probe}")
                for e in ctr.get("env") or []:
                    ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                    if ref and ref["key"] not in secrets.get(ref["name"], set()):
                        c.fail(cw, f"env {e['name']}: Secret {ref['name']!r} key {ref['key']!r} is neither in the overlay nor external")
                mounts = {m["mountPath"]: m for m in ctr.get("volumeMounts") or []}
                for m in mounts.values():
                    if m["name"] not in volumes and m["name"] not in claim_templates:
                        c.fail(cw, f"mount {m['mountPath']}: no volume {m['name']!r}")
                if not is_mm_container(ctr):
                    continue
                mm_images.add(ctr["image"])
                if csc.get("readOnlyRootFilesystem") is not True:
                    c.fail(cw, "readOnlyRootFilesystem must be true")
                shared = set()
                env = container_env(ctr, configmaps, c, cw, shared)
                shared -= {e["name"] for e in ctr.get("env") or []}
                needs_spec = check_settings(c, cw, binfo, (ctr.get("command") or []) + (ctr.get("args") or []),
                                            env, shared)
                spec_path = env.get("MM_SPEC")
                if spec_path and needs_spec:
                    m = mounts.get(os.path.dirname(spec_path))
                    if not m or not m.get("readOnly"):
                        c.fail(cw, f"the spec directory {os.path.dirname(spec_path)} must be mounted read-only")
                for var in ("MM_TRAINER_STATE", "MM_PROMOTER_REGISTRY", "MM_SCORER_STATE", "MM_SCORER_SINK",
                            "MM_WATCH_MANIFEST"):
                    if env.get(var) and os.path.dirname(env[var]) not in mounts:
                        c.fail(cw, f"{var}={env[var]}: its directory is not a mounted volume")
                if kind in ("Deployment", "StatefulSet"):
                    ann = meta.get("annotations") or {}
                    ports = {str(p.get("containerPort")) for p in ctr.get("ports") or []}
                    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") not in ports:
                        c.fail(cw, "no Prometheus scrape annotations naming one of its ports")
                    if labels.get("app.kubernetes.io/part-of") != "manymodels":
                        c.fail(cw, "pod lacks app.kubernetes.io/part-of=manymodels (the NetworkPolicies select on it)")
    if len(mm_images) > 1:
        c.fail(where_overlay, f"the manymodels containers use different images: {sorted(mm_images)}")
    if not mm_images:
        c.fail(where_overlay, "no container runs the manymodels image")

    def selects(selector, labels):
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    for name, svc in by_kind.get("Service", {}).items():
        sel = (svc.get("spec") or {}).get("selector") or {}
        if not any(selects(sel, lab) for _, _, lab in workload_labels):
            c.fail(f"{where_overlay}: Service {name}", f"selector {sel} matches no pod template")
    for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        sel = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not any(selects(sel, lab) for _, _, lab in workload_labels):
            c.fail(f"{where_overlay}: PodDisruptionBudget {name}", f"selector {sel} matches no pod template")

    partitions = None
    for job in by_kind.get("Job", {}).values():
        spec, _ = pod_spec(job)
        for ctr in spec.get("containers") or []:
            cmd = [str(x) for x in (ctr.get("command") or []) + (ctr.get("args") or [])]
            if "topics" in cmd and "init" in cmd and "--partitions" in cmd:
                partitions = int(cmd[cmd.index("--partitions") + 1])
    if partitions is None:
        c.fail(where_overlay, "no Job runs `mmctl topics init --partitions N`")
    scaled = by_kind.get("ScaledObject", {})
    if not scaled:
        c.fail(where_overlay, "no KEDA ScaledObject for the trainers")
    for name, so in scaled.items():
        where = f"{where_overlay}: ScaledObject {name}"
        spec = so.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        tkind = target.get("kind", "Deployment")
        tobj = by_kind.get(tkind, {}).get(target.get("name"))
        if tobj is None:
            c.fail(where, f"scale target {tkind} {target.get('name')!r} is not in the overlay")
            continue
        lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if lo < 1:
            c.fail(where, "minReplicaCount must be at least 1")
        if partitions is not None and hi > partitions:
            c.fail(where, f"maxReplicaCount {hi} exceeds the topics' partitions ({partitions}, "
                          "mmctl topics init --partitions): the extra trainers would idle")
        tspec, _ = pod_spec(tobj)
        tenv = container_env(tspec["containers"][0], configmaps, c, where)
        for trig in spec.get("triggers") or []:
            if trig.get("type") != "kafka":
                continue
            md = trig.get("metadata") or {}
            group = tenv.get("MM_TRAINER_GROUP_ID") or "mm-trainer"
            if md.get("consumerGroup") != group:
                c.fail(where, f"consumerGroup {md.get('consumerGroup')!r} is not the target's group {group!r}")
            if md.get("topic") != "mm.observations":
                c.fail(where, "the trigger must watch mm.observations")
            env_name = md.get("bootstrapServersFromEnv")
            if not md.get("bootstrapServers") and not (env_name and tenv.get(env_name)):
                c.fail(where, "no bootstrap servers (bootstrapServers, or bootstrapServersFromEnv set in the target)")
            if "SASL" in (tenv.get("MM_KAFKA_SECURITY_PROTOCOL") or "").upper() and not (
                    md.get("sasl") and trig.get("authenticationRef")):
                c.fail(where, "the services use SASL: the trigger needs sasl and an authenticationRef")
            auth = (trig.get("authenticationRef") or {}).get("name")
            if auth and auth not in by_kind.get("TriggerAuthentication", {}):
                c.fail(where, f"TriggerAuthentication {auth!r} is not in the overlay")
    for name, ta in by_kind.get("TriggerAuthentication", {}).items():
        for ref in (ta.get("spec") or {}).get("secretTargetRef") or []:
            if ref["key"] not in secrets.get(ref["name"], set()):
                c.fail(f"{where_overlay}: TriggerAuthentication {name}",
                       f"Secret {ref['name']!r} key {ref['key']!r} is neither in the overlay nor external")
    return partitions


def external_secrets(overlay):
    """Secrets an overlay expects to exist (its secret.example.yaml): name -> keys."""
    out = {}
    path = os.path.join(overlay, "secret.example.yaml")
    if os.path.exists(path):
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                if d and d.get("kind") == "Secret":
                    out[d["metadata"]["name"]] = set((d.get("stringData") or {}).keys()) | set(
                        (d.get("data") or {}).keys())
    return out


# ------------------------------------------------------------------------ image

def check_dockerfile(c, build_dir, path=None):
    path = path or os.path.join(ROOT, "Dockerfile")
    where = os.path.relpath(path, ROOT)
    with open(path) as f:
        text = f.read()
    stages = re.split(r"(?m)^FROM ", text)
    if len(stages) < 3:
        c.fail(where, "needs a build stage and a runtime stage")
        return
    runtime = stages[-1]
    if not re.search(r"(?m)^FROM\s+\S*bookworm-slim|^ARG DEBIAN_IMAGE=debian:bookworm-slim", text):
        c.fail(where, "the base image must be Debian bookworm-slim")
    m = re.search(r"(?m)^USER\s+(\S+)", runtime)
    if not m or m.group(1).split(":")[0] in ("0", "root"):
        c.fail(where, "the runtime stage must switch to a non-root USER")
    if not re.search(r'(?m)^ENTRYPOINT\s+\[\s*"[^"]*tini"', runtime):
        c.fail(where, "tini must be the ENTRYPOINT (PID 1)")
    if not re.search(r"(?m)^HEALTHCHECK\s", runtime):
        c.fail(where, "no HEALTHCHECK")
    for label in ("org.opencontainers.image.version", "org.opencontainers.image.source",
                  "org.opencontainers.image.revision"):
        if label not in runtime:
            c.fail(where, f"no label {label}")
    for script in re.findall(r"deploy/image/[\w.-]+", text):
        if not os.path.exists(os.path.join(ROOT, script)):
            c.fail(where, f"{script} does not exist")
    inst = re.search(r"apt-get install[^\n]*\\\n((?:[^\n]*\\\n)*)", runtime)
    packages = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", inst.group(1))) if inst else set()
    if not build_dir:
        return
    ld = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    resolved = {}
    for m in re.finditer(r"^\s*(\S+) \(([^)]*)\) => (\S+)$", ld, re.M):
        if "x86-64" in m.group(2) or "64bit" in m.group(2) or m.group(1) not in resolved:
            resolved[m.group(1)] = m.group(3)
    owners_of = {}
    for binary, rel in BINARY_PATHS.items():
        bpath = os.path.join(build_dir, rel)
        if not os.path.exists(bpath):
            continue
        p = subprocess.run(["readelf", "-d", bpath], capture_output=True, text=True)
        for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", p.stdout):
            if re.match(r"lib(asan|ubsan|lsan|tsan)\.", soname):
                continue  # a sanitizer build's runtime, never in the image
            if soname not in owners_of:
                path = resolved.get(soname)
                cands = [path, os.path.realpath(path), "/usr" + path] if path else []
                owners = set()
                if cands:
                    q = subprocess.run(["dpkg", "-S"] + cands, capture_output=True, text=True)
                    owners = {line.split(":")[0] for line in q.stdout.splitlines() if ": " in line}
                owners_of[soname] = owners
            owners = owners_of[soname]
            if not owners:
                continue
            if not owners & packages and not owners & {"libc6"}:
                c.fail(where, f"{binary} needs {soname} (package {' or '.join(sorted(owners))}), "
                              "which the runtime stage does not install")


# ------------------------------------------------------------------------- main

def run_all(args, c):
    binfo = BinaryInfo(args.build_dir)
    version = project_version()
    compose_partitions_n = None
    if args.only in (None, "compose"):
        cfg = render_compose(c, os.path.join(ROOT, "compose"))
        if cfg is not None:
            check_compose(c, cfg, binfo, version)
            compose_partitions_n = compose_partitions(cfg.get("services", {}))
    if args.only in (None, "k8s"):
        overlays_dir = os.path.join(ROOT, "deploy", "overlays")
        overlays = sorted(os.path.join(overlays_dir, o) for o in os.listdir(overlays_dir))
        if not overlays:
            c.fail("deploy/overlays", "no overlay")
        for overlay in overlays:
            where = os.path.relpath(overlay, ROOT)
            rendered = kustomize_build(c, overlay)
            if rendered is None:
                continue
            kubeconform(c, where, rendered)
            docs = [d for d in yaml.safe_load_all(rendered) if d]
            check_k8s(c, where, docs, binfo, version, external_secrets(overlay))
            print(f"{where}: {len(docs)} objects rendered and checked")
    if args.only in (None, "image"):
        check_dockerfile(c, args.build_dir)
    if compose_partitions_n is not None:
        print(f"compose: topic-init creates {compose_partitions_n} partitions; "
              f"--scale trainer=N is useful up to N={compose_partitions_n}")


def self_test(build_dir):
    """Each invariant fails on a manifest broken in the way it guards against."""
    binfo = BinaryInfo(build_dir)
    version = project_version()
    failures = 0

    def expect(label, fn, needle):
        nonlocal failures
        c = Checks()
        fn(c)
        hit = [f for f in c.failures if needle in f]
        print(f"{'ok  ' if hit else 'FAIL'} {label}" + ("" if hit else f": expected a failure with {needle!r}, got {c.failures}"))
        failures += 0 if hit else 1

    c0 = Checks()
    cfg = render_compose(c0, os.path.join(ROOT, "compose"))
    dev = os.path.join(ROOT, "deploy", "overlays", "dev")
    prod = os.path.join(ROOT, "deploy", "overlays", "prod")
    dev_text = kustomize_build(c0, dev)
    dev_docs = [d for d in yaml.safe_load_all(dev_text) if d]
    prod_docs = [d for d in yaml.safe_load_all(kustomize_build(c0, prod)) if d]
    if c0.failures:
        print("\n".join(c0.failures))
        return 1

    def k8s_mut(docs, mutate, ext=None):
        docs = copy.deepcopy(docs)
        mutate({(d["kind"], d["metadata"]["name"]): d for d in docs})
        return lambda c: check_k8s(c, "x", docs, binfo, version, ext or {})

    def compose_mut(mutate):
        cfg2 = copy.deepcopy(cfg)
        for svc in cfg2["services"].values():
            svc["volumes"] = [compose_volume(v) for v in svc.get("volumes") or []]
        mutate(cfg2["services"])
        return lambda c: check_compose(c, cfg2, binfo, version, "x")

    def trainer_ctr(o):
        return o[("StatefulSet", "mm-trainer")]["spec"]["template"]["spec"]["containers"][0]

    expect("kubeconform: an unknown field in a StatefulSet",
           lambda c: kubeconform(c, "x", dev_text.replace("podManagementPolicy: Parallel",
                                                          "podManagementPolicy: Parallel\n  replica: 2")),
           "StatefulSet mm-trainer")
    expect("kubeconform: a misspelt ScaledObject field",
           lambda c: kubeconform(c, "x", dev_text.replace("maxReplicaCount: 4", "maxReplicas: 4")),
           "ScaledObject mm-trainer")
    expect("kubeconform: a wrong type",
           lambda c: kubeconform(c, "x", dev_text.replace("schedule: 15 * * * *", "schedule: 15\n  suspend: maybe")),
           "CronJob mm-scorer-batch")
    expect("KEDA max above the partitions",
           k8s_mut(dev_docs, lambda o: o[("ScaledObject", "mm-trainer")]["spec"].update(maxReplicaCount=5)),
           "exceeds the topics' partitions")
    expect("a Deployment without a readiness probe",
           k8s_mut(dev_docs, lambda o: o[("Deployment", "mm-scorer")]["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe")),
           "no readinessProbe")
    expect("a container without limits",
           k8s_mut(dev_docs, lambda o: trainer_ctr(o)["resources"].pop("limits")),
           "no limits.cpu")
    expect("a pod running as root",
           k8s_mut(dev_docs, lambda o: o[("StatefulSet", "mm-promoter")]["spec"]["template"]["spec"]["securityContext"].update(runAsUser=0)),
           "must run as non-root")
    expect("a required setting missing (MM_BLOB_URL)",
           k8s_mut(dev_docs, lambda o: [d["data"].pop("MM_BLOB_URL") for k, d in o.items() if k[0] == "ConfigMap" and k[1].startswith("mm-config")]),
           "needs MM_BLOB_URL")
    expect("a misspelt setting",
           k8s_mut(dev_docs, lambda o: trainer_ctr(o)["env"].append({"name": "MM_TRAINER_WORKER", "value": "2"})),
           "MM_TRAINER_WORKER is not a setting")
    expect("an image tag that is not the project version",
           k8s_mut(dev_docs, lambda o: trainer_ctr(o).update(image="manymodels:9.9.9")),
           "is not the project version")
    expect("a secret key nobody provides",
           k8s_mut(prod_docs, lambda o: trainer_ctr(o)["env"].append(
               {"name": "MM_BLOB_SAS", "valueFrom": {"secretKeyRef": {"name": "mm-credentials", "key": "blob-sas"}}}),
               external_secrets(prod)),
           "key 'blob-sas' is neither")
    expect("SASL services with a trigger without authentication",
           k8s_mut(prod_docs, lambda o: o[("ScaledObject", "mm-trainer")]["spec"]["triggers"][0].pop("authenticationRef"),
                   external_secrets(prod)),
           "needs sasl and an authenticationRef")
    expect("compose: a service without limits",
           compose_mut(lambda s: s["promoter"]["deploy"].pop("resources")), "no resource limits")
    expect("compose: depends_on without health condition",
           compose_mut(lambda s: s["trainer"]["depends_on"]["kafka"].update(condition="service_started")),
           "depends_on kafka must have condition service_healthy")
    expect("compose: spec mounted read-write",
           compose_mut(lambda s: [v.update(read_only=False) for v in s["promoter"]["volumes"] if v["target"].startswith("/etc/manymodels")]),
           "must be mounted read-only")
    expect("compose: a scalable trainer with a container_name",
           compose_mut(lambda s: s["trainer"].update(container_name="trainer")), "no container_name")
    expect("compose: registry not on a named volume",
           compose_mut(lambda s: [v.update(type="bind", source="/tmp") for v in s["promoter"]["volumes"] if v["target"].startswith("/var/lib")]),
           "must be on a named volume")
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "Dockerfile")
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            text = f.read()
        with open(bad, "w") as f:
            f.write(text.replace("librdkafka1 ", "").replace("USER 10001:10001", "USER root"))
        expect("Dockerfile: runtime library missing", lambda c: check_dockerfile(c, build_dir, bad), "librdkafka.so.1")
        expect("Dockerfile: root user", lambda c: check_dockerfile(c, build_dir, bad), "non-root USER")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description="Validate compose/, deploy/ and the Dockerfile offline.")
    ap.add_argument("mode", nargs="?", choices=["check", "self-test"], default="check")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--only", choices=["compose", "k8s", "image"])
    args = ap.parse_args()
    if args.mode == "self-test":
        sys.exit(self_test(args.build_dir))
    c = Checks()
    run_all(args, c)
    for n in c.notes:
        print("note: " + n)
    for f in c.failures:
        print("FAIL: " + f)
    print(f"{len(c.failures)} failed" if c.failures else "deployment files: all checks passed")
    sys.exit(1 if c.failures else 0)


if __name__ == "__main__":
    main()
