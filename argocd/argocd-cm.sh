#!/usr/bin/env bash
# Prints the argocd-cm `data` entries that install the applinks.io health checks and resource
# actions of argocd/resource_customizations (one health and one actions key per kind), for
# `kubectl -n argocd patch configmap argocd-cm --type merge --patch-file FILE`. See docs/gitops.md.
set -euo pipefail
root="$(cd "$(dirname "$0")" && pwd)/resource_customizations"
indent() { sed "s/^/$1/"; }
echo "data:"
for dir in "$root"/*/*/; do
  dir=${dir%/}
  kind=$(basename "$dir")
  group=$(basename "$(dirname "$dir")")
  echo "  resource.customizations.health.${group}_${kind}: |"
  indent "    " < "$dir/health.lua"
  [ -f "$dir/actions/discovery.lua" ] || continue
  echo "  resource.customizations.actions.${group}_${kind}: |"
  echo "    discovery.lua: |"
  indent "      " < "$dir/actions/discovery.lua"
  echo "    definitions:"
  for action in "$dir"/actions/*/action.lua; do
    echo "    - name: $(basename "$(dirname "$action")")"
    echo "      action.lua: |"
    indent "        " < "$action"
  done
done
