#!/usr/bin/env python3
"""The links benchmark (issue 20): the operator against a sequential script and the lower bound.

N tenants, each a Jira, a Confluence and a Bitbucket on the simulator's default profiles, linked in
a triangle (3 two-way OAuth links per tenant), every application answering with L ms added
latency. Three figures from one run, each against fresh simulated applications:

  script    what admins write today: per link, read the target's manifest, then one
            `createAppLink` with `createTwoWayLink: true` (the application makes the other end);
            sequential.
  operator  the release binary, cluster-wide, one namespace per tenant: from `kubectl apply` to
            every link Ready.
  bound     the lower bound: the longer of (the longest chain of dependent requests one link
            needs x L) and (the most requests any one application must serve x L / its
            concurrency limit), from the operator's own per-operation counts.

Prints times and ratios, requests per link by operation, Kubernetes API writes per link until
Ready, writes during a steady-state window, the operator's peak RSS and CPU seconds, and the
simulator's CPU share. Needs a running control plane ($KUBECONFIG, $APPLINK_E2E_BIN) and the release
builds (e2e/bench.sh makes them). Nothing here asserts a time: the figures are for reading.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import base64
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(REPO, "e2e/simulator/target/release/applink-sim")
OPERATOR = os.path.join(REPO, "target/release/applink-operator")
TRIANGLE = [("jira", "confluence"), ("jira", "bitbucket"), ("confluence", "bitbucket")]
TYPE_IDS = {"jira": "jira", "confluence": "confluence", "bitbucket": "stash"}
SHARD = "sharding.applinks.io/key"
CLK = os.sysconf("SC_CLK_TCK")


def kubectl(*args, stdin=None):
    exe = os.path.join(os.environ["APPLINK_E2E_BIN"], "kubectl")
    r = subprocess.run([exe, *args], input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def http(method, url, body=None, auth=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text.strip() else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Simulator:
    """One simulator process serving every application of the run."""

    def __init__(self, tenants, latency_ms, workdir, tag):
        self.names = [f"{p}-{t}" for t in range(tenants) for p in ("jira", "confluence", "bitbucket")]
        cfg = ["control_port: 0", "apps:"]
        for name in self.names:
            cfg.append(f"- {{name: {name}, product: {name.rsplit('-', 1)[0]}, key_bits: 1024}}")
        path = os.path.join(workdir, f"sim-{tag}.yaml")
        with open(path, "w") as f:
            f.write("\n".join(cfg) + "\n")
        ready = os.path.join(workdir, f"ready-{tag}.json")
        self.proc = subprocess.Popen([SIM, "--config", path, "--ready-file", ready],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not (os.path.exists(ready) and os.path.getsize(ready) > 0):
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit("the simulator did not start")
            time.sleep(0.05)
        time.sleep(0.1)
        doc = json.load(open(ready))
        self.control = doc["controlUrl"]
        self.apps = {a["name"]: a for a in doc["apps"]}
        for name in self.names:
            status, _ = http("PATCH", f"{self.control}/_sim/apps/{name}/faults", {"latency_ms": latency_ms})
            assert status == 200, f"latency on {name}: {status}"

    def url(self, name):
        return self.apps[name]["baseUrl"]

    def counts(self):
        """Per application: {"METHOD route": n}."""
        out = {}
        for name in self.names:
            _, s = http("GET", f"{self.control}/_sim/apps/{name}/state")
            out[name] = s["requestCounts"]
        return out

    def cpu_seconds(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def total(counts):
    return sum(sum(c.values()) for c in counts.values())


def by_operation(counts):
    ops = {}
    for c in counts.values():
        for k, v in c.items():
            ops[k] = ops.get(k, 0) + v
    return dict(sorted(ops.items(), key=lambda kv: -kv[1]))


def diff(after, before):
    return {app: {k: v - before.get(app, {}).get(k, 0) for k, v in c.items() if v - before.get(app, {}).get(k, 0)}
            for app, c in after.items()}


def run_script(sim, tenants):
    """The sequential script: manifest of the target, then createAppLink two-way."""
    before = sim.counts()
    start = time.monotonic()
    for t in range(tenants):
        for a, b in TRIANGLE:
            src, dst = f"{a}-{t}", f"{b}-{t}"
            status, manifest = http("GET", sim.url(dst) + "/rest/applinks/1.0/manifest")
            assert status == 200, f"manifest of {dst}: {status} {manifest}"
            body = {
                "applicationLink": {"id": manifest["id"], "typeId": TYPE_IDS[b], "name": dst,
                                    "rpcUrl": sim.url(dst), "displayUrl": sim.url(dst), "isPrimary": True},
                "username": "admin", "password": "admin", "createTwoWayLink": True,
                "customRpcURL": False, "configFormValues": {"trustEachOther": True, "shareUserbase": False},
            }
            status, reply = http("POST", sim.url(src) + "/rest/applinks/1.0/applicationlinkForm/createAppLink",
                                 body, auth=("admin", "admin"), headers={"X-Atlassian-Token": "no-check"})
            assert status == 200 and reply.get("autoConfigurationSuccessful"), \
                f"createAppLink {src} -> {dst}: {status} {reply}"
    elapsed = time.monotonic() - start
    return elapsed, diff(sim.counts(), before)


def apiserver_writes(by_verb=False):
    """Write requests the apiserver has served, by resource (and verb), from its own metrics.
    They count every client's: the namespace controller's clean-up of earlier namespaces too."""
    text = kubectl("get", "--raw", "/metrics")
    writes = {}
    pat = re.compile(r'^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$')
    for line in text.splitlines():
        m = pat.match(line)
        if not m:
            continue
        labels = dict(kv.split("=", 1) for kv in re.findall(r'(\w+="[^"]*")', m.group(1)))
        labels = {k: v.strip('"') for k, v in labels.items()}
        if labels.get("verb") in ("POST", "PUT", "PATCH", "DELETE", "APPLY"):
            key = (labels.get("group", "") or "core") + "/" + labels.get("resource", "") + \
                  ("/" + labels["subresource"] if labels.get("subresource") else "")
            if by_verb:
                key = labels["verb"] + " " + key
            writes[key] = writes.get(key, 0) + float(m.group(2))
    return writes


def objects_yaml(sim, t, ns, shard):
    docs = []
    for p in ("jira", "confluence", "bitbucket"):
        name = f"{p}-{t}"
        docs.append(f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {p}-admin, namespace: {ns}, "
                    f"annotations: {{applinks.io/allowed-urls: '{sim.url(name)}'}}}}\n"
                    f"stringData: {{username: admin, password: admin}}")
        docs.append(f"apiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata: {{name: {p}, "
                    f"namespace: {ns}, labels: {{{SHARD}: {shard}}}}}\nspec: {{url: '{sim.url(name)}', "
                    f"type: {p}, credentialsSecretRef: {{name: {p}-admin}}}}")
    for a, b in TRIANGLE:
        docs.append(f"apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {{name: {a}-{b}, "
                    f"namespace: {ns}, labels: {{{SHARD}: {shard}}}}}\nspec: {{source: {{instanceRef: {{name: {a}}}}}, "
                    f"target: {{instanceRef: {{name: {b}}}}}, authentication: OAuth}}")
    return "\n---\n".join(docs) + "\n"


def ready_links(namespaces):
    out = json.loads(kubectl("get", "applicationlinks", "-A", "-l", f"{SHARD}={namespaces[0].rsplit('-', 1)[0]}",
                             "-o", "json"))
    ready = 0
    for item in out["items"]:
        for c in (item.get("status") or {}).get("conditions", []):
            if c["type"] == "Ready" and c["status"] == "True":
                ready += 1
    return ready, len(out["items"])


def run_operator(sim, tenants, workdir, extra_args, steady_s):
    shard = f"bench{os.getpid()}"
    namespaces = [f"{shard}-{t}" for t in range(tenants)]
    for ns in namespaces:
        kubectl("create", "namespace", ns)
    log = open(os.path.join(workdir, "operator.log"), "w")
    op = subprocess.Popen([OPERATOR, "--watch-label-selector", f"{SHARD}={shard}",
                           "--link-resync-interval", "10m", "--instance-check-interval", "10m", *extra_args],
                          stdout=log, stderr=log)
    try:
        time.sleep(1.0)  # the operator's caches fill before anything exists: not part of the figure
        if op.poll() is not None:
            raise SystemExit("the operator exited; see " + log.name)
        counts_before = sim.counts()
        writes_before = apiserver_writes()
        cpu_before = cpu_seconds(op.pid)
        sim_cpu_before = sim.cpu_seconds()
        manifests = "".join(objects_yaml(sim, t, ns, shard) + "---\n" for t, ns in enumerate(namespaces))
        start = time.monotonic()
        kubectl("apply", "-f", "-", stdin=manifests)
        applied = time.monotonic() - start  # part of the figure: what a user waits for too
        links = 3 * tenants
        while True:
            ready, seen = ready_links(namespaces)
            if ready == links:
                break
            if time.monotonic() - start > 900:
                raise SystemExit(f"only {ready}/{links} links Ready after 900 s; see {log.name}")
            time.sleep(0.2)
        elapsed = time.monotonic() - start
        result = {
            "seconds": elapsed,
            "apply_seconds": applied,
            "counts": diff(sim.counts(), counts_before),
            "writes": {k: v - writes_before.get(k, 0) for k, v in apiserver_writes().items()
                       if v - writes_before.get(k, 0) > 0},
            "cpu": cpu_seconds(op.pid) - cpu_before,
            "sim_cpu": sim.cpu_seconds() - sim_cpu_before,
            "rss": peak_rss_mib(op.pid),
        }
        if steady_s > 0:
            c0, w0 = sim.counts(), apiserver_writes(by_verb=True)
            time.sleep(steady_s)
            result["steady_requests"] = total(diff(sim.counts(), c0))
            steady_writes = {k: v - w0.get(k, 0) for k, v in apiserver_writes(by_verb=True).items()
                             if v - w0.get(k, 0) > 0}
            result["steady_writes"] = {k: v for k, v in steady_writes.items() if "applinks.io" in k or "secrets" in k}
        return result
    finally:
        op.terminate()
        op.wait()
        log.close()
        # The namespaces go with their objects; the operator is gone, so its finalizers are released
        # (in parallel: one kubectl per object, one after the other, took minutes at 300 links).
        def release(ns):
            exe = os.path.join(os.environ["APPLINK_E2E_BIN"], "kubectl")
            for kind in ("applicationlinks", "applicationinstances", "secrets"):
                for n in kubectl("get", kind, "-n", ns, "-o", "name").split():
                    subprocess.run([exe, "-n", ns, "patch", n, "--type", "merge",
                                    "-p", '{"metadata":{"finalizers":null}}'], capture_output=True)
            subprocess.run([exe, "delete", "namespace", ns, "--wait=false"], capture_output=True)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(release, namespaces))


def lower_bound(op_counts, links, latency_ms, per_app_limit, chain):
    busiest = max(sum(c.values()) for c in op_counts.values())
    per_app = busiest * latency_ms / 1000 / per_app_limit
    chained = chain * latency_ms / 1000
    return max(per_app, chained), busiest, per_app, chained


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tenants", type=int, default=100)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--steady-seconds", type=int, default=60,
                    help="steady-state window after all are Ready (the issue asks for 600)")
    ap.add_argument("--per-app-limit", type=int, default=4,
                    help="the operator's --max-requests-per-application (passed to it)")
    ap.add_argument("--chain", type=int, default=11,
                    help="the longest chain of dependent requests one new two-way link needs "
                         "(docs/performance.md derives it)")
    ap.add_argument("--skip-script", action="store_true")
    ap.add_argument("operator_args", nargs="*", help="extra operator flags (after --)")
    args = ap.parse_args()
    links = 3 * args.tenants
    workdir = tempfile.mkdtemp(prefix="applink-bench-")
    print(f"# {args.tenants} tenants x 3 applications, {links} two-way OAuth links, {args.latency_ms} ms latency")

    script_s = None
    if not args.skip_script:
        sim = Simulator(args.tenants, args.latency_ms, workdir, "script")
        try:
            script_s, script_counts = run_script(sim, args.tenants)
        finally:
            sim.stop()
        print(f"script:   {script_s:7.1f} s   {total(script_counts) / links:5.1f} requests/link")

    sim = Simulator(args.tenants, args.latency_ms, workdir, "operator")
    try:
        extra = ["--max-requests-per-application", str(args.per_app_limit), *args.operator_args]
        r = run_operator(sim, args.tenants, workdir, extra, args.steady_seconds)
    finally:
        sim.stop()
    bound, busiest, per_app, chained = lower_bound(r["counts"], links, args.latency_ms, args.per_app_limit, args.chain)
    print(f"operator: {r['seconds']:7.1f} s   {total(r['counts']) / links:5.1f} requests/link   "
          f"(kubectl apply of every object took {r['apply_seconds']:.1f} s of it)")
    print(f"bound:    {bound:7.1f} s   (chain {args.chain} x {args.latency_ms} ms = {chained:.2f} s; busiest application "
          f"{busiest} requests x {args.latency_ms} ms / {args.per_app_limit} = {per_app:.2f} s)")
    if script_s:
        print(f"ratios:   script/operator {script_s / r['seconds']:.2f}x   operator/bound {r['seconds'] / bound:.1f}x")
    print("requests per link, by operation (operator):")
    for op, n in by_operation(r["counts"]).items():
        print(f"  {n / links:6.2f}  {op}")
    if not args.skip_script:
        print("requests per link, by operation (script):")
        for op, n in by_operation(script_counts).items():
            print(f"  {n / links:6.2f}  {op}")
    kube_writes = {k: v for k, v in r["writes"].items() if "applinks.io" in k or "secrets" in k or "events" in k}
    print(f"Kubernetes API writes until Ready: {sum(kube_writes.values()) / links:.2f} per link")
    for k, v in sorted(kube_writes.items(), key=lambda kv: -kv[1]):
        print(f"  {v / links:6.2f}  {k}")
    if "steady_requests" in r:
        print(f"steady state ({args.steady_seconds} s): {r['steady_requests']} requests to applications, "
              f"{int(sum(r['steady_writes'].values()))} Kubernetes writes {r['steady_writes']}")
    print(f"operator: peak RSS {r['rss']:.0f} MiB, CPU {r['cpu']:.1f} s; simulator CPU {r['sim_cpu']:.1f} s "
          f"({100 * r['sim_cpu'] / max(r['seconds'], 0.001):.0f}% of one core over the run)")


if __name__ == "__main__":
    main()
