#!/usr/bin/env bash
# Starts and stops a real local Kubernetes control plane (etcd, kube-apiserver, and
# kube-controller-manager with the garbage-collector and namespace controllers) on 127.0.0.1,
# the way controller-runtime's envtest does. No Docker, no kubelet: pods never run.
#
#   e2e/control-plane.sh up     build (or reuse cached) binaries, start, wait until ready
#   e2e/control-plane.sh down   stop everything this run dir started and remove its data
#   e2e/control-plane.sh status
#   e2e/control-plane.sh restart-apiserver   stop and start kube-apiserver on the same port
#
# State lives in $APPLINK_E2E_RUN (default: <repo>/.e2e-run): kubeconfig, PKI, logs, pids, bin link.
#
# APPLINK_E2E_NODE=1 (set by e2e/node.sh, which adds a kubelet): the ServiceAccount admission
# plugin stays on (pods get their projected token) and kube-controller-manager also runs the
# controllers that turn a Deployment into Pods (deployment, replicaset, endpoints, endpointslice,
# disruption, pod GC, kube-root-ca.crt publisher, and node lifecycle, which lifts the new node's
# not-ready taint).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
run=${APPLINK_E2E_RUN:-$repo/.e2e-run}

log() { echo "[control-plane] $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # description, max seconds, command...
  local what=$1 max=$2; shift 2
  local deadline=$(( $(date +%s) + max ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then log "timed out waiting for $what"; return 1; fi
    sleep 0.2
  done
}

stop_pid() {
  local f=$1
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

pki() {
  local d=$run/pki
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=applink-e2e-ca" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  cat > "$d/server.ext" <<EXT
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth
EXT
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > "$d/client.ext"
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=e2e-admin" \
    -keyout "$d/admin.key" -out "$d/admin.csr" 2>/dev/null
  openssl x509 -req -in "$d/admin.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/client.ext" -out "$d/admin.crt" 2>/dev/null
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

kubeconfig() { # file, server
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: $2
    certificate-authority: $run/pki/ca.crt
users:
- name: e2e-admin
  user:
    client-certificate: $run/pki/admin.crt
    client-key: $run/pki/admin.key
contexts:
- name: e2e
  context: {cluster: e2e, user: e2e-admin, namespace: default}
current-context: e2e
KC
}

up() {
  if [ -f "$run/apiserver.pid" ] && kill -0 "$(cat "$run/apiserver.pid")" 2>/dev/null; then
    log "already running (kubeconfig: $run/kubeconfig)"; return 0
  fi
  local bin; bin=$("$here/build-control-plane.sh")
  mkdir -p "$run/logs"; ln -sfn "$bin" "$run/bin"
  local data; data=$(mktemp -d "${TMPDIR:-/tmp}/applink-etcd.XXXXXX")
  [ -d /dev/shm ] && [ -w /dev/shm ] && data=$(mktemp -d /dev/shm/applink-etcd.XXXXXX)
  echo "$data" > "$run/etcd.data"
  pki
  local etcd_port peer_port api_port
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  local t0; t0=$(date +%s.%N)

  "$bin/etcd" --data-dir "$data" --name e2e \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "e2e=http://127.0.0.1:$peer_port" --unsafe-no-fsync \
    --quota-backend-bytes=2147483648 >"$run/logs/etcd.log" 2>&1 &
  echo $! > "$run/etcd.pid"
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$etcd_port/health"

  # The arguments are kept so that `restart-apiserver` can bring it back on the same port.
  printf '%s\n' --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --tls-cert-file="$run/pki/server.crt" --tls-private-key-file="$run/pki/server.key" \
    --client-ca-file="$run/pki/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$run/pki/sa.pub" --service-account-signing-key-file="$run/pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --authorization-mode=RBAC \
    --allow-privileged=true --cert-dir="$run/pki" > "$run/apiserver.args"
  if [ "${APPLINK_E2E_NODE:-0}" = 1 ]; then
    # The kubelet serves on 127.0.0.1 (its InternalIP); its node name does not resolve.
    printf '%s\n' --kubelet-preferred-address-types=InternalIP >> "$run/apiserver.args"
  else
    printf '%s\n' --disable-admission-plugins=ServiceAccount >> "$run/apiserver.args"
  fi
  start_apiserver
  local server="https://127.0.0.1:$api_port"
  kubeconfig "$run/kubeconfig" "$server"
  wait_for kube-apiserver 120 curl -fsS --cacert "$run/pki/ca.crt" --cert "$run/pki/admin.crt" \
    --key "$run/pki/admin.key" "$server/readyz"

  local controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller
  if [ "${APPLINK_E2E_NODE:-0}" = 1 ]; then
    controllers=$controllers,deployment-controller,replicaset-controller,endpoints-controller,endpointslice-controller,disruption-controller,pod-garbage-collector-controller,root-ca-certificate-publisher-controller,node-lifecycle-controller
  fi
  "$bin/kube-controller-manager" --kubeconfig="$run/kubeconfig" --leader-elect=false \
    --controllers="$controllers" \
    --service-account-private-key-file="$run/pki/sa.key" --root-ca-file="$run/pki/ca.crt" \
    --bind-address=127.0.0.1 --secure-port=0 >"$run/logs/kube-controller-manager.log" 2>&1 &
  echo $! > "$run/controller-manager.pid"
  wait_for "default namespace" 60 "$bin/kubectl" --kubeconfig "$run/kubeconfig" get namespace default
  local t1; t1=$(date +%s.%N)
  printf '%.1f\n' "$(echo "$t1 - $t0" | bc)" > "$run/start-seconds"
  log "ready in $(cat "$run/start-seconds")s: export KUBECONFIG=$run/kubeconfig"
}

start_apiserver() {
  local args=()
  mapfile -t args < "$run/apiserver.args"
  "$run/bin/kube-apiserver" "${args[@]}" >>"$run/logs/kube-apiserver.log" 2>&1 &
  echo $! > "$run/apiserver.pid"
}

# Stops kube-apiserver and starts it again on the same port (a fault test for clients' watches).
restart_apiserver() {
  stop_pid "$run/apiserver.pid"
  start_apiserver
  local server; server=$(sed -n 's/^ *server: //p' "$run/kubeconfig")
  wait_for kube-apiserver 120 curl -fsS --cacert "$run/pki/ca.crt" --cert "$run/pki/admin.crt" \
    --key "$run/pki/admin.key" "$server/readyz"
  log "kube-apiserver restarted"
}

down() {
  stop_pid "$run/controller-manager.pid"
  stop_pid "$run/apiserver.pid"
  stop_pid "$run/etcd.pid"
  if [ -f "$run/etcd.data" ]; then rm -rf "$(cat "$run/etcd.data")"; rm -f "$run/etcd.data"; fi
  log "stopped"
}

status() {
  local ok=0
  for c in etcd apiserver controller-manager; do
    if [ -f "$run/$c.pid" ] && kill -0 "$(cat "$run/$c.pid")" 2>/dev/null; then echo "$c: running"; else echo "$c: stopped"; ok=1; fi
  done
  return $ok
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  restart-apiserver) restart_apiserver ;;
  *) echo "usage: $0 up|down|status|restart-apiserver" >&2; exit 2 ;;
esac
