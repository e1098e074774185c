#!/usr/bin/env python3
"""Concurrent ADD/DEL against the plugin in the current network namespace (chained mode, no
delegate), for the contention and fault tests. Prints a JSON report.

  stress.py random --plugin BIN --workers 32 --ops 100 --ports 20 [--kill-rate 0.2]
      each worker ADDs and DELs its own containers on host ports drawn from a small shared range
      (so they collide); with --kill-rate, that share of calls is SIGKILLed after a random delay.
      Afterwards every killed or unfinished container is DELed again, and the report compares the
      table with the containers that are still alive.
  stress.py same-port --plugin BIN --workers 16
      every worker ADDs a different container on the same host port at the same moment.
"""
import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

NET = "stress"


def conf(port, ip):
    """port None: no portMappings, so DEL scans for everything the container owns."""
    c = {"cniVersion": "1.0.0", "name": NET, "type": "nft-port-mapper",
         "prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/x"}],
                        "ips": [{"address": ip + "/16", "interface": 0}]}}
    if port is not None:
        c["runtimeConfig"] = {"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]}
    return json.dumps(c)


def call(plugin, verb, cid, port, ip, kill_after=None):
    """Returns (exit status or 'killed', stdout)."""
    env = {"CNI_COMMAND": verb, "CNI_CONTAINERID": cid, "CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": "eth0",
           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    p = subprocess.Popen([plugin], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=env, text=True)
    if kill_after is not None:
        timer = threading.Timer(kill_after, lambda: p.kill() if p.poll() is None else None)
        timer.start()
    out, _ = p.communicate(conf(port, ip))
    if kill_after is not None:
        timer.cancel()
    if p.returncode == -signal.SIGKILL:
        return "killed", out
    return p.returncode, out


def table_owners():
    """owner comment -> list of (set, element text) in table inet nft_port_mapper."""
    p = subprocess.run(["nft", "-j", "list", "table", "inet", "nft_port_mapper"], capture_output=True, text=True)
    owners = {}
    if p.returncode != 0:
        return owners
    for item in json.loads(p.stdout)["nftables"]:
        s = item.get("set") or item.get("map")
        if not s:
            continue
        for e in s.get("elem", []):
            c = e.get("elem", {}).get("comment") if isinstance(e, dict) and "elem" in e else None
            if c is None and isinstance(e, list) and len(e) == 2 and isinstance(e[0], dict):
                c = e[0].get("elem", {}).get("comment")
            if c and c.startswith(f"net={NET} "):  # this run's network only
                owners.setdefault(c, []).append(s["name"])
    return owners


def random_mode(a):
    lock = threading.Lock()
    alive = {}  # cid -> port
    errors, killed_calls, conflicts, oks = [], 0, 0, 0
    maybe = set()  # containers whose last call was killed: state unknown until re-DEL

    def worker(w):
        nonlocal killed_calls, conflicts, oks
        rng = random.Random(a.seed * 1000 + w)
        mine = {}
        for k in range(a.ops):
            cid = f"w{w}c{rng.randrange(4)}"
            ip = f"10.{100 + w}.{int(cid[-1])}.1"
            kill = rng.random() < a.kill_rate
            delay = rng.uniform(0, 0.006) if kill else None
            if cid in mine or cid in maybe:
                rc, out = call(a.plugin, "DEL", cid, mine.get(cid), ip, delay)
                if rc == "killed":
                    with lock:
                        killed_calls += 1
                        maybe.add(cid)
                    mine.pop(cid, None)
                    continue
                if rc != 0:
                    with lock:
                        errors.append(f"DEL {cid}: {out.strip()}")
                mine.pop(cid, None)
                with lock:
                    maybe.discard(cid)
            else:
                port = a.port0 + rng.randrange(a.ports)
                rc, out = call(a.plugin, "ADD", cid, port, ip, delay)
                if rc == "killed":
                    with lock:
                        killed_calls += 1
                        maybe.add(cid)
                    continue
                if rc == 0:
                    mine[cid] = port
                    with lock:
                        oks += 1
                elif '"code":105' in out:
                    with lock:
                        conflicts += 1
                else:
                    with lock:
                        errors.append(f"ADD {cid}:{port}: {out.strip()}")
        with lock:
            alive.update(mine)

    t = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(a.workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.perf_counter() - t
    # Right after the storm: every owner's elements are whole (claim + v4 map + hairpin) or absent.
    partial = {o: sets for o, sets in table_owners().items() if sorted(sets) != sorted(["ports", "cni-stress-v4", "hairpin4"])}
    # A repeated DEL cleans up after every killed call.
    for cid in sorted(maybe):
        rc, out = call(a.plugin, "DEL", cid, None, "10.0.0.1")
        if rc != 0:
            errors.append(f"cleanup DEL {cid}: {out.strip()}")
    owners = table_owners()
    expected = {f"net={NET} id={cid} if=eth0" for cid in alive}
    report = {"calls": a.workers * a.ops, "seconds": round(took, 1), "added": oks, "conflicts": conflicts,
              "killed": killed_calls, "errors": errors[:5], "error_count": len(errors),
              "partial_owners": partial, "alive": len(alive),
              "missing": sorted(expected - set(owners)), "leftover": sorted(set(owners) - expected)}
    print(json.dumps(report))
    ok = not errors and not partial and not report["missing"] and not report["leftover"]
    sys.exit(0 if ok else 1)


def same_port_mode(a):
    barrier = threading.Barrier(a.workers)
    results = [None] * a.workers

    def worker(w):
        barrier.wait()
        results[w] = call(a.plugin, "ADD", f"same{w}", a.port0, f"10.50.{w}.1")

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(a.workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    winners = [w for w, (rc, _) in enumerate(results) if rc == 0]
    conflicts = [w for w, (rc, out) in enumerate(results) if rc != 0 and '"code":105' in out]
    owners = table_owners()
    report = {"winners": winners, "conflicts": len(conflicts), "others": a.workers - len(winners) - len(conflicts),
              "owners_in_table": sorted(owners)}
    print(json.dumps(report))
    ok = len(winners) == 1 and len(conflicts) == a.workers - 1 and list(owners) == [f"net={NET} id=same{winners[0]} if=eth0"]
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["random", "same-port"])
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--ops", type=int, default=100)
    ap.add_argument("--ports", type=int, default=20)
    ap.add_argument("--port0", type=int, default=30000)
    ap.add_argument("--kill-rate", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    random_mode(a) if a.mode == "random" else same_port_mode(a)


if __name__ == "__main__":
    main()
