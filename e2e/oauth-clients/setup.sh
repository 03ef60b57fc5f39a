#!/usr/bin/env bash
# Creates the Python venv of the OAuth client scripts, or reuses it, and prints the path of its
# python on stdout (what it did goes to stderr):
#
#   PY=$(e2e/oauth-clients/setup.sh) && "$PY" e2e/oauth-clients/oauth2_flow.py --help
#
# The venv lives in ~/.cache/applink-e2e/pyenv-<key> (APPLINK_E2E_CACHE overrides the folder),
# where <key> hashes requirements.txt and the interpreter's version: a warm machine reuses it,
# a changed pin or another Python builds a new one. A build that did not finish is redone.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=${PYTHON:-python3}
pyver=$("$py" -c 'import sys; print(sys.implementation.name, "%d.%d.%d" % sys.version_info[:3])')
key=$({ cat "$here/requirements.txt"; echo "$pyver"; } | sha256sum | cut -c1-16)
cache=${APPLINK_E2E_CACHE:-$HOME/.cache/applink-e2e}
venv="$cache/pyenv-$key"
mkdir -p "$cache"

# One build at a time per venv (parallel test runs share the cache).
exec 9>"$venv.lock"
flock 9

if [ -f "$venv/.complete" ]; then
    echo "oauth-clients: venv warm, reused: $venv ($pyver)" >&2
else
    start=$(date +%s%N)
    rm -rf "$venv"
    echo "oauth-clients: building venv $venv ($pyver) from requirements.txt" >&2
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --no-deps -r "$here/requirements.txt" >&2
    # --no-deps trusts the pins: check they are complete and consistent.
    "$venv/bin/python" -m pip check --disable-pip-version-check >&2
    "$venv/bin/python" -c 'import authlib, requests, cryptography' >&2
    touch "$venv/.complete"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "oauth-clients: venv built in ${ms} ms: $("$venv/bin/python" -m pip freeze --disable-pip-version-check | tr '\n' ' ')" >&2
fi
echo "$venv/bin/python"
