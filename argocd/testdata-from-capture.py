#!/usr/bin/env python3
"""Rebuilds the Argo CD checks' testdata and tests from objects captured by tests/e2e_gitops.rs.

    APPLINK_CAPTURE_FIXTURES=/tmp/fx cargo test --test e2e_gitops
    argocd/testdata-from-capture.py /tmp/fx

Each captured object (managedFields and kubectl's last-applied annotation dropped) becomes
<Kind>/testdata/<state>_<what>.yaml; its expected health is the state in its name, and the
message is what health.lua says (review the diff). Two Progressing cases per kind are derived
from healthy.yaml (no status; a generation not observed yet), and the action tests' inputs are
healthy.yaml and suspended.yaml, their expected outputs the input plus the annotation the action
sets at the runner's fixed clock. Needs PyYAML and the argocd-lua tool (e2e/build-tool.sh).
"""
import copy
import glob
import json
import os
import subprocess
import sys

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resource_customizations", "applinks.io")
KINDS = {"link": "ApplicationLink", "instance": "ApplicationInstance",
         "cluster-instance": "ClusterApplicationInstance", "external": "ExternalApplication"}
STATES = {"healthy": "Healthy", "resynced": "Healthy", "suspended": "Suspended",
          "degraded": "Degraded", "progressing": "Progressing"}
NOW = "2026-01-02T03:04:05Z"  # argocd-lua's FixedNow
CAPTURED = "# Captured from a live object of tests/e2e_gitops.rs (argocd/testdata-from-capture.py).\n"


class Dumper(yaml.SafeDumper):
    pass


Dumper.add_representer(str, lambda d, s: d.represent_scalar(
    "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))


def dump(obj, path, head=""):
    with open(path, "w") as f:
        f.write(head)
        yaml.dump(obj, f, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=1000)


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def main(src):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lua = subprocess.check_output([os.path.join(repo, "e2e/build-tool.sh"), "argocd-lua"]).decode().strip()
    for old in glob.glob(f"{ROOT}/*/testdata/*.yaml") + glob.glob(f"{ROOT}/*/actions/testdata/*.yaml"):
        os.remove(old)
    tests = {k: [] for k in KINDS.values()}
    for path in sorted(glob.glob(f"{src}/*.yaml")):
        name = os.path.basename(path)[:-5]
        prefix = "cluster-instance" if name.startswith("cluster-instance") else name.split("-")[0]
        kind = KINDS[prefix]
        obj = load(path)
        annotations = obj["metadata"].get("annotations", {})
        annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        if not annotations:
            obj["metadata"].pop("annotations", None)
        short = name[len(prefix) + 1:].replace("-", "_")
        dump(obj, f"{ROOT}/{kind}/testdata/{short}.yaml", CAPTURED)
        got = json.loads(subprocess.run([lua, "health", f"{ROOT}/{kind}/health.lua"],
                                        input=json.dumps(obj, default=str).encode(),
                                        capture_output=True, check=True).stdout)
        want = STATES[short.split("_")[0]]
        if got["status"] != want:
            sys.exit(f"{path}: health.lua says {got}, the capture's name says {want}")
        tests[kind].append({"healthStatus": got, "inputPath": f"testdata/{short}.yaml"})
    for kind, cases in tests.items():
        d = f"{ROOT}/{kind}"
        healthy = load(f"{d}/testdata/healthy.yaml")
        paused = next(load(p) for p in sorted(glob.glob(f"{d}/testdata/suspended*.yaml")))
        new_spec = copy.deepcopy(healthy)
        new_spec["metadata"]["generation"] += 1
        dump(new_spec, f"{d}/testdata/progressing_new_spec.yaml",
             "# healthy.yaml with metadata.generation one ahead of status.observedGeneration.\n")
        no_status = copy.deepcopy(healthy)
        no_status.pop("status")
        dump(no_status, f"{d}/testdata/progressing_no_status.yaml", "# healthy.yaml without status.\n")
        waiting = {"status": "Progressing", "message": "Waiting for the operator to observe the latest spec"}
        cases += [{"healthStatus": waiting, "inputPath": "testdata/progressing_new_spec.yaml"},
                  {"healthStatus": waiting, "inputPath": "testdata/progressing_no_status.yaml"}]
        dump({"tests": cases}, f"{d}/health_test.yaml")
        dump(healthy, f"{d}/actions/testdata/healthy.yaml", CAPTURED)
        dump(paused, f"{d}/actions/testdata/paused.yaml", CAPTURED)
        actions = {"resync": "applinks.io/reconcile-requested-at"}
        if kind == "ExternalApplication":
            actions["rotate"] = "applinks.io/rotate"
        action_tests = []
        for action, annotation in actions.items():
            out = copy.deepcopy(healthy)
            out["metadata"].setdefault("annotations", {})[annotation] = NOW
            dump(out, f"{d}/actions/testdata/healthy_{action}.yaml",
                 f"# healthy.yaml after the {action} action, at the runner's clock.\n")
            action_tests.append({"action": action, "inputPath": "testdata/healthy.yaml",
                                 "expectedOutputPath": f"testdata/healthy_{action}.yaml"})
        dump({"discoveryTests": [
            {"inputPath": "testdata/healthy.yaml", "result": [{"name": a, "disabled": False} for a in actions]},
            {"inputPath": "testdata/paused.yaml", "result": [{"name": a, "disabled": True} for a in actions]},
        ], "actionTests": action_tests}, f"{d}/actions/action_test.yaml")


if __name__ == "__main__":
    main(sys.argv[1])
