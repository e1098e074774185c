#!/usr/bin/env python3
"""Benchmarks of nft-port-mapper side by side with the reference portmap plugin (Debian's
containernetworking-plugins) and with a floor probe, all measured in the same run, in network
namespaces of its own. Run through scripts/bench, which installs and builds first.

Figures:
  control plane  p50/p99 wall time of one ADD and one DEL (whole process, chained mode, no
                 delegate) at several numbers of existing mappings, for us, the peer and the floor
  data plane     new TCP connections per second from a remote namespace through one mapping,
                 for our table, a rule-per-mapping table, and no NAT at all (the ceiling)
  concurrency    32 processes doing ADD/DEL cycles on distinct containers: ops/s, errors, leftovers
  memory         peak RSS of one plugin call
  records        restore of 10,000 and 100,000 recorded mappings after the table is deleted (a
                 flush), beside the floor of one batch; DEL at 0 and 50,000 recorded mappings with
                 its mappings in the config, without (the record decides), and with neither (scan)
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CLONE_NEWNET = 0x40000000
PID = os.getpid()
NODE, REMOTE, CTR = f"pmb{PID}-node", f"pmb{PID}-remote", f"pmb{PID}-ctr"
NODE_IP, REMOTE_IP, CTR_IP = "10.211.0.1", "10.211.0.2", "10.212.0.2"
TABLE = "nft_port_mapper"
# Host ports, laid out so that no two uses can meet: fillers 1024..51023 (50,000 at most),
# concurrency workers 52000..55199, the data-plane target 56000, seeds 59998/59999, probes 60000+.
FILLER_PORT0, CONC_PORT0, TARGET_PORT, SEED_PORT, RSS_PORT, PROBE_PORT0 = 1024, 52000, 56000, 59999, 59998, 60000
NET = "bench"
CHAIN = "cni-bench"
# The plugin's attachment records: private to the run, on /run's tmpfs as the default
# (/run/cni/nft-port-mapper) is, where an fsync costs nothing (on a disk it costs 0.3-0.8 ms).
STATE_DIR = f"/run/pmbench-{PID}-state"


def sh(*cmd, check=True, quiet=True, input=None):
    return subprocess.run(cmd, check=check, input=input, text=True,
                          stdout=subprocess.PIPE if quiet else None, stderr=subprocess.PIPE if quiet else None)


def in_ns(ns, *cmd, **kw):
    return sh("ip", "netns", "exec", ns, *cmd, **kw)


class Topology:
    """REMOTE --veth-- NODE --veth-- CTR, routed; everything removed on exit."""

    def __enter__(self):
        for ns in (NODE, REMOTE, CTR):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        self.link(NODE, "uplink", NODE_IP + "/24", REMOTE, "eth0", REMOTE_IP + "/24", "r")
        self.link(NODE, "toctr", "10.212.0.1/24", CTR, "eth0", CTR_IP + "/24", "c")
        sh("ip", "-n", REMOTE, "route", "add", "default", "via", NODE_IP)
        sh("ip", "-n", CTR, "route", "add", "default", "via", "10.212.0.1")
        in_ns(NODE, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        return self

    @staticmethod
    def link(a, a_if, a_ip, b, b_if, b_ip, tag):
        x, y = f"pmb{PID}{tag}a", f"pmb{PID}{tag}b"
        sh("ip", "link", "add", x, "type", "veth", "peer", "name", y)
        sh("ip", "link", "set", x, "netns", a)
        sh("ip", "link", "set", y, "netns", b)
        sh("ip", "-n", a, "link", "set", x, "name", a_if)
        sh("ip", "-n", b, "link", "set", y, "name", b_if)
        sh("ip", "-n", a, "addr", "add", a_ip, "dev", a_if)
        sh("ip", "-n", b, "addr", "add", b_ip, "dev", b_if)
        sh("ip", "-n", a, "link", "set", a_if, "up")
        sh("ip", "-n", b, "link", "set", b_if, "up")

    def __exit__(self, *exc):
        shutil.rmtree(STATE_DIR, ignore_errors=True)
        for ns in (NODE, REMOTE, CTR):
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), 9)
                except OSError:
                    pass
            sh("ip", "netns", "del", ns, check=False)


def enter_node():
    """This process (and so every plugin it starts) lives in the node namespace from now on."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/var/run/netns/{NODE}") as f:
        if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")


