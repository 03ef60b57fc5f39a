#!/usr/bin/env bash
# A real one-node cluster on this machine, no Docker: the local control plane (control-plane.sh,
# in node mode) plus kube-scheduler and a kubelet built from the same pinned Kubernetes
# (build-node.sh), Debian's containerd + runc, Debian's CNI plugins (bridge + host-local), a
# loopback OCI registry (`crane registry serve`) and a pause image built here (image/pause.c).
#
#   e2e/node.sh up       start everything, push the pause image, wait until the node is Ready
#   e2e/node.sh down     delete the pods, stop everything, unmount, remove the bridge and rules
#   e2e/node.sh status
#
# State in $APPLINK_E2E_RUN (like control-plane.sh). Written there: registry (host:port of the
# loopback registry), kubeconfig, logs/{containerd,kubelet,kube-scheduler,registry}.log.
#
# Networking: pods sit on the bridge applink0 (10.88.0.0/24, gateway 10.88.0.1). Services bound to
# the host's loopback (kube-apiserver, the simulator) are reached from pods at the gateway address:
# nat rules DNAT 10.88.0.1:<port> to 127.0.0.1:<port> (route_localnet=1), and the `kubernetes`
# Service address 10.0.0.1:443 to kube-apiserver; that is all kube-proxy would do here. The node's
# InternalIP is the gateway too (the kubelet refuses a loopback node IP; it listens on 127.0.0.1,
# which kube-apiserver reaches through the same DNAT). One node
# per machine (the bridge and the subnet are fixed): `up` refuses when another run owns them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
run=${APPLINK_E2E_RUN:-$repo/.e2e-run}
export APPLINK_E2E_RUN=$run APPLINK_E2E_NODE=1

bridge=applink0
subnet=10.88.0.0/24
gateway=10.88.0.1
node_name=applink-e2e-node
owner_file=/run/applink-e2e-node.owner

