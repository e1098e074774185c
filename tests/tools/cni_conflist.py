#!/usr/bin/env python3
"""A small stand-in for libcni, for tests: runs a .conflist the way containerd, CRI-O and Podman
do through libcni.

ADD runs the plugins in order, each getting the previous plugin's result as prevResult and, if it
declares the capability, runtimeConfig.portMappings; the final result is cached. CHECK runs them
in order with the cached result as prevResult. DEL runs them in reverse order with the cached
result as prevResult (cniVersion >= 0.4.0), then drops the cache.

usage: cni_conflist.py {ADD,CHECK,DEL} --conflist F --id ID --netns PATH [--ifname eth0]
       [--cni-path DIRS] [--port-mappings JSON] [--cache-dir DIR]
Prints the final result (ADD) or the failing plugin's error document, and exits non-zero on error.
"""
import argparse
import json
import os
import subprocess
import sys


def find_plugin(ptype, cni_path):
    for d in cni_path.split(":"):
        p = os.path.join(d, ptype)
        if d and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise SystemExit(f"plugin {ptype!r} not found on {cni_path}")


def version_at_least(v, want):
    def parts(s):
        return [int(x) for x in s.split(".")]
    return parts(v) >= parts(want)


def run_plugin(conf, command, a, path):
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": a.id,
        "CNI_IFNAME": a.ifname,
        "CNI_PATH": a.cni_path,
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    }
    if a.netns:
        env["CNI_NETNS"] = a.netns
    p = subprocess.run([path], input=json.dumps(conf).encode(), env=env, capture_output=True, timeout=120)
    if p.stderr:
        sys.stderr.write(p.stderr.decode(errors="replace"))
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        print(out.strip() or json.dumps({"code": 999, "msg": f"{conf['type']} exited {p.returncode}"}))
        sys.exit(1)
    return json.loads(out) if out.strip() else None


def plugin_conf(net, plugin, a, prev):
    conf = dict(plugin)
    conf["name"] = net["name"]
    conf["cniVersion"] = net["cniVersion"]
    caps = plugin.get("capabilities", {})
    runtime = {}
    if caps.get("portMappings") and a.port_mappings is not None:
        runtime["portMappings"] = json.loads(a.port_mappings)
    if runtime:
        conf["runtimeConfig"] = runtime
    if prev is not None:
        conf["prevResult"] = prev
    return conf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["ADD", "CHECK", "DEL"])
    ap.add_argument("--conflist", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--netns", default="")
    ap.add_argument("--ifname", default="eth0")
    ap.add_argument("--cni-path", default="/usr/lib/cni")
    ap.add_argument("--port-mappings", default=None)
    ap.add_argument("--cache-dir", default="/tmp/cni-conflist-cache")
    a = ap.parse_args()

    with open(a.conflist) as f:
        net = json.load(f)
    os.makedirs(a.cache_dir, exist_ok=True)
    cache = os.path.join(a.cache_dir, f"{net['name']}-{a.id}-{a.ifname}.json")
    paths = [find_plugin(p["type"], a.cni_path) for p in net["plugins"]]

    if a.command == "ADD":
        prev = None
        for plugin, path in zip(net["plugins"], paths):
            prev = run_plugin(plugin_conf(net, plugin, a, prev), "ADD", a, path)
        with open(cache, "w") as f:
            json.dump(prev, f)
        print(json.dumps(prev))
        return
    cached = None
    if os.path.exists(cache):
        with open(cache) as f:
            cached = json.load(f)
    if a.command == "CHECK":
        for plugin, path in zip(net["plugins"], paths):
            run_plugin(plugin_conf(net, plugin, a, cached), "CHECK", a, path)
        return
    prev = cached if version_at_least(net["cniVersion"], "0.4.0") else None
    for plugin, path in reversed(list(zip(net["plugins"], paths))):
        run_plugin(plugin_conf(net, plugin, a, prev), "DEL", a, path)
    if os.path.exists(cache):
        os.unlink(cache)


if __name__ == "__main__":
    main()