def chained_conf(kind, port, ip, version):
    conf = {"cniVersion": version, "name": NET,
            "type": "nft-port-mapper" if kind == "ours" else "portmap",
            "runtimeConfig": {"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]},
            "prevResult": {"cniVersion": version, "interfaces": [{"name": "eth0", "sandbox": "/x"}],
                           "ips": [{"version": "4", "address": ip + "/16", "interface": 0}]}}
    if version.startswith("1."):
        del conf["prevResult"]["ips"][0]["version"]
    if kind == "peer":
        conf["snat"] = True
    else:
        conf["stateDir"] = STATE_DIR
    return json.dumps(conf)


def filler_ip(i):
    return f"10.{200 + i // 65536}.{(i // 256) % 256}.{i % 256 or 1}"


class Runner:
    def __init__(self, build, tmp):
        self.build = build
        self.tmp = tmp
        self.plugin = os.path.join(build, "nft-port-mapper")
        self.probe = os.path.join(build, "nftpm-floor-probe")
        self.seq = 0

    def call(self, kind, verb, cid, port, ip):
        """One whole-process call; returns its wall time in ms (raises on failure)."""
        if kind == "floor":
            cmd, stdin, env = [self.probe, "add" if verb == "ADD" else "del", str(port)], "", {}
        else:
            cmd = [self.plugin] if kind == "ours" else ["/usr/lib/cni/portmap"]
            stdin = chained_conf(kind, port, ip, "1.0.0" if kind == "ours" else "0.4.0")
            env = {"CNI_COMMAND": verb, "CNI_CONTAINERID": cid, "CNI_NETNS": "/var/run/netns/x",
                   "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        t = time.perf_counter()
        p = subprocess.run(cmd, input=stdin, text=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        took = (time.perf_counter() - t) * 1000
        if p.returncode != 0:
            raise RuntimeError(f"{kind} {verb} failed: {p.stdout.strip()} {p.stderr.strip()[:300]}")
        return took


# --- filling a node to a size ---------------------------------------------------------------

def fill_ours(n, start):
    """n mappings of other owners, exactly as the plugin makes them (port claim + v4 map + hairpin)."""
    for lo in range(start, start + n, 5000):
        hi = min(start + n, lo + 5000)
        d, m, h = [], [], []
        for i in range(lo, hi):
            o = f'net={NET} id=filler{i} if=eth0'
            d.append(f'tcp . {FILLER_PORT0 + i} comment "{o}"')
            m.append(f'tcp . {FILLER_PORT0 + i} comment "{o}" : {filler_ip(i)} . 80')
            h.append(f'{filler_ip(i)} comment "{o}"')
        text = (f"add element inet {TABLE} ports {{ {', '.join(d)} }}\n"
                f"add element inet {TABLE} {CHAIN}-v4 {{ {', '.join(m)} }}\n"
                f"add element inet {TABLE} hairpin4 {{ {', '.join(h)} }}\n")
        sh("nft", "-f", "-", input=text)


def fill_peer(n, start):
    """n containers in the exact rule shapes portmap (iptables backend) creates for one."""
    lines = ["*nat"]
    for i in range(start, start + n):
        ch = f"CNI-DN-{i:023x}"[:28]
        port = FILLER_PORT0 + i
        lines.append(f":{ch} - [0:0]")
        lines.append(f"-A {ch} -s 10.0.0.0/8 -p tcp -m tcp --dport {port} -j CNI-HOSTPORT-SETMARK")
        lines.append(f"-A {ch} -s 127.0.0.1/32 -p tcp -m tcp --dport {port} -j CNI-HOSTPORT-SETMARK")
        lines.append(f"-A {ch} -p tcp -m tcp --dport {port} -j DNAT --to-destination {filler_ip(i)}:80")
        lines.append(f'-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"{NET}\\" id: \\"filler{i}\\"" '
                     f"-m multiport --dports {port} -j {ch}")
    lines.append("COMMIT")
    sh("iptables-restore", "--noflush", input="\n".join(lines) + "\n")


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def control_plane(r, sizes, iterations, peer_iterations, peer_max):
    """ADD then DEL of a fresh container, repeated, at each size; floor and peer alike."""
    results = []
    sh("nft", "add", "table", "inet", "nftpm_floor")
    sh("nft", "add", "map", "inet", "nftpm_floor", "floor", "{ type inet_proto . inet_service : ipv4_addr . inet_service; }")
    # One call each to create the layouts (ours: table and chains; peer: its chains).
    r.call("ours", "ADD", "seed", SEED_PORT, "10.199.0.1")
    r.call("peer", "ADD", "seed", SEED_PORT, "10.199.0.1")
    filled = 0
    for size in sizes:
        if size > filled:
            fill_ours(size - filled, filled)
            if size <= peer_max:
                fill_peer(size - filled, filled)
            filled = size
        row = {"size": size}
        for kind in ("floor", "ours", "peer"):
            if kind == "peer" and size > peer_max:
                continue
            n = peer_iterations if kind == "peer" and size >= 10000 else iterations
            add, dele = [], []
            for k in range(n):
                r.seq += 1
                port, ip, cid = PROBE_PORT0 + (r.seq % 5000), f"10.198.{(r.seq // 250) % 250}.{r.seq % 250 + 1}", f"probe{r.seq}"
                add.append(r.call(kind, "ADD", cid, port, ip))
                dele.append(r.call(kind, "DEL", cid, port, ip))
            row[kind] = {"add_p50": statistics.median(add), "add_p99": pct(add, 99),
                         "del_p50": statistics.median(dele), "del_p99": pct(dele, 99), "n": n}
            print(f"  size {size:>6}  {kind:5}  ADD p50 {row[kind]['add_p50']:7.2f} ms p99 {row[kind]['add_p99']:7.2f}"
                  f"   DEL p50 {row[kind]['del_p50']:7.2f} ms p99 {row[kind]['del_p99']:7.2f}   (n={n})", flush=True)
        results.append(row)
    return results


# --- attachment records: restore and DEL --------------------------------------------------------

RECORD_PORTS = 50000  # host ports per protocol used for recorded fillers: tcp first, then udp


def records_conf(mappings, ip, with_mappings=True):
    conf = json.loads(chained_conf("ours", 1, ip, "1.0.0"))
    if with_mappings:
        conf["runtimeConfig"]["portMappings"] = mappings
    else:
        del conf["runtimeConfig"]
    return json.dumps(conf)


def plugin_call(r, verb, cid, conf):
    env = {"CNI_COMMAND": verb, "CNI_CONTAINERID": cid, "CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": "eth0",
           "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    t = time.perf_counter()
    p = subprocess.run([r.plugin], input=conf, text=True, env=env, capture_output=True)
    took = (time.perf_counter() - t) * 1000
    if p.returncode != 0:
        raise RuntimeError(f"{verb} {cid} failed: {p.stdout.strip()} {p.stderr.strip()[:300]}")
    return took


def fill_recorded(r, upto, have, per_container=1000):
    """Fills through the plugin itself: containers of 1,000 mappings each, with records."""
    for g0 in range(have, upto, per_container):
        n = min(per_container, upto - g0)
        ms = [{"hostPort": FILLER_PORT0 + (g % RECORD_PORTS), "containerPort": 80,
               "protocol": "tcp" if g < RECORD_PORTS else "udp"} for g in range(g0, g0 + n)]
        c = g0 // per_container
        plugin_call(r, "ADD", f"rec{c}", records_conf(ms, f"10.180.{c // 250}.{c % 250 + 1}"))
    return upto


def records_bench(r, restore_sizes, restore_reps, del_sizes, del_iters):
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    sh("nft", "delete", "table", "inet", TABLE, check=False)
    if sh("nft", "list", "table", "inet", "nftpm_floor", check=False).returncode != 0:
        sh("nft", "add", "table", "inet", "nftpm_floor")
        sh("nft", "add", "map", "inet", "nftpm_floor", "floor",
           "{ type inet_proto . inet_service : ipv4_addr . inet_service; }")
    out = {"restore": [], "del": []}

    def floor_batch(n):
        adds = []
        for k in range(n):
            r.seq += 1
            adds.append(r.call("floor", "ADD", "f", PROBE_PORT0 + (r.seq % 5000), "10.1.1.1"))
            r.call("floor", "DEL", "f", PROBE_PORT0 + (r.seq % 5000), "10.1.1.1")
        return statistics.median(adds)

    def del_row(size):
        row = {"size": size}
        for mode in ("with_mappings", "record_only", "scan"):
            times = []
            for k in range(del_iters):
                r.seq += 1
                m = [{"hostPort": PROBE_PORT0 + (r.seq % 5000), "containerPort": 80, "protocol": "tcp"}]
                ip, cid = f"10.198.{(r.seq // 250) % 250}.{r.seq % 250 + 1}", f"probe{r.seq}"
                plugin_call(r, "ADD", cid, records_conf(m, ip))
                if mode == "scan":  # as a container added by a version that kept no records
                    for root, _, files in os.walk(STATE_DIR):
                        for f in files:
                            if f.startswith(cid + ":"):
                                os.unlink(os.path.join(root, f))
                times.append(plugin_call(r, "DEL", cid, records_conf(m, ip, mode == "with_mappings")))
            row[mode] = statistics.median(times)
        floor = []
        for k in range(del_iters):
            r.call("floor", "ADD", "f", PROBE_PORT0, "10.1.1.1")
            floor.append(r.call("floor", "DEL", "f", PROBE_PORT0, "10.1.1.1"))
        row["floor_del"] = statistics.median(floor)
        print(f"  DEL at {size:>6} recorded mappings: with its mappings {row['with_mappings']:.2f} ms, record only "
              f"{row['record_only']:.2f} ms, scan {row['scan']:.2f} ms (floor DEL {row['floor_del']:.2f} ms)", flush=True)
        return row

    filled = 0
    for size in sorted(set(restore_sizes) | set(del_sizes)):
        filled = fill_recorded(r, size, filled)
        if size in del_sizes:
            out["del"].append(del_row(size))
        if size in restore_sizes:
            times = []
            for k in range(restore_reps):
                sh("nft", "delete", "table", "inet", TABLE)
                t = time.perf_counter()
                p = sh(r.plugin, "restore", "--state-dir", STATE_DIR, check=False)
                times.append((time.perf_counter() - t) * 1000)
                if p.returncode != 0 or f"({2 * size + size // 1000}" not in p.stdout.replace(",", ""):
                    raise RuntimeError(f"restore of {size} failed or incomplete: {p.stdout[-300:]} {p.stderr[-300:]}")
            row = {"size": size, "restore_ms": statistics.median(times), "reps": restore_reps,
                   "floor_add_ms": floor_batch(5)}
            print(f"  restore of {size:>6} recorded mappings: {row['restore_ms']:.1f} ms (floor batch "
                  f"{row['floor_add_ms']:.2f} ms)", flush=True)
            out["restore"].append(row)
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    return out


def peak_rss(r):
    """Peak RSS (MB) of one ADD and one DEL, measured by a tiny forking parent (nftpm-peakrss)."""
    tool = os.path.join(r.build, "nftpm-peakrss")

    def measure(cmd, stdin="", env=None):
        p = subprocess.run([tool, *cmd], input=stdin, text=True, env=env or {}, capture_output=True)
        for line in p.stderr.splitlines():
            if line.startswith("peak_rss_kib "):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"peakrss: {p.stderr.strip()}")

    out = {"baseline_mb": measure(["/bin/true"])}
    for kind in ("ours", "peer"):
        for verb in ("ADD", "DEL"):
            cmd = [r.plugin] if kind == "ours" else ["/usr/lib/cni/portmap"]
            env = {"CNI_COMMAND": verb, "CNI_CONTAINERID": "rss", "CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": "eth0",
                   "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            conf = chained_conf(kind, RSS_PORT, "10.199.0.2", "1.0.0" if kind == "ours" else "0.4.0")
            out[f"{kind}_{verb.lower()}_mb"] = measure(cmd, conf, env)
    return out


def concurrency(r, procs, cycles):
    errors, lock = [], threading.Lock()
    t = time.perf_counter()

    def worker(w):
        for c in range(cycles):
            cid, port, ip = f"conc{w}-{c}", CONC_PORT0 + w * 100 + c, f"10.197.{w}.{c + 1}"
            for verb in ("ADD", "DEL"):
                try:
                    r.call("ours", verb, cid, port, ip)
                except RuntimeError as e:
                    with lock:
                        errors.append(str(e))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(procs)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.perf_counter() - t
    listing = sh("nft", "list", "table", "inet", TABLE).stdout
    left = listing.count('id=conc')
    return {"processes": procs, "cycles": cycles, "ops": procs * cycles * 2, "ops_per_s": procs * cycles * 2 / took,
            "errors": len(errors), "first_error": errors[0] if errors else "", "leftover_elements": left}


def data_plane(build, sizes, seconds, rounds):
    """Connection rate through one mapping: our table, a rule-per-mapping table, no NAT.

    Each round loads every table in turn and measures it, so a machine that speeds up or slows
    down during the run moves every size alike; each figure is the median of its rounds."""
    connrate = os.path.join(build, "nftpm-connrate")
    server = subprocess.Popen(["ip", "netns", "exec", CTR, connrate, "serve", "80"])
    time.sleep(0.3)
    r = Runner(build, None)

    def rate(addr, port):
        p = in_ns(REMOTE, connrate, "connect", addr, str(port), str(seconds))
        return float(p.stdout.split()[0])

    def load_ours(size):  # the mapping under test (through the plugin) plus (size - 1) others
        in_ns(NODE, "nft", "flush", "ruleset")
        conf = chained_conf("ours", TARGET_PORT, CTR_IP, "1.0.0")
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "target", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0"}
        p = subprocess.run(["ip", "netns", "exec", NODE, r.plugin], input=conf, text=True, env=env,
                           capture_output=True)
        if p.returncode != 0:
            raise RuntimeError(p.stdout)
        text = []
        for lo in range(0, size - 1, 5000):
            hi = min(size - 1, lo + 5000)
            d = ", ".join(f'tcp . {FILLER_PORT0 + i}' for i in range(lo, hi))
            m = ", ".join(f'tcp . {FILLER_PORT0 + i} : {filler_ip(i)} . 80' for i in range(lo, hi))
            text.append(f"add element inet {TABLE} ports {{ {d} }}\nadd element inet {TABLE} {CHAIN}-v4 {{ {m} }}\n")
        if text:
            in_ns(NODE, "nft", "-f", "-", input="".join(text))

    def load_rule_per_mapping(size):  # newest last, as rule-per-mapping designs append them
        in_ns(NODE, "nft", "flush", "ruleset")
        body = [f"tcp dport {FILLER_PORT0 + i} dnat to {filler_ip(i)}:80" for i in range(size - 1)]
        body.append(f"tcp dport {TARGET_PORT} dnat to {CTR_IP}:80")
        text = "table ip rpm {\n chain pre { type nat hook prerouting priority -100; }\n}\n"
        text += "".join(f"add rule ip rpm pre {b}\n" for b in body)
        in_ns(NODE, "nft", "-f", "-", input=text)

    samples = {"no_nat": [], "ours": {s: [] for s in sizes}, "rule_per_mapping": {s: [] for s in sizes}}
    for rnd in range(rounds):
        in_ns(NODE, "nft", "flush", "ruleset")
        samples["no_nat"].append(rate(CTR_IP, 80))
        for size in sizes:
            load_ours(size)
            samples["ours"][size].append(rate(NODE_IP, TARGET_PORT))
            load_rule_per_mapping(size)
            samples["rule_per_mapping"][size].append(rate(NODE_IP, TARGET_PORT))
        print(f"  round {rnd + 1}/{rounds}: no NAT {samples['no_nat'][-1]:.0f}; " +
              "; ".join(f"{s}: ours {samples['ours'][s][-1]:.0f}, rule per mapping "
                        f"{samples['rule_per_mapping'][s][-1]:.0f}" for s in sizes), flush=True)
    in_ns(NODE, "nft", "flush", "ruleset")
    server.kill()
    med = statistics.median
    return {"rounds": rounds, "samples": samples, "no_nat": med(samples["no_nat"]),
            "ours": {s: med(v) for s, v in samples["ours"].items()},
            "rule_per_mapping": {s: med(v) for s, v in samples["rule_per_mapping"].items()}}


def machine():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pkg = lambda p: sh("dpkg-query", "-W", "-f=${Version}", p, check=False).stdout.strip()
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "kernel": platform.release(), "cpus": os.cpu_count(), "cpu": cpu,
            "containernetworking-plugins": pkg("containernetworking-plugins"), "nftables": pkg("nftables"),
            "iptables": pkg("iptables"), "libnftnl": pkg("libnftnl11")}


def write_report(out, res, quick):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    m = res["machine"]
    L = [f"# Benchmarks{' (quick run: small sizes, no conclusions)' if quick else ''}", "",
         f"Written by `scripts/bench{' --quick' if quick else ''}` on {m['date']}: Linux {m['kernel']}, {m['cpus']} CPUs "
         f"({m['cpu']}), containernetworking-plugins {m['containernetworking-plugins']} (the peer: `portmap`, "
         f"its iptables backend, the only one in that version), iptables {m['iptables']}, nftables {m['nftables']}. "
         "Everything runs in network namespaces made for the run; all figures of a table come from the same run.", "",
         "## Control plane: one call, whole process, chained mode (ms)", "",
         "The floor is `nftpm-floor-probe`: start, one netlink batch adding (or deleting) one map element, exit. "
         "The peer is filled to each size with the exact rule shapes its ADD creates (a `CNI-DN-…` chain of three "
         "rules and a `CNI-HOSTPORT-DNAT` jump per container); ours with the elements ours creates.", "",
         "| mappings | floor ADD | ours ADD p50 / p99 | ours ÷ floor | peer ADD p50 | floor DEL | ours DEL p50 / p99 | ours ÷ floor | peer DEL p50 |",
         "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in res["control_plane"]:
        f, o, p = row["floor"], row["ours"], row.get("peer")
        L.append(f"| {row['size']:,} | {f['add_p50']:.2f} | {o['add_p50']:.2f} / {o['add_p99']:.2f} | "
                 f"{o['add_p50'] / f['add_p50']:.2f}× | {p['add_p50']:.1f} |" if p else
                 f"| {row['size']:,} | {f['add_p50']:.2f} | {o['add_p50']:.2f} / {o['add_p99']:.2f} | "
                 f"{o['add_p50'] / f['add_p50']:.2f}× | – |")
        L[-1] += (f" {f['del_p50']:.2f} | {o['del_p50']:.2f} / {o['del_p99']:.2f} | {o['del_p50'] / f['del_p50']:.2f}× | "
                  f"{p['del_p50']:.1f} |" if p else
                  f" {f['del_p50']:.2f} | {o['del_p50']:.2f} / {o['del_p99']:.2f} | {o['del_p50'] / f['del_p50']:.2f}× | – |")
    cp = res["control_plane"]
    first, last = cp[0]["ours"], cp[-1]["ours"]
    L += ["", f"Ours at {cp[-1]['size']:,} vs {cp[0]['size']:,} mappings: ADD {last['add_p50'] / first['add_p50']:.2f}×, "
          f"DEL {last['del_p50'] / first['del_p50']:.2f}× (budget ≤ 1.25×). Peer iterations are fewer at 10,000 and "
          "more, where each of its calls takes seconds.", "",
          "## Data plane: new TCP connections per second through one mapping", "",
          "A remote namespace opens and resets connections to the node's address for "
          f"{res['data_plane_seconds']} s per figure; the mapping under test is the newest. Each figure is the median "
          f"of {res['data_plane'].get('rounds', 1)} rounds; every round loads and measures each table in turn, so "
          "drift in the machine's speed moves all sizes alike (the samples are in results.json).", "",
          "| mappings | our maps | rule per mapping | no NAT (ceiling) | ours at N ÷ ours at 1 |", "|---:|---:|---:|---:|---:|"]
    dp = res["data_plane"]
    sizes = sorted(int(k) for k in dp["ours"])
    for s in sizes:
        L.append(f"| {s:,} | {dp['ours'][s]:.0f} | {dp['rule_per_mapping'][s]:.0f} | {dp['no_nat']:.0f} | "
                 f"{dp['ours'][s] / dp['ours'][sizes[0]] * 100:.0f} % |")
    c = res["concurrency"]
    L += ["", "## Concurrency", "",
          f"{c['processes']} processes × {c['cycles']} ADD/DEL cycles on distinct containers: {c['ops']} calls, "
          f"{c['ops_per_s']:.0f} calls/s, **{c['errors']} errors, {c['leftover_elements']} elements left** "
          "in the table afterwards.", ""]
    rss = res["rss"]
    L += ["## Memory", "", f"Peak RSS of one call: ours ADD {rss['ours_add_mb']:.1f} MB, DEL {rss['ours_del_mb']:.1f} MB; "
          f"peer ADD {rss['peer_add_mb']:.1f} MB, DEL {rss['peer_del_mb']:.1f} MB (budget ≤ 8 MB). Measured with "
          f"`nftpm-peakrss`, whose own floor (`/bin/true` through it) is {rss['baseline_mb']:.1f} MB.", ""]
    rec = res.get("records")
    if rec:
        L += ["## Attachment records", "",
              "The node is filled through the plugin itself (containers of 1,000 mappings, TCP then UDP host ports), "
              "so every mapping has its record. Restore: the plugin's table is deleted (what `flush ruleset` does to "
              "it), then `nft-port-mapper restore` is timed as a whole process, beside the floor probe's one-batch "
              "ADD in the same run.", "",
              "| recorded mappings | restore (median) | elements restored | floor batch | restore ÷ floor |",
              "|---:|---:|---:|---:|---:|"]
        for row in rec["restore"]:
            L.append(f"| {row['size']:,} | {row['restore_ms']:.0f} ms | {2 * row['size'] + row['size'] // 1000:,} | "
                     f"{row['floor_add_ms']:.2f} ms | {row['restore_ms'] / row['floor_add_ms']:.0f}× |")
        L += ["", "DEL of a one-mapping container (median, whole process): with its mappings in the config, "
              "without them (the record says what to remove), and with neither (a container of a version that kept "
              "no records: a scan of the network's maps).", "",
              "| recorded mappings | with its mappings | record only | scan (no record) | floor DEL |",
              "|---:|---:|---:|---:|---:|"]
        for row in rec["del"]:
            L.append(f"| {row['size']:,} | {row['with_mappings']:.2f} ms | {row['record_only']:.2f} ms | "
                     f"{row['scan']:.2f} ms | {row['floor_del']:.2f} ms |")
        L.append("")
    if os.path.exists(os.path.join(out, "control-plane.png")):
        L += ["![control plane](control-plane.png)", "", "![data plane](data-plane.png)", ""]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(L))


def plot(out, res):
    if not shutil.which("gnuplot"):
        return
    cp = res["control_plane"]
    with open(os.path.join(out, "control.dat"), "w") as f:
        for row in cp:
            p = row.get("peer")
            f.write(f"{max(row['size'], 1)} {row['floor']['add_p50']} {row['ours']['add_p50']} "
                    f"{p['add_p50'] if p else 'NaN'} {row['floor']['del_p50']} {row['ours']['del_p50']} "
                    f"{p['del_p50'] if p else 'NaN'}\n")
    dp = res["data_plane"]
    with open(os.path.join(out, "data.dat"), "w") as f:
        for s in sorted(int(k) for k in dp["ours"]):
            f.write(f"{s} {dp['ours'][s]} {dp['rule_per_mapping'][s]} {dp['no_nat']}\n")
    script = f"""
set terminal pngcairo size 900,500 noenhanced
set output '{out}/control-plane.png'
set title 'One CNI call, whole process, chained mode (p50)'
set xlabel 'existing mappings (0 plotted at 1)'; set ylabel 'ms'; set logscale xy; set key left top; set grid
plot '{out}/control.dat' u 1:2 w lp t 'floor ADD', '' u 1:3 w lp t 'nft-port-mapper ADD', '' u 1:4 w lp t 'portmap ADD', \\
     '' u 1:5 w lp dt 2 t 'floor DEL', '' u 1:6 w lp dt 2 t 'nft-port-mapper DEL', '' u 1:7 w lp dt 2 t 'portmap DEL'
set output '{out}/data-plane.png'
set title 'New TCP connections per second through one mapping'
set ylabel 'connections/s'; unset logscale y; set yrange [0:*]
plot '{out}/data.dat' u 1:2 w lp t 'nft-port-mapper (maps)', '' u 1:3 w lp t 'rule per mapping', '' u 1:4 w l dt 3 t 'no NAT'
"""
    sh("gnuplot", input=script)
    for f in ("control.dat", "data.dat"):
        os.unlink(os.path.join(out, f))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default="docs/benchmarks")
    ap.add_argument("--quick", action="store_true", help="small sizes, few iterations: checks the code runs")
    ap.add_argument("--records-only", action="store_true",
                    help="only the attachment-records figures (printed; no report written)")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    if a.quick:
        sizes, iters, peer_iters, peer_max, dp_sizes, secs, procs, cycles = [0, 100], 5, 3, 100, [1, 100], 0.5, 8, 3
        dp_rounds = 1
        restore_sizes, restore_reps, del_sizes = [2000], 2, [0, 2000]
    else:
        sizes, iters, peer_iters, peer_max, dp_sizes, secs, procs, cycles = \
            [0, 1000, 10000, 50000], 60, 5, 50000, [1, 10000, 50000], 3, 32, 20
        dp_rounds = 5
        restore_sizes, restore_reps, del_sizes = [10000, 100000], 5, [0, 50000]
    res = {"machine": machine(), "data_plane_seconds": secs}
    if a.records_only:
        with Topology():
            enter_node()
            records_bench(Runner(a.build, None), restore_sizes, restore_reps, del_sizes, iters)
        return
    with Topology():
        print("data plane", flush=True)
        res["data_plane"] = data_plane(a.build, dp_sizes, secs, dp_rounds)
        pid = os.fork()
        if pid == 0:  # the control-plane part runs inside the node namespace
            try:
                enter_node()
                r = Runner(a.build, None)
                print("control plane", flush=True)
                out = {"control_plane": control_plane(r, sizes, iters, peer_iters, peer_max)}
                print("memory", flush=True)
                out["rss"] = peak_rss(r)
                print("concurrency", flush=True)
                sh("nft", "delete", "table", "inet", TABLE)
                r.call("ours", "ADD", "seed", SEED_PORT, "10.199.0.1")
                out["concurrency"] = concurrency(r, procs, cycles)
                print(f"  {out['concurrency']}", flush=True)
                print("records", flush=True)
                out["records"] = records_bench(r, restore_sizes, restore_reps, del_sizes, iters)
                with open(f"/tmp/pmbench-{PID}.json", "w") as f:
                    json.dump(out, f)
                os._exit(0)
            except Exception as e:  # noqa: BLE001
                print(f"bench: {e}", file=sys.stderr, flush=True)
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            sys.exit("bench: the control-plane part failed")
        with open(f"/tmp/pmbench-{PID}.json") as f:
            res.update(json.load(f))
        os.unlink(f"/tmp/pmbench-{PID}.json")
    write_report(a.out, res, a.quick)
    plot(a.out, res)
    write_report(a.out, res, a.quick)  # again, now that the charts exist
    print(f"written to {a.out}/README.md")


if __name__ == "__main__":
    main()
