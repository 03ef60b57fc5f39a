#!/usr/bin/env python3
"""Writes a single-layer OCI image layout (image-spec v1.1) from a list of files, with no daemon.

Reproducible by construction: tar entries sorted, every mtime = SOURCE_DATE_EPOCH, owner 0:0,
no user/group names, gzip header without a name or time, JSON with sorted keys. Two runs on the
same inputs give byte-identical blobs, hence the same manifest digest.

  oci_layout.py --out DIR --ref TAG --spec spec.json

spec.json:
  {"files": [{"src": "path", "dst": "/applink-operator", "mode": 493}, ...],
   "dirs":  [{"dst": "/tmp", "mode": 1023}],
   "config": {"User": "65532:65532", "Entrypoint": [...], "Env": [...], "Labels": {...}, ...},
   "annotations": {...}}          # manifest annotations (OCI labels are copied in too)
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile
import time


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def layer_tar(spec, epoch):
    entries = {}
    for d in spec.get("dirs", []):
        entries[d["dst"].strip("/")] = ("dir", None, d.get("mode", 0o755))
    for f in spec["files"]:
        dst = f["dst"].strip("/")
        entries[dst] = ("file", f["src"], f.get("mode", 0o644))
        parent = os.path.dirname(dst)
        while parent:  # parents of files, unless listed with another mode
            entries.setdefault(parent, ("dir", None, 0o755))
            parent = os.path.dirname(parent)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            kind, src, mode = entries[name]
            info = tarfile.TarInfo(name)
            info.mtime = epoch
            info.mode = mode
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                with open(src, "rb") as fh:
                    data = fh.read()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--ref", required=True, help="tag recorded as org.opencontainers.image.ref.name")
    ap.add_argument("--spec", required=True)
    args = ap.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))

    os.makedirs(os.path.join(args.out, "blobs", "sha256"), exist_ok=True)
    tar_bytes = layer_tar(spec, epoch)
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    gz = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz, mtime=0, compresslevel=9) as g:
        g.write(tar_bytes)
    layer_digest, layer_size = blob(args.out, gz.getvalue())

    config = {
        "architecture": spec.get("architecture", "amd64"),
        "os": "linux",
        "created": created,
        "config": spec["config"],
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "e2e/image/oci_layout.py"}],
    }
    config_digest, config_size = blob(args.out, canonical(config))

    annotations = dict(spec["config"].get("Labels", {}))
    annotations.update(spec.get("annotations", {}))
    annotations["org.opencontainers.image.created"] = created
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": layer_size}],
        "annotations": annotations,
    }
    manifest_digest, manifest_size = blob(args.out, canonical(manifest))

    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest_size,
                       "platform": {"architecture": config["architecture"], "os": "linux"},
                       "annotations": {"org.opencontainers.image.ref.name": args.ref}}],
    }
    with open(os.path.join(args.out, "index.json"), "wb") as f:
        f.write(canonical(index))
    with open(os.path.join(args.out, "oci-layout"), "wb") as f:
        f.write(canonical({"imageLayoutVersion": "1.0.0"}))
    print(manifest_digest)


if __name__ == "__main__":
    main()
