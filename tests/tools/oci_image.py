#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Builds a one-layer OCI image archive (an OCI image layout in a tar) from files of this machine,
for runtimes that cannot reach a registry (the containerd CRI test imports it with `ctr import`).

  oci_image.py --out IMG.tar --name localhost/nftpm/pause:1 --entrypoint /bin/sleep,2147483647 \
      --busybox --binary /usr/bin/socat --file www/index.html=hello

--busybox     /bin/busybox (Debian's busybox-static) with sh, sleep, echo, cat applets
--binary P    a dynamically linked program and the libraries `ldd` names, at the same paths
--file D=T    a file D (path inside the image) holding the text T
The image's name is written as the index's io.containerd.image.name annotation (what containerd's
import names the image by) and the tag as org.opencontainers.image.ref.name.
"""
import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

BUSYBOX_APPLETS = ("sh", "sleep", "echo", "cat", "ls", "ip", "hostname")


def ldd_libraries(binary):
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


class Layer:
    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)
        self.dirs = set()

    def _info(self, path, kind, size=0, mode=0o755):
        info = tarfile.TarInfo(path)
        info.type, info.size, info.mode, info.mtime = kind, size, mode, 0
        info.uid = info.gid = 0
        return info

    def dir(self, path):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self.tar.addfile(self._info(d, tarfile.DIRTYPE))

    def data(self, path, data, mode=0o644):
        path = path.strip("/")
        self.dir(os.path.dirname(path))
        self.tar.addfile(self._info(path, tarfile.REGTYPE, len(data), mode), io.BytesIO(data))

    def copy(self, host_path, path=None):
        real = os.path.realpath(host_path)
        with open(real, "rb") as f:
            self.data(path or host_path, f.read(), os.stat(real).st_mode & 0o777)

    def symlink(self, path, target):
        path = path.strip("/")
        self.dir(os.path.dirname(path))
        info = self._info(path, tarfile.SYMTYPE, mode=0o777)
        info.linkname = target
        self.tar.addfile(info)

    def finish(self):
        self.tar.close()
        return self.buf.getvalue()


def blob(out_tar, data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo("blobs/sha256/" + digest[7:])
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    out_tar.addfile(info, io.BytesIO(data))
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", required=True, help="image reference, e.g. localhost/nftpm/pause:1")
    ap.add_argument("--entrypoint", default="", help="comma-separated argv")
    ap.add_argument("--cmd", default="", help="comma-separated argv")
    ap.add_argument("--busybox", action="store_true")
    ap.add_argument("--binary", action="append", default=[])
    ap.add_argument("--file", action="append", default=[], help="PATH=TEXT")
    args = ap.parse_args()

    layer = Layer()
    for d in ("tmp", "proc", "sys", "dev", "etc", "run", "var/run"):
        layer.dir(d)
    layer.data("etc/passwd", b"root:x:0:0:root:/:/bin/sh\n")
    layer.data("etc/group", b"root:x:0:\n")
    if args.busybox:
        layer.copy("/bin/busybox", "bin/busybox")
        for applet in BUSYBOX_APPLETS:
            layer.symlink("bin/" + applet, "busybox")
    for binary in args.binary:
        layer.copy(binary, binary)
        for lib in ldd_libraries(binary):
            layer.copy(lib, lib)
    for spec in args.file:
        path, _, text = spec.partition("=")
        layer.data(path, (text + "\n").encode())
    layer_tar = layer.finish()

    split = lambda s: [a for a in s.split(",") if a] if s else None
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
    }
    if split(args.entrypoint):
        config["config"]["Entrypoint"] = split(args.entrypoint)
    if split(args.cmd):
        config["config"]["Cmd"] = split(args.cmd)

    tag = args.name.rsplit(":", 1)[1] if ":" in args.name.rsplit("/", 1)[-1] else "latest"
    with tarfile.open(args.out, "w", format=tarfile.PAX_FORMAT) as out:
        layer_desc = blob(out, layer_tar, "application/vnd.oci.image.layer.v1.tar")
        config_desc = blob(out, json.dumps(config, sort_keys=True).encode(),
                           "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": [layer_desc]}
        manifest_desc = blob(out, json.dumps(manifest, sort_keys=True).encode(),
                             "application/vnd.oci.image.manifest.v1+json")
        manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
        manifest_desc["annotations"] = {"io.containerd.image.name": args.name,
                                        "org.opencontainers.image.ref.name": tag}
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [manifest_desc]}
        for name, data in (("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
                           ("index.json", json.dumps(index, sort_keys=True).encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            out.addfile(info, io.BytesIO(data))
    print(manifest_desc["digest"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
