#!/usr/bin/env python3
"""Regenerate the JSON schemas vendored in deploy/schemas/ for offline
validation of the Kubernetes manifests (tests/deploy/check_manifests.py runs
kubeconform against them; docs/deployment.md, "Validation").

Kubernetes kinds: from the "-local-strict" schemas that the PyPI package
kubernetes-validate ships (generated from the Kubernetes OpenAPI document; one
file per kind referring to a shared _definitions.json). Each kind we use is
written standalone: its schema plus only the definitions it reaches, so a
file validates without network or other files.

Custom resources: from the CustomResourceDefinition YAML files in
deploy/schemas/crds/ (KEDA's, copied from its release), one file per served
version, in kubeconform's layout <group>/<kind>_<version>.json, with
additionalProperties false added to every object that declares properties
(strict, like the Kubernetes schemas).

    pip download --no-deps -d /tmp/kv kubernetes-validate==1.31.0
    scripts/deploy-schemas.py --k8s-wheel /tmp/kv/kubernetes_validate-1.31.0-py3-none-any.whl

Only the Python standard library and PyYAML (Debian's python3-yaml) are used.
"""
import argparse
import copy
import json
import os
import re
import sys
import zipfile

import yaml

K8S_VERSION = "1.31.0"

# (kind, group, version) of every built-in kind the overlays render. Add a kind
# here when a manifest starts using it, then rerun this script.
K8S_KINDS = [
    ("ConfigMap", "", "v1"),
    ("CronJob", "batch", "v1"),
    ("Deployment", "apps", "v1"),
    ("Job", "batch", "v1"),
    ("Namespace", "", "v1"),
    ("NetworkPolicy", "networking.k8s.io", "v1"),
    ("PersistentVolumeClaim", "", "v1"),
    ("PodDisruptionBudget", "policy", "v1"),
    ("Secret", "", "v1"),
    ("Service", "", "v1"),
    ("ServiceAccount", "", "v1"),
    ("StatefulSet", "apps", "v1"),
]

REF_PREFIXES = ("/api/_definitions.json#/$defs/", "#/$defs/",
                "https://kubernetes.io/api/_definitions.json#/$defs/")


def kind_file_name(kind, group, version):
    """kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json naming."""
    g = group.split(".")[0] if group else ""
    suffix = f"-{g}-{version}" if g else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def ref_name(ref):
    for p in REF_PREFIXES:
        if ref.startswith(p):
            return ref[len(p):]
    raise ValueError(f"unexpected $ref {ref!r}")


def rewrite_refs(node, found):
    """Point every $ref at #/$defs/<name> and collect the names."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                name = ref_name(v)
                found.add(name)
                node[k] = "#/$defs/" + name
            else:
                rewrite_refs(v, found)
    elif isinstance(node, list):
        for v in node:
            rewrite_refs(v, found)


def standalone(kind_schema, definitions):
    schema = copy.deepcopy(kind_schema)
    schema.pop("$id", None)
    wanted = set()
    rewrite_refs(schema, wanted)
    defs = {}
    while wanted:
        name = wanted.pop()
        if name in defs:
            continue
        if name not in definitions:
            raise KeyError(f"definition {name} is missing from _definitions.json")
        d = copy.deepcopy(definitions[name])
        more = set()
        rewrite_refs(d, more)
        defs[name] = d
        wanted |= more - defs.keys()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$defs"] = dict(sorted(defs.items()))
    return schema


def read_wheel(path, version):
    base = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
    files = {}
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            if n.startswith(base) and n.endswith(".json"):
                files[n[len(base):]] = json.loads(z.read(n))
    if "_definitions.json" not in files:
        sys.exit(f"deploy-schemas: {path} has no v{version}-local-strict schemas")
    return files


def strict_objects(node):
    """additionalProperties: false wherever an object lists its properties and
    says nothing about others (kubeconform -strict for custom resources)."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node and \
                not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for v in node.values():
            strict_objects(v)
    elif isinstance(node, list):
        for v in node:
            strict_objects(v)


def crd_schemas(crd_path):
    out = []
    with open(crd_path) as f:
        for doc in yaml.safe_load_all(f):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for v in spec["versions"]:
                if not v.get("served", True):
                    continue
                s = copy.deepcopy(v["schema"]["openAPIV3Schema"])
                strict_objects(s)
                # apiVersion, kind and metadata are the API server's, not the CRD's.
                props = s.setdefault("properties", {})
                props["apiVersion"] = {"type": "string", "enum": [f"{spec['group']}/{v['name']}"]}
                props["kind"] = {"type": "string", "enum": [spec["names"]["kind"]]}
                props["metadata"] = {"type": "object"}
                s["$schema"] = "http://json-schema.org/draft-07/schema#"
                name = f"{spec['group']}/{spec['names']['kind'].lower()}_{v['name']}.json"
                out.append((name, s))
    return out


def write_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k8s-wheel", help="kubernetes-validate wheel (.whl); without it only the CRDs are regenerated")
    ap.add_argument("--k8s-version", default=K8S_VERSION)
    ap.add_argument("--out", default=os.path.join(root, "deploy", "schemas"))
    args = ap.parse_args()

    if args.k8s_wheel:
        files = read_wheel(args.k8s_wheel, args.k8s_version)
        definitions = files["_definitions.json"]["$defs"]
        kdir = os.path.join(args.out, "kubernetes", f"v{args.k8s_version}")
        for kind, group, version in K8S_KINDS:
            name = kind_file_name(kind, group, version)
            if name not in files:
                sys.exit(f"deploy-schemas: {name} ({kind} {group}/{version}) is not in the wheel")
            write_json(os.path.join(kdir, name), standalone(files[name], definitions))
            print(f"wrote {os.path.relpath(os.path.join(kdir, name), root)}")

    crd_dir = os.path.join(args.out, "crds")
    for fn in sorted(os.listdir(crd_dir)):
        if not re.search(r"\.ya?ml$", fn):
            continue
        for name, schema in crd_schemas(os.path.join(crd_dir, fn)):
            write_json(os.path.join(crd_dir, name), schema)
            print(f"wrote {os.path.relpath(os.path.join(crd_dir, name), root)}")


if __name__ == "__main__":
    main()