log() { echo "[node] $*" >&2; }
die() { log "$*"; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # description, max seconds, command...
  local what=$1 max=$2; shift 2
  local deadline=$(( $(date +%s) + max ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then log "timed out after ${max}s waiting for $what"; return 1; fi
    sleep 0.5
  done
}

stop_pid() {
  local f=$1 grace=${2:-5}
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((grace * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

need() {
  local missing=()
  for t in containerd ctr runc iptables ip gcc; do command -v "$t" >/dev/null || missing+=("$t"); done
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] \
    || missing+=(containernetworking-plugins)
  [ ${#missing[@]} -eq 0 ] || die "missing: ${missing[*]} (apt-get install containerd runc containernetworking-plugins iptables gcc)"
  [ "$(id -u)" = 0 ] || die "the node needs root (containerd, mounts, network namespaces)"
}

kubectl() { "$run/bin/kubectl" --kubeconfig "$run/kubeconfig" "$@"; }
ctr_() { ctr --address "$run/containerd/containerd.sock" --namespace k8s.io "$@"; }

network_up() {
  local api_port=$1
  # Leftovers of a run that was killed before its `down` (no live node owns them: checked in up).
  iptables -t nat -D PREROUTING -i "$bridge" -j APPLINK-E2E-PRE 2>/dev/null || true
  iptables -t nat -D OUTPUT -j APPLINK-E2E-OUT 2>/dev/null || true
  for c in APPLINK-E2E-PRE APPLINK-E2E-OUT; do
    iptables -t nat -F "$c" 2>/dev/null || true; iptables -t nat -X "$c" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
  sysctl -n net.ipv4.conf.all.route_localnet > "$run/node/route_localnet.saved"
  sysctl -n net.ipv4.ip_forward > "$run/node/ip_forward.saved"
  sysctl -qw net.ipv4.conf.all.route_localnet=1
  iptables -t nat -N APPLINK-E2E-PRE
  iptables -t nat -N APPLINK-E2E-OUT
  # Pods -> kubernetes Service -> kube-apiserver on loopback.
  iptables -t nat -A APPLINK-E2E-PRE -d 10.0.0.1/32 -p tcp --dport 443 -j DNAT --to-destination "127.0.0.1:$api_port"
  # Pods -> the gateway -> the host's loopback services (simulator, apiserver, registry).
  iptables -t nat -A APPLINK-E2E-PRE -d "$gateway/32" -p tcp -j DNAT --to-destination 127.0.0.1
  # Host processes using the same URLs as pods (the simulated apps call each other at them).
  iptables -t nat -A APPLINK-E2E-OUT -d "$gateway/32" -p tcp -j DNAT --to-destination 127.0.0.1
  iptables -t nat -A PREROUTING -i "$bridge" -j APPLINK-E2E-PRE
  iptables -t nat -A OUTPUT -j APPLINK-E2E-OUT
  # Host -> pods, and the gateway address before the first pod creates the bridge.
  ip link add "$bridge" type bridge 2>/dev/null || true
  ip addr add "$gateway/24" dev "$bridge" 2>/dev/null || true
  ip link set "$bridge" up
}

network_down() {
  iptables -t nat -D PREROUTING -i "$bridge" -j APPLINK-E2E-PRE 2>/dev/null || true
  iptables -t nat -D OUTPUT -j APPLINK-E2E-OUT 2>/dev/null || true
  for c in APPLINK-E2E-PRE APPLINK-E2E-OUT; do
    iptables -t nat -F "$c" 2>/dev/null || true
    iptables -t nat -X "$c" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
  [ -f "$run/node/route_localnet.saved" ] && sysctl -qw "net.ipv4.conf.all.route_localnet=$(cat "$run/node/route_localnet.saved")" || true
  [ -f "$run/node/ip_forward.saved" ] && sysctl -qw "net.ipv4.ip_forward=$(cat "$run/node/ip_forward.saved")" || true
  rm -f "$run/node/route_localnet.saved" "$run/node/ip_forward.saved"
}

write_configs() {
  local reg=$1 kport=$2 hport=$3
  mkdir -p "$run/cni/net.d" "$run/containerd/certs.d/$reg" "$run/kubelet"
  cat > "$run/cni/net.d/10-applink-e2e.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "applink-e2e",
 "plugins": [{"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false,
              "hairpinMode": true,
              "ipam": {"type": "host-local", "ranges": [[{"subnet": "$subnet", "gateway": "$gateway"}]],
                       "dataDir": "$run/cni/ipam", "routes": [{"dst": "0.0.0.0/0"}]}}]}
JSON
  cat > "$run/containerd/certs.d/$reg/hosts.toml" <<TOML
server = "http://$reg"
[host."http://$reg"]
  capabilities = ["pull", "resolve"]
TOML
  cat > "$run/containerd/config.toml" <<TOML
version = 2
root = "$run/containerd/root"
state = "$run/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$run/containerd/containerd.sock"
[ttrpc]
  address = "$run/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$run/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$reg/applink-e2e/pause:1"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$run/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$run/containerd/certs.d"
TOML
  cat > "$run/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The machine has cgroup v1 (with the unified hierarchy also mounted); kubelet 1.35 refuses v1
# unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$run/containerd/containerd.sock
address: 127.0.0.1
port: $kport
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $hport
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
podLogsDir: $run/kubelet/pod-logs
failSwapOn: false
resolvConf: /etc/resolv.conf
maxPods: 30
serializeImagePulls: false
localStorageCapacityIsolation: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
YAML
}

up() {
  need
  if [ -f "$run/kubelet.pid" ] && kill -0 "$(cat "$run/kubelet.pid")" 2>/dev/null; then
    log "already running"; return 0
  fi
  if [ -f "$owner_file" ]; then
    local other; other=$(cat "$owner_file")
    if [ "$other" != "$run" ] && [ -f "$other/containerd.pid" ] && kill -0 "$(cat "$other/containerd.pid")" 2>/dev/null; then
      die "another node runs from $other (e2e/node.sh down with APPLINK_E2E_RUN=$other)"
    fi
  fi
  echo "$run" > "$owner_file"
  local t0; t0=$(date +%s.%N)
  local nodebin; nodebin=$("$here/build-node.sh")
  "$here/control-plane.sh" up
  mkdir -p "$run/node" "$run/logs"
  ln -sfn "$nodebin" "$run/node/bin"
  # Mounts and netns files made by this run are recorded so `down` removes only those.
  ls /run/netns 2>/dev/null | sort > "$run/node/netns.before" || true

  local reg_port; reg_port=$(free_port)
  local reg="127.0.0.1:$reg_port"
  mkdir -p "$run/registry"
  "$nodebin/crane" registry serve --address "$reg" --disk "$run/registry" >"$run/logs/registry.log" 2>&1 &
  echo $! > "$run/registry.pid"
  echo "$reg" > "$run/node/registry"
  wait_for registry 30 curl -fsS "http://$reg/v2/"
  "$here/build-image.sh" pause --out "$run/node/pause-layout" >/dev/null
  "$nodebin/crane" push --insecure "$run/node/pause-layout" "$reg/applink-e2e/pause:1" >/dev/null 2>"$run/logs/crane-push-pause.log"

  local api_port; api_port=$(sed -n 's#^ *server: https://127.0.0.1:##p' "$run/kubeconfig")
  network_up "$api_port"
  local kport hport; kport=$(free_port); hport=$(free_port)
  write_configs "$reg" "$kport" "$hport"

  containerd --config "$run/containerd/config.toml" >"$run/logs/containerd.log" 2>&1 &
  echo $! > "$run/containerd.pid"
  wait_for containerd 30 ctr --address "$run/containerd/containerd.sock" version

  "$nodebin/kube-scheduler" --kubeconfig="$run/kubeconfig" --authentication-kubeconfig="$run/kubeconfig" \
    --authorization-kubeconfig="$run/kubeconfig" --leader-elect=false --bind-address=127.0.0.1 \
    --secure-port="$(free_port)" >"$run/logs/kube-scheduler.log" 2>&1 &
  echo $! > "$run/scheduler.pid"

  "$nodebin/kubelet" --config="$run/kubelet/config.yaml" --kubeconfig="$run/kubeconfig" \
    --root-dir="$run/kubelet/root" --cert-dir="$run/kubelet/pki" \
    --hostname-override="$node_name" --node-ip="$gateway" >"$run/logs/kubelet.log" 2>&1 &
  echo $! > "$run/kubelet.pid"
  wait_for "node $node_name Ready" 120 kubectl wait --for=condition=Ready "node/$node_name" --timeout=5s \
    || { tail -n 30 "$run/logs/kubelet.log" >&2; return 1; }
  local t1; t1=$(date +%s.%N)
  printf '%.1f\n' "$(echo "$t1 - $t0" | bc)" > "$run/node/start-seconds"
  log "node $node_name Ready in $(cat "$run/node/start-seconds")s; registry $reg"
}

down() {
  # 1. Let the kubelet tear the pods down (containers, sandboxes, CNI, volume mounts).
  if [ -f "$run/kubelet.pid" ] && kill -0 "$(cat "$run/kubelet.pid")" 2>/dev/null \
     && [ -f "$run/apiserver.pid" ] && kill -0 "$(cat "$run/apiserver.pid")" 2>/dev/null; then
    kubectl delete pods --all --all-namespaces --grace-period=1 --timeout=60s >/dev/null 2>&1 || true
    # Wait (bounded) until no container of this runtime runs any more.
    local deadline=$(( $(date +%s) + 30 ))
    while ctr_ tasks ls 2>/dev/null | grep -q " RUNNING$" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.5; done
  fi
  stop_pid "$run/scheduler.pid"
  stop_pid "$run/kubelet.pid"
  # 2. Whatever is still running in this containerd.
  if [ -f "$run/containerd.pid" ] && kill -0 "$(cat "$run/containerd.pid")" 2>/dev/null; then
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$t" >/dev/null 2>&1 || true; done
    for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1 || true; done
  fi
  stop_pid "$run/containerd.pid" 10
  # Shims of this containerd (they outlive it by design): by pid, matched on our socket path.
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "-address $run/containerd/containerd.sock"; then
      kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
  # 3. Mounts under the run directory (deepest first) and the network namespaces this run made.
  grep -F " $run/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  if [ -f "$run/node/netns.before" ]; then
    comm -13 "$run/node/netns.before" <(ls /run/netns 2>/dev/null | sort) | while read -r ns; do
      umount -l "/run/netns/$ns" 2>/dev/null || true; rm -f "/run/netns/$ns"
    done
  fi
  network_down
  stop_pid "$run/registry.pid"
  [ "$(cat "$owner_file" 2>/dev/null)" = "$run" ] && rm -f "$owner_file"
  "$here/control-plane.sh" down
  log "stopped"
}

status() {
  local ok=0
  "$here/control-plane.sh" status || ok=1
  for c in registry containerd scheduler kubelet; do
    if [ -f "$run/$c.pid" ] && kill -0 "$(cat "$run/$c.pid")" 2>/dev/null; then echo "$c: running"; else echo "$c: stopped"; ok=1; fi
  done
  return $ok
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
