#!/usr/bin/env python3
"""Benchmarks of nft-port-mapper (issue #12's list), each beside a floor or a peer measured in the
same run, in network namespaces made for the run. Run through scripts/bench, which installs and
builds first; writes docs/benchmarks/README.md, results.json and PNG charts (gnuplot).

  1 control plane  one node per size, each filled through the plugin itself (containers of 1,000
                   mappings; TCP and UDP, unbound and bound to extra node addresses) to 0, 10,000,
                   50,000 and 100,000 mappings before any loop runs; on each node 101 rounds of
                   {ADD one container with one port; DEL it}, each a whole process in the node
                   namespace, timed alternately, for the default config and for "deferClose":
                   false; the floor probe (one batch of one element) does its own alternating loop
                   on each node; the loops of all sizes take turns, so the machine's drift falls
                   on every size alike; the reference portmap plugin (chained the same way,
                   iptables) at size 0 only
  2 big container  ADD/DEL of one container with 1,000 mappings (half TCP, half UDP), alternating
                   with a one-port ADD/DEL, at each size
  2b the watcher   the README asks operators to run `nft-port-mapper watch`, which listens to every
                   nf_tables notification: with a watcher on every node, the floor and the default
                   config in their alternating loops (side by side, as in 1), then the big
                   container, and each watcher's own CPU time
  3 concurrency    64 callers for 60 s, each looping ADD/DEL of its own container (whole
                   processes): calls/s, p50/p99 per verb, errors, leftovers; ours and portmap
  4 data plane     new TCP connections/s to a mapped port with 1 and with 100,000 mappings, ours
                   and a rule-per-mapping table (median of interleaved rounds)
  5 memory         peak RSS of one ADD and one DEL

The attachment records live in a stateDir on tmpfs (/dev/shm/pmbench-<pid>-*, as the default
/run/cni/nft-port-mapper is on a real node). The targets are printed as pass/miss for information:
the exit status does not depend on them.

  --records-only   restore of recorded mappings after a flush and DEL with/without record (printed)
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

CLONE_NEWNET = 0x40000000
PID = os.getpid()
NODE, REMOTE, CTR = f"pmb{PID}-node", f"pmb{PID}-remote", f"pmb{PID}-ctr"
NODE_IP, REMOTE_IP, CTR_IP = "10.211.0.1", "10.211.0.2", "10.212.0.2"
# Extra node addresses: mappings bound to them (hostIP) let one node hold 100,000 mappings.
HOST_IPS = [f"10.211.1.{i}" for i in range(1, 5)]
TABLE = "nft_port_mapper"
NET = "bench"
CHAIN = "cni-bench"
# Host ports, laid out so that no two uses can meet: unbound fillers 1024..26023 (tcp and udp),
# bound fillers 27000..33249 (tcp and udp, per extra address), concurrency 52000..52063, the
# data-plane target 56000, the big container 57000..57499 (tcp and udp), its one-port partner
# 59000, seed 59999, RSS 59998, probes 60000+.
FILLER_PORT0, CONC_PORT0, TARGET_PORT, BIG_PORT0, ONE_PORT = 1024, 52000, 56000, 57000, 59000
SEED_PORT, RSS_PORT, PROBE_PORT0 = 59999, 59998, 60000
MAX_FILL = 100000
# The plugin's attachment records: private to the run, on tmpfs (/dev/shm) as /run is on a node.
STATE_DIR = f"/dev/shm/pmbench-{PID}-state"
DP_STATE_DIR = f"/dev/shm/pmbench-{PID}-dp"
# What the plugin keeps on the machine per namespace (default-stateDir records, the socket keeper's
# file): removed for each namespace of the run before it is deleted.
DROP_NAMESPACE_STATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tools",
                                    "drop_default_records.py")
PEER = "/usr/lib/cni/portmap"
ENV = {"CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni",
       "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
VARIANTS = [("ours", {}), ("ours_nodefer", {"deferClose": False})]
LABEL = {"ours": "nft-port-mapper", "ours_nodefer": 'nft-port-mapper, "deferClose": false',
         "floor": "floor probe", "peer": "portmap (reference)"}


def sh(*cmd, check=True, quiet=True, input=None):
    return subprocess.run(cmd, check=check, input=input, text=True,
                          stdout=subprocess.PIPE if quiet else None, stderr=subprocess.PIPE if quiet else None)


def in_ns(ns, *cmd, **kw):
    return sh("ip", "netns", "exec", ns, *cmd, **kw)


def node_names(i):
    """The namespaces (node, remote, container) of node i; node 0's are NODE, REMOTE and CTR."""
    return (NODE, REMOTE, CTR) if i == 0 else (f"{NODE}{i}", f"{REMOTE}{i}", f"{CTR}{i}")


class Topology:
    """REMOTE --veth-- NODE --veth-- CTR, routed, for each of `nodes` nodes, all alike (node i's
    namespaces are named by node_names(i)); everything removed on exit."""

    def __init__(self, nodes=1):
        self.nodes = nodes

    def __enter__(self):
        self.made = []
        try:
            for i in range(self.nodes):
                self.make_node(*node_names(i))
        except BaseException:
            self.__exit__()
            raise
        return self

    def make_node(self, node, remote, ctr):
        for ns in (node, remote, ctr):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        self.link(node, "uplink", NODE_IP + "/24", remote, "eth0", REMOTE_IP + "/24", "r")
        self.link(node, "toctr", "10.212.0.1/24", ctr, "eth0", CTR_IP + "/24", "c")
        for a in HOST_IPS:
            sh("ip", "-n", node, "addr", "add", a + "/32", "dev", "uplink")
        sh("ip", "-n", remote, "route", "add", "default", "via", NODE_IP)
        sh("ip", "-n", ctr, "route", "add", "default", "via", "10.212.0.1")
        # The control plane's containers (fillers 10.180/14, probes, big, seed, RSS and
        # concurrency 10.196/14) are routed as a bridge routes them on a node, so each ADD
        # does what it does there for the localhost path: finds the route to the container
        # and sets route_localnet on that interface (of the node namespace).
        for net in ("10.180.0.0/14", "10.196.0.0/14"):
            sh("ip", "-n", node, "route", "add", net, "dev", "toctr")
        in_ns(node, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    @staticmethod
    def link(a, a_if, a_ip, b, b_if, b_ip, tag):
        # Made inside the namespaces: nothing is created in the machine's own, even for a moment.
        sh("ip", "-n", a, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b)
        sh("ip", "-n", a, "addr", "add", a_ip, "dev", a_if)
        sh("ip", "-n", b, "addr", "add", b_ip, "dev", b_if)
        sh("ip", "-n", a, "link", "set", a_if, "up")
        sh("ip", "-n", b, "link", "set", b_if, "up")

    def __exit__(self, *exc):
        for d in (STATE_DIR, DP_STATE_DIR):
            shutil.rmtree(d, ignore_errors=True)
        if os.path.exists(f"/dev/shm/pmbench-{PID}.json"):
            os.unlink(f"/dev/shm/pmbench-{PID}.json")
        for ns in self.made:
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                if int(pid) == os.getpid():  # --records-only runs in the node namespace itself
                    continue
                try:
                    os.kill(int(pid), 9)
                except OSError:
                    pass
        for ns in self.made:  # the records and socket keeper file of each namespace, then it
            sh("ip", "netns", "exec", ns, sys.executable, DROP_NAMESPACE_STATE, check=False)
            sh("ip", "netns", "del", ns, check=False)


def enter_node(i=0):
    """This process (and so every plugin it starts) lives in node i's namespace from now on."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/var/run/netns/{node_names(i)[0]}") as f:
        if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")


# --- configs and calls ----------------------------------------------------------------------------

def one_port(port, proto="tcp"):
    return [{"hostPort": port, "containerPort": 80, "protocol": proto}]


def ours_conf(mappings, ip, extra=None, state_dir=STATE_DIR):
    """Chained mode, default config (snat on, deferClose default) unless extra says otherwise."""
    c = {"cniVersion": "1.0.0", "name": NET, "type": "nft-port-mapper", "snat": True, "stateDir": state_dir,
         "runtimeConfig": {"portMappings": mappings},
         "prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/x"}],
                        "ips": [{"address": ip + "/16", "interface": 0}]}}
    c.update(extra or {})
    return json.dumps(c)


def peer_conf(mappings, ip):
    return json.dumps({"cniVersion": "0.4.0", "name": NET, "type": "portmap", "snat": True,
                       "runtimeConfig": {"portMappings": mappings},
                       "prevResult": {"cniVersion": "0.4.0", "interfaces": [{"name": "eth0", "sandbox": "/x"}],
                                      "ips": [{"version": "4", "address": ip + "/16", "interface": 0}]}})


class Bench:
    def __init__(self, build):
        self.build = build
        self.plugin = os.path.join(build, "nft-port-mapper")
        self.probe = os.path.join(build, "nftpm-floor-probe")
        self.seq = 0

    def conf(self, kind, mappings, ip, state_dir=STATE_DIR):
        if kind == "peer":
            return peer_conf(mappings, ip)
        return ours_conf(mappings, ip, dict(VARIANTS)[kind], state_dir)

    def call(self, kind, verb, cid, mappings, ip, prefix=(), state_dir=STATE_DIR):
        """One whole-process call; returns its wall time in ms (raises on failure). The floor
        probe's batch has as many elements as there are mappings, from the first's host port on."""
        if kind == "floor":
            cmd, stdin, env = [self.probe, "add" if verb == "ADD" else "del", str(mappings[0]["hostPort"]),
                               str(len(mappings))], "", {}
        else:
            cmd = [*prefix, PEER if kind == "peer" else self.plugin]
            stdin = self.conf(kind, mappings, ip, state_dir)
            env = dict(ENV, CNI_COMMAND=verb, CNI_CONTAINERID=cid)
        t = time.perf_counter()
        p = subprocess.run(cmd, input=stdin, text=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        took = (time.perf_counter() - t) * 1000
        if p.returncode != 0:
            raise RuntimeError(f"{kind} {verb} {cid} failed: {p.stdout.strip()[:300]} {p.stderr.strip()[:300]}")
        return took

    def next_probe(self):
        self.seq += 1
        s = self.seq
        return f"p{s}", PROBE_PORT0 + s % 5000, f"10.198.{(s // 250) % 250}.{s % 250 + 1}"


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def stats(v):
    return {"p50": statistics.median(v), "p99": pct(v, 99), "max": max(v), "n": len(v)}


# --- filling a node through the plugin ----------------------------------------------------------

def filler_mapping(g):
    """Mapping g of a filled node: 50,000 unbound (TCP then UDP), then 50,000 bound to the four
    extra node addresses (12,500 each, TCP then UDP)."""
    if g < 50000:
        return {"hostPort": FILLER_PORT0 + g % 25000, "containerPort": 80, "protocol": "tcp" if g < 25000 else "udp"}
    h = g - 50000
    k = h % 12500
    return {"hostPort": 27000 + k % 6250, "containerPort": 80, "protocol": "tcp" if k < 6250 else "udp",
            "hostIP": HOST_IPS[h // 12500]}


def filler_ip(c):
    return f"10.180.{c // 250}.{c % 250 + 1}"


def fill(b, have, upto, prefix=(), state_dir=STATE_DIR, per_container=1000):
    """Containers of 1,000 mappings, each ADDed by the plugin (default config), with records."""
    assert upto <= MAX_FILL
    for g0 in range(have, upto, per_container):
        n = min(per_container, upto - g0)
        c = g0 // per_container
        b.call("ours", "ADD", f"fill{c}", [filler_mapping(g) for g in range(g0, g0 + n)], filler_ip(c),
               prefix=prefix, state_dir=state_dir)
    return upto


def make_floor_table():
    sh("nft", "add", "table", "inet", "nftpm_floor")
    sh("nft", "add", "map", "inet", "nftpm_floor", "floor",
       "{ type inet_proto . inet_service : ipv4_addr . inet_service; }")


# --- 1, 2, 5: control plane at each size ---------------------------------------------------------

PAUSE_S = 0.15  # between the blocks of alternating loops (alt_loops_on)


def alt_loop(b, kind, rounds):
    return alt_loops(b, [kind], rounds, 1)[kind]


def alt_loops(b, kinds, rounds, blocks):
    """alt_loops_on(), on the node this process is in."""
    return alt_loops_on(b, [None], kinds, rounds, blocks)[None]


def alt_loops_on(b, nodes, kinds, rounds, blocks):
    """rounds of {ADD one container with one port; DEL it} for each kind on each node (enter_node()
    index; None: the node this process is in): each (node, kind) its own loop, the loops taking
    turns in blocks (about rounds / blocks rounds each), so a noisy phase of the machine falls on
    every kind and every node alike; a pause before each block lets the last block's kernel clean-up
    (an RCU grace period, 10-20 ms) finish. The pauses stay short enough that a node's socket keeper,
    which exits after 5 s without calls, lives from one of its blocks to the next (4 nodes, 3 kinds:
    about 3 s apart), as under churn. Also, per node, the whole machine's CPU use while its loops ran
    (cpu_busy)."""
    t = {n: {k: {"add": [], "del": []} for k in kinds} for n in nodes}
    busy = {n: [0, 0] for n in nodes}
    chunks = [rounds // blocks + (1 if i < rounds % blocks else 0) for i in range(blocks)]
    for chunk in chunks:
        for node in nodes:
            if node is not None:
                enter_node(node)
            for kind in kinds:
                if len(kinds) > 1 or len(nodes) > 1:
                    time.sleep(PAUSE_S)
                c0 = cpu_times()
                for _ in range(chunk):
                    cid, port, ip = b.next_probe()
                    t[node][kind]["add"].append(b.call(kind, "ADD", cid, one_port(port), ip))
                    t[node][kind]["del"].append(b.call(kind, "DEL", cid, one_port(port), ip))
                c1 = cpu_times()
                busy[node][0] += c1[0] - c0[0]
                busy[node][1] += c1[1] - c0[1]
    return {n: {**{k: {"add": stats(v["add"]), "del": stats(v["del"])} for k, v in t[n].items()},
                "cpu_busy": busy[n][0] / max(1, busy[n][1])} for n in nodes}


def big_mappings(n):
    """The big container's n mappings: half TCP, half UDP, from BIG_PORT0 on."""
    return [{"hostPort": BIG_PORT0 + i // 2, "containerPort": 80, "protocol": "tcp" if i % 2 == 0 else "udp"}
            for i in range(n)]


def big_beside_one_port(b, big, rounds, t, prefix="", udp=True):
    """rounds of {ADD the container with mappings `big`; DEL it; ADD a one-port (TCP) container;
    DEL it; the same with one UDP port unless not udp}, each call's time appended to t["big_add"],
    t["big_del"], t["one_add"] and so on; prefix keeps the containers' IDs apart."""
    containers = [("big", big, "10.196.0.1"), ("one", one_port(ONE_PORT), "10.196.1.1")]
    if udp:
        containers.append(("udp", one_port(ONE_PORT, "udp"), "10.196.1.2"))
    for k in range(rounds):
        for name, mappings, ip in containers:
            for verb in ("ADD", "DEL"):
                t.setdefault(f"{name}_{verb.lower()}", []).append(
                    b.call("ours", verb, f"{prefix}{name}{k}", mappings, ip))


def big_container(b, n, rounds):
    """ADD/DEL of one container with n mappings (half TCP, half UDP), alternating with a one-port
    container (TCP, then UDP: a UDP mapping's ADD and DEL sweep conntrack), and beside them the
    kernel's floor for n elements: the floor probe adding, then deleting, n map elements in one
    batch (owner comments as long as ours)."""
    t = {}
    big_beside_one_port(b, big_mappings(n), rounds, t)
    time.sleep(0.3)  # the floor's own loop, as the one-element floor's (alt_loops)
    floor = [{"hostPort": BIG_PORT0 + i, "containerPort": 80} for i in range(n)]
    for k in range(rounds):
        for verb in ("ADD", "DEL"):
            t.setdefault(f"floor_{verb.lower()}", []).append(b.call("floor", verb, None, floor, None))
    return {"mappings": n, **{k: stats(v) for k, v in t.items()}}


class Watcher:
    """`nft-port-mapper watch` on the run's records, in the node namespace, for a with-block: it
    starts, does its first restore (nothing to do), and is idle before the block runs; cpu_ms() is
    its CPU time since then."""

    def __init__(self, b):
        self.b = b

    def _cpu(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        self.p = subprocess.Popen([self.b.plugin, "watch", "--state-dir", STATE_DIR], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        last, still = None, 0
        for _ in range(600):  # idle: its CPU time unchanged for 0.3 s (a first restore at 100,000 takes ~2 s)
            time.sleep(0.1)
            if self.p.poll() is not None:
                raise RuntimeError(f"watch exited: {self.p.stderr.read().decode()[:300]}")
            now = self._cpu()
            still = still + 1 if now == last else 0
            last = now
            if still >= 3:
                break
        self.cpu0 = last
        return self

    def cpu_ms(self):
        return self._cpu() - self.cpu0

    def __exit__(self, *exc):
        if getattr(self, "p", None) is None:  # never started
            return
        self.p.terminate()
        self.p.wait()
        self.p.stderr.close()


def watched(b, p, nodes):
    """With a watcher running on each node: the floor and the default config in their alternating
    loops, side by side on every node (alt_loops_on), then on each node in turn the big container
    and a one-port container (TCP); and each watcher's CPU per call. Returns {node: results}."""
    out = {}
    watchers = []
    try:
        for node in nodes:
            enter_node(node)
            watchers.append(Watcher(b))
            watchers[-1].__enter__()
        loops = alt_loops_on(b, nodes, ["floor", "ours"], p["rounds"], p["blocks"])
        for node, w in zip(nodes, watchers):
            out[node] = {k: loops[node][k] for k in ("floor", "ours")}
            out[node]["watcher_cpu_ms_per_call"] = w.cpu_ms() / (4 * p["rounds"])
    finally:
        for w in watchers:
            w.__exit__()
    big = big_mappings(p["big_n"])
    for node in nodes:
        enter_node(node)
        t = {}
        time.sleep(0.3)
        with Watcher(b) as w:
            big_beside_one_port(b, big, p["big_rounds"], t, prefix="w", udp=False)
            # (the one-port calls' share is tiny)
            out[node]["watcher_cpu_ms_per_big_call"] = w.cpu_ms() / (2 * p["big_rounds"])
        out[node]["big"] = {k: stats(v) for k, v in t.items()}
    return out


def track_a_flow():
    """A node always tracks flows, and a UDP mapping's ADD and DEL sweep conntrack only where there
    are some (a walk of the kernel's whole conntrack hash): one long-lived UDP entry, made in the
    node namespace with conntrack(8), puts the node in that state for the whole run."""
    sh("conntrack", "-I", "-p", "udp", "-s", REMOTE_IP, "-d", NODE_IP, "--sport", "40000", "--dport", "9",
       "-r", NODE_IP, "-q", REMOTE_IP, "--reply-port-src", "9", "--reply-port-dst", "40000", "-t", "3600")
    n = sh("conntrack", "-C").stdout.strip()
    if not n.isdigit() or int(n) < 1:
        raise RuntimeError(f"conntrack -C in the node says {n!r} after inserting a flow")
    return int(n)


def peak_rss(b, kinds):
    """Peak RSS (MB) of one ADD and one DEL, measured by a tiny forking parent (nftpm-peakrss)."""
    tool = os.path.join(b.build, "nftpm-peakrss")

    def measure(cmd, stdin="", env=None):
        p = subprocess.run([tool, *cmd], input=stdin, text=True, env=env or {}, capture_output=True)
        for line in p.stderr.splitlines():
            if line.startswith("peak_rss_kib "):
                if p.returncode != 0:
                    raise RuntimeError(f"peakrss {cmd}: {p.stdout.strip()[:300]}")
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"peakrss: {p.stderr.strip()}")

    out = {"baseline_mb": measure(["/bin/true"])}
    for kind in kinds:
        for verb in ("ADD", "DEL"):
            env = dict(ENV, CNI_COMMAND=verb, CNI_CONTAINERID="rss")
            out[f"{kind}_{verb.lower()}_mb"] = measure([PEER if kind == "peer" else b.plugin],
                                                       b.conf(kind, one_port(RSS_PORT), "10.199.0.2"), env)
    return out


def cpu_times():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v) - v[3] - v[4], sum(v)


def line(size, name, r, floor=None):
    s = (f"  {size:>7,}  {name:13} ADD p50 {r['add']['p50']:7.2f} p99 {r['add']['p99']:7.2f} | "
         f"DEL p50 {r['del']['p50']:7.2f} p99 {r['del']['p99']:7.2f} ms")
    if floor:
        s += (f"  (ADD {r['add']['p50'] / floor['add']['p50']:.2f}x, DEL {r['del']['p50'] / floor['del']['p50']:.2f}x"
              " floor)")
    print(s, flush=True)


def control_plane(b, p):
    """Each size on a node of its own, every node filled before any loop runs, so that the loops
    of all sizes take turns (alt_loops_on) and the machine's drift over the run falls on every
    size alike: across sizes, the figures differ by what the size does, not by when they ran."""
    sizes = p["sizes"]
    nodes = list(range(len(sizes)))
    for node, size in zip(nodes, sizes):
        enter_node(node)
        make_floor_table()
        flows = track_a_flow()
        b.call("ours", "ADD", "seed", one_port(SEED_PORT), "10.199.0.1")  # the table and chains
        if size == 0:
            b.call("peer", "ADD", "seed", one_port(SEED_PORT), "10.199.0.1")  # portmap's chains
        t = time.perf_counter()
        fill(b, 0, size)
        print(f"  node {node}: {size:,} mappings, filled through the plugin in {time.perf_counter() - t:.1f} s; "
              f"it tracks {flows} flow(s) for the whole run", flush=True)
    kinds = ["floor"] + [name for name, _ in VARIANTS]
    loops = alt_loops_on(b, nodes, kinds, p["rounds"], p["blocks"])
    rows, out = [], {}
    for node, size in zip(nodes, sizes):
        enter_node(node)
        row = {"size": size, **loops[node]}
        # The whole machine's CPU use while this size's loops ran (theirs included): on a shared
        # machine, a figure near 100 % means other work competed with them (every call is slower).
        print(f"  {size:>7,}  machine CPU busy during these loops: {row['cpu_busy'] * 100:.0f} %", flush=True)
        line(size, "floor", row["floor"])
        for name, _ in VARIANTS:
            line(size, name, row[name], row["floor"])
        if size == 0:
            time.sleep(0.5)
            row["peer"] = alt_loop(b, "peer", p["peer_rounds"])
            line(size, "peer", row["peer"], row["floor"])
        row["big"] = big_container(b, p["big_n"], p["big_rounds"])
        bg = row["big"]
        print(f"  {size:>7,}  {p['big_n']} mappings: ADD p50 {bg['big_add']['p50']:.2f} DEL p50 {bg['big_del']['p50']:.2f}"
              f" ms; one port: ADD {bg['one_add']['p50']:.2f} DEL {bg['one_del']['p50']:.2f} ms; one UDP port: ADD "
              f"{bg['udp_add']['p50']:.2f} DEL {bg['udp_del']['p50']:.2f} ms; floor of {p['big_n']} elements: ADD "
              f"{bg['floor_add']['p50']:.2f} DEL {bg['floor_del']['p50']:.2f} ms (n={p['big_rounds']})", flush=True)
        row["rss"] = peak_rss(b, ["ours"] + (["peer"] if size == 0 else []))
        print(f"  {size:>7,}  peak RSS {row['rss']}", flush=True)
        rows.append(row)
        if size == 0:
            out["concurrency"] = {}
            for kind in ("ours", "peer"):
                print(f"  concurrency: {kind}, {p['callers']} callers, {p['conc_seconds'][kind]} s", flush=True)
                out["concurrency"][kind] = concurrency(b, kind, p["callers"], p["conc_seconds"][kind])
                c = out["concurrency"][kind]
                print(f"    {c['calls']} calls, {c['calls_per_s']:.1f} calls/s, ADD p50/p99 {c['add']['p50']:.1f}/"
                      f"{c['add']['p99']:.1f} ms, DEL p50/p99 {c['del']['p50']:.1f}/{c['del']['p99']:.1f} ms, "
                      f"{c['errors']} errors, {c['leftovers']} left over", flush=True)
    print("  with the watcher running", flush=True)
    watch = watched(b, p, nodes)
    for node, row in zip(nodes, rows):
        row["watch"] = wt = watch[node]
        print(f"  {row['size']:>7,}  with the watcher: floor ADD/DEL p50 {wt['floor']['add']['p50']:.2f}/"
              f"{wt['floor']['del']['p50']:.2f}, ours ADD p50/p99 {fmt_pair(wt['ours']['add'])}, DEL p50/p99 "
              f"{fmt_pair(wt['ours']['del'])} ms; {p['big_n']} mappings ADD/DEL p50 {wt['big']['big_add']['p50']:.2f}/"
              f"{wt['big']['big_del']['p50']:.2f} ms; the watcher's CPU {wt['watcher_cpu_ms_per_call']:.2f} ms per "
              f"one-port call, {wt['watcher_cpu_ms_per_big_call']:.2f} ms per {p['big_n']}-mapping call", flush=True)
    # Every filler is still there: the table holds what it should.
    out["control_plane"] = rows
    return out


# --- 3: concurrency ----------------------------------------------------------------------------

def concurrency(b, kind, callers, seconds):
    """callers threads, each looping ADD/DEL of its own container (whole processes) until the time
    is up; a cycle under way is finished (its DEL done), so a correct plugin leaves nothing."""
    times = {"ADD": [], "DEL": []}
    errors, lock = [], threading.Lock()
    t0 = time.perf_counter()
    deadline = t0 + seconds

    def worker(w):
        c = 0
        while time.perf_counter() < deadline:
            cid, port, ip = f"conc{w}-{c}", CONC_PORT0 + w, f"10.197.{w}.{c % 250 + 1}"
            for verb in ("ADD", "DEL"):
                try:
                    took = b.call(kind, verb, cid, one_port(port), ip)
                    with lock:
                        times[verb].append(took)
                except RuntimeError as e:
                    with lock:
                        errors.append(str(e))
            c += 1

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(callers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.perf_counter() - t0
    if kind == "peer":
        left = sum(1 for ln in sh("iptables-save", "-t", "nat").stdout.splitlines() if "conc" in ln)
        left_records = 0
    else:
        left = sh("nft", "list", "table", "inet", TABLE).stdout.count("id=conc")
        left_records = sum(1 for _, _, fs in os.walk(STATE_DIR) for f in fs if f.startswith("conc"))
    calls = len(times["ADD"]) + len(times["DEL"])
    return {"callers": callers, "seconds": seconds, "wall_s": took, "calls": calls + len(errors),
            "calls_per_s": (calls + len(errors)) / took,
            "add": stats(times["ADD"] or [float("nan")]), "del": stats(times["DEL"] or [float("nan")]),
            "errors": len(errors), "first_errors": errors[:3], "leftovers": left + left_records,
            "leftover_rules_or_elements": left, "leftover_records": left_records}


# --- 4: data plane -----------------------------------------------------------------------------

def data_plane(b, sizes, seconds, rounds):
    """Connection rate through one mapping: our table, a rule-per-mapping table, no NAT.

    Each round loads every table in turn and measures it (in the opposite order every other
    round), so a machine that speeds up or slows down moves every figure alike; each figure is the
    median of its rounds."""
    connrate = os.path.join(b.build, "nftpm-connrate")
    server = subprocess.Popen(["ip", "netns", "exec", CTR, connrate, "serve", "80"])
    time.sleep(0.3)
    node = ("ip", "netns", "exec", NODE)

    def rate(addr, port):
        # The previous figure's connections (RST, 10 s in CLOSE) would fill the node's conntrack
        # table; each figure starts from an empty one (the node namespace's own table only).
        in_ns(NODE, "conntrack", "-F", check=False)
        p = in_ns(REMOTE, connrate, "connect", addr, str(port), str(seconds))
        return float(p.stdout.split()[0])

    def load_ours(size):  # (size - 1) others, through the plugin, then the mapping under test
        in_ns(NODE, "nft", "flush", "ruleset")
        in_ns(NODE, "conntrack", "-F", check=False)  # a plugin call walks it: loading stays quick
        shutil.rmtree(DP_STATE_DIR, ignore_errors=True)
        fill(b, 0, size - 1, prefix=node, state_dir=DP_STATE_DIR)
        b.call("ours", "ADD", "target", one_port(TARGET_PORT), CTR_IP, prefix=node, state_dir=DP_STATE_DIR)

    def load_rule_per_mapping(size):  # the same mappings, one rule each, newest last
        in_ns(NODE, "nft", "flush", "ruleset")
        text = ["table ip rpm {\n chain pre { type nat hook prerouting priority -100; }\n}\n"]
        for g in range(size - 1):
            m = filler_mapping(g)
            daddr = f"ip daddr {m['hostIP']} " if "hostIP" in m else ""
            text.append(f"add rule ip rpm pre {daddr}{m['protocol']} dport {m['hostPort']} "
                        f"dnat to {filler_ip(g // 1000)}:80\n")
        text.append(f"add rule ip rpm pre tcp dport {TARGET_PORT} dnat to {CTR_IP}:80\n")
        in_ns(NODE, "nft", "-f", "-", input="".join(text))

    samples = {"no_nat": [], "ours": {s: [] for s in sizes}, "rule_per_mapping": {s: [] for s in sizes}}
    try:
        for rnd in range(rounds):
            in_ns(NODE, "nft", "flush", "ruleset")
            samples["no_nat"].append(rate(CTR_IP, 80))
            order = sizes if rnd % 2 == 0 else sizes[::-1]
            for size in order:
                load_ours(size)
                samples["ours"][size].append(rate(NODE_IP, TARGET_PORT))
            for size in order[::-1]:
                load_rule_per_mapping(size)
                samples["rule_per_mapping"][size].append(rate(NODE_IP, TARGET_PORT))
            print(f"  round {rnd + 1}/{rounds}: no NAT {samples['no_nat'][-1]:.0f}; " +
                  "; ".join(f"{s:,}: ours {samples['ours'][s][-1]:.0f}, rule per mapping "
                            f"{samples['rule_per_mapping'][s][-1]:.0f}" for s in sizes), flush=True)
    finally:
        in_ns(NODE, "nft", "flush", "ruleset", check=False)
        shutil.rmtree(DP_STATE_DIR, ignore_errors=True)
        server.kill()
        server.wait()
    med = statistics.median
    return {"rounds": rounds, "seconds": seconds, "samples": samples, "no_nat": med(samples["no_nat"]),
            "ours": {s: med(v) for s, v in samples["ours"].items()},
            "rule_per_mapping": {s: med(v) for s, v in samples["rule_per_mapping"].items()}}


# --- records (--records-only) ------------------------------------------------------------------

def records_bench(b, restore_sizes, restore_reps, del_sizes, del_iters):
    """Restore after the table is deleted (a flush), and DEL with its mappings, with the record
    only, and with neither (a scan). Filled with unbound mappings only (TCP then UDP)."""
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    sh("nft", "delete", "table", "inet", TABLE, check=False)
    if sh("nft", "list", "table", "inet", "nftpm_floor", check=False).returncode != 0:
        make_floor_table()
    out = {"restore": [], "del": []}

    def env(verb, cid):
        return dict(ENV, CNI_COMMAND=verb, CNI_CONTAINERID=cid)

    def raw(verb, cid, conf):
        t = time.perf_counter()
        p = subprocess.run([b.plugin], input=conf, text=True, env=env(verb, cid), capture_output=True)
        took = (time.perf_counter() - t) * 1000
        if p.returncode != 0:
            raise RuntimeError(f"{verb} {cid} failed: {p.stdout.strip()} {p.stderr.strip()[:300]}")
        return took

    def conf(m, ip, with_mappings=True):
        c = json.loads(ours_conf(m, ip))
        if not with_mappings:
            del c["runtimeConfig"]
        return json.dumps(c)

    def fill_recorded(upto, have):
        for g0 in range(have, upto, 1000):
            n = min(1000, upto - g0)
            ms = [{"hostPort": FILLER_PORT0 + (g % 50000), "containerPort": 80,
                   "protocol": "tcp" if g < 50000 else "udp"} for g in range(g0, g0 + n)]
            raw("ADD", f"rec{g0 // 1000}", conf(ms, filler_ip(g0 // 1000)))
        return upto

    def floor_add(n):
        return alt_loop(b, "floor", n)["add"]["p50"]

    def del_row(size):
        row = {"size": size}
        for mode in ("with_mappings", "record_only", "scan"):
            times = []
            for _ in range(del_iters):
                cid, port, ip = b.next_probe()
                m = one_port(port)
                raw("ADD", cid, conf(m, ip))
                if mode == "scan":  # as a container added by a version that kept no records
                    for root, _, files in os.walk(STATE_DIR):
                        for f in files:
                            if f.startswith(cid + ":"):
                                os.unlink(os.path.join(root, f))
                times.append(raw("DEL", cid, conf(m, ip, mode == "with_mappings")))
            row[mode] = statistics.median(times)
        row["floor_del"] = alt_loop(b, "floor", del_iters)["del"]["p50"]
        print(f"  DEL at {size:>7,} recorded mappings: with its mappings {row['with_mappings']:.2f} ms, record only "
              f"{row['record_only']:.2f} ms, scan {row['scan']:.2f} ms (floor DEL {row['floor_del']:.2f} ms)",
              flush=True)
        return row

    filled = 0
    for size in sorted(set(restore_sizes) | set(del_sizes)):
        filled = fill_recorded(size, filled)
        if size in del_sizes:
            out["del"].append(del_row(size))
        if size in restore_sizes:
            times = []
            for _ in range(restore_reps):
                sh("nft", "delete", "table", "inet", TABLE)
                t = time.perf_counter()
                p = sh(b.plugin, "restore", "--state-dir", STATE_DIR, check=False)
                times.append((time.perf_counter() - t) * 1000)
                if p.returncode != 0 or f"({2 * size + size // 1000}" not in p.stdout.replace(",", ""):
                    raise RuntimeError(f"restore of {size} failed or incomplete: {p.stdout[-300:]} {p.stderr[-300:]}")
            row = {"size": size, "restore_ms": statistics.median(times), "reps": restore_reps,
                   "floor_add_ms": floor_add(5)}
            print(f"  restore of {size:>7,} recorded mappings: {row['restore_ms']:.1f} ms (floor batch "
                  f"{row['floor_add_ms']:.2f} ms)", flush=True)
            out["restore"].append(row)
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    return out


# --- targets, report, charts -------------------------------------------------------------------

def loop_targets(rows, cp, tag, ours, floor):
    """The alternating loop's targets, for the loop ours(row) beside the floor's floor(row)."""
    def worst(f):
        return max((f(r), r["size"]) for r in cp)

    v, s = worst(lambda r: ours(r)["add"]["p50"] / floor(r)["add"]["p50"])
    rows.append((f"ADD p50 ÷ floor ADD p50{tag}, worst size ({s:,})", f"{v:.2f}×", "≤ 1.2", v <= 1.2))
    v, s = worst(lambda r: ours(r)["del"]["p50"] / floor(r)["del"]["p50"])
    rows.append((f"DEL p50 ÷ floor DEL p50{tag}, worst size ({s:,})", f"{v:.2f}×", "≤ 0.3", v <= 0.3))
    v, s = worst(lambda r: ours(r)["add"]["p99"] / floor(r)["add"]["p50"])
    rows.append((f"ADD p99 ÷ floor ADD p50{tag}, worst size ({s:,})", f"{v:.2f}×", "≤ 3", v <= 3))
    def flatness(verb):
        a = [ours(r)[verb]["p50"] for r in cp]
        v = max(a) / min(a)
        rows.append((f"{verb.upper()} p50 flatness{tag}, max ÷ min over {len(cp)} sizes", f"{v:.2f}×", "≤ 1.1",
                     v <= 1.1))

    flatness("add")
    # The loops of all sizes take turns (alt_loops_on), so the machine's drift falls on every size
    # alike; the ratio to the floor measured on the same node is shown too.
    a = [ours(r)["add"]["p50"] / floor(r)["add"]["p50"] for r in cp]
    f = [floor(r)["add"]["p50"] for r in cp]
    rows.append((f"(the same for ADD p50 ÷ floor ADD p50{tag}, the floor measured on the same node; "
                 f"the floor's own: {max(f) / min(f):.2f}×)", f"{max(a) / min(a):.2f}×", "–", None))
    flatness("del")


def big_targets(rows, cp, n, tag, big):
    """The big container beside the one-port container of the same loop, big(row)."""
    for verb in ("add", "del"):
        v, s = max((big(r)[f"big_{verb}"]["p50"] / big(r)[f"one_{verb}"]["p50"], r["size"]) for r in cp)
        rows.append((f"{n:,}-mapping {verb.upper()} ÷ one-port {verb.upper()} (p50){tag}, worst size ({s:,})",
                     f"{v:.2f}×", "≤ 3", v <= 3))


def targets(res):
    """(what, value, target text, passed) rows; informational only."""
    rows = []
    cp = res["control_plane"]
    for name, _ in VARIANTS:
        loop_targets(rows, cp, "" if name == "ours" else ' ("deferClose": false)', lambda r, name=name: r[name],
                     lambda r: r["floor"])
    n = cp[0]["big"]["mappings"]
    big_targets(rows, cp, n, "", lambda r: r["big"])
    # What the kernel alone allows: no design can add n mappings for less than n elements cost.
    v, s = max((r["big"]["floor_add"]["p50"] / r["big"]["one_add"]["p50"], r["size"]) for r in cp)
    rows.append((f"(the kernel's floor for {n:,} elements ÷ our one-port ADD, worst size ({s:,}): "
                 f"above 3 means the line above cannot pass)", f"{v:.2f}×", "–", None))
    # The container is half UDP, and a call with a UDP mapping sweeps conntrack once (a walk of the
    # kernel's whole conntrack hash): that walk alone, beside the TCP one-port call, and the
    # container beside a one-port call that pays the same single walk.
    if all("udp_add" in r["big"] for r in cp):
        v, s = min((r["big"]["udp_add"]["p50"] / r["big"]["one_add"]["p50"], r["size"]) for r in cp)
        rows.append((f"(one-UDP-port ADD ÷ one-port TCP ADD, best size ({s:,}): the conntrack sweep alone; above 3 "
                     f"means no container with a UDP mapping can pass the {n:,}-mapping lines)", f"{v:.2f}×", "–",
                     None))
        for verb in ("add", "del"):
            v, s = max((r["big"][f"big_{verb}"]["p50"] / r["big"][f"udp_{verb}"]["p50"], r["size"]) for r in cp)
            rows.append((f"({n:,}-mapping {verb.upper()} ÷ one-UDP-port {verb.upper()} (p50), worst size ({s:,}): "
                         "both pay one sweep)", f"{v:.2f}×", "–", None))
    if all("watch" in r for r in cp):
        tag = " (the watcher running)"
        loop_targets(rows, cp, tag, lambda r: r["watch"]["ours"], lambda r: r["watch"]["floor"])
        big_targets(rows, cp, n, tag, lambda r: r["watch"]["big"])
    c = res["concurrency"]["ours"]
    rows.append((f"concurrency: errors ({c['callers']} callers, {c['seconds']} s)", str(c["errors"]), "0",
                 c["errors"] == 0))
    rows.append(("concurrency: leftovers (table elements + records)", str(c["leftovers"]), "0", c["leftovers"] == 0))
    dp = res["data_plane"]
    lo, hi = min(dp["ours"]), max(dp["ours"])
    v = round_ratio(dp, hi, lo)
    rows.append((f"data plane: conn/s at {hi:,} ÷ at {lo:,} mapping, the median of the rounds' own ratios", f"{v:.3f}",
                 "≥ 0.99", v >= 0.99))
    rows.append(("(the same as the ratio of the two medians over rounds, which the rounds' swings move more)",
                 f"{dp['ours'][hi] / dp['ours'][lo]:.3f}", "–", None))
    v = max(max(r["rss"]["ours_add_mb"], r["rss"]["ours_del_mb"]) for r in cp)
    rows.append(("peak RSS of one call (ADD or DEL, worst size)", f"{v:.2f} MB", "≤ 4 MB", v <= 4))
    return rows


def round_ratio(dp, size, base):
    """The data plane's ours at size ÷ ours at base, as the median of each round's own ratio: a
    round measures both back to back, so the machine's swings from round to round (±15 % here)
    cancel out of it, as they do not out of the ratio of the two medians."""
    pairs = zip(dp["samples"]["ours"][size], dp["samples"]["ours"][base])
    return statistics.median(a / b for a, b in pairs)


def machine():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    pkg = lambda p: sh("dpkg-query", "-W", "-f=${Version}", p, check=False).stdout.strip()  # noqa: E731
    top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    git = lambda *a: subprocess.run(["git", "--no-optional-locks", "-C", top, *a], text=True,  # noqa: E731
                                    capture_output=True)
    commit = git("rev-parse", "--short", "HEAD").stdout.strip() or "unknown"
    if commit != "unknown" and git("diff", "--quiet", "HEAD", "--", "src", "include", "CMakeLists.txt").returncode:
        commit += " with uncommitted changes to src/, include/ or CMakeLists.txt"
    return {"commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "kernel": platform.release(), "cpus": os.cpu_count(), "cpu": cpu,
            "containernetworking-plugins": pkg("containernetworking-plugins"), "nftables": pkg("nftables"),
            "iptables": pkg("iptables"), "libnftnl": pkg("libnftnl11")}


def fmt_pair(s):
    return f"{s['p50']:.2f} / {s['p99']:.2f}"


def write_report(out, res, quick, charts):
    m, p = res["machine"], res["params"]
    cp = res["control_plane"]
    L = [f"# Benchmarks{' (quick run: small sizes, no conclusions)' if quick else ''}", "",
         f"Written on {m['date']} by:", "", "```", res["command"], "```", "",
         f"Sources: commit {m.get('commit', 'unknown')}. Linux {m['kernel']}, {m['cpus']} CPUs ({m['cpu']}), shared machine; containernetworking-plugins "
         f"{m['containernetworking-plugins']} (the reference plugin: `portmap`, its iptables backend), iptables "
         f"{m['iptables']}, nftables {m['nftables']}. Everything runs in network namespaces made for the run and "
         "removed after it; every ratio compares figures of the same run. The plugin's records are in a stateDir "
         "on tmpfs (`/dev/shm/pmbench-<pid>-state`), as the default `/run/cni/nft-port-mapper` is on a node. "
         f"Wall time of the run: {res['wall_s'] / 60:.1f} min.", "",
         "## Targets (informational; the script's exit status does not depend on them)", "",
         "| what | measured | target | |", "|---|---:|---:|---|"]
    for what, val, tgt, ok in res["targets"]:
        L.append(f"| {what} | {val} | {tgt} | {'' if ok is None else 'pass' if ok else '**miss**'} |")
    L += ["", "## 1. Control plane: one call, whole process, chained mode (ms, p50 / p99)", "",
          f"Each size is a node of its own (network namespaces made alike), filled through the plugin itself "
          f"(default config) with containers of 1,000 mappings before any loop runs: 50,000 unbound (TCP then UDP), "
          f"then 50,000 bound by `hostIP` to {len(HOST_IPS)} extra node addresses (TCP and UDP). On each node, "
          f"{p['rounds']} rounds of {{ADD one container with one TCP port; DEL it}}, each a whole process in the node "
          "namespace, timed alternately; each row and kind is its own loop, and the loops of every size and kind "
          f"take turns in {p['blocks']} blocks, so a noisy phase of the shared machine, or its drift over the run, "
          "falls on all sizes alike and the sizes differ only by what their size does. "
          "The floor is `nftpm-floor-probe` (start, one netlink batch adding or deleting one element, exit) in its "
          f"own alternating loop on each node. The reference plugin runs at size 0 only ({p['peer_rounds']} rounds).",
          "", "| mappings | floor ADD | ours ADD | ÷ floor ADD p50 | floor DEL | ours DEL | ÷ floor DEL p50 | "
          "deferClose false: ADD | ÷ floor | DEL | ÷ floor | portmap ADD | portmap DEL | machine CPU busy |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in cp:
        f, o, n, pe = r["floor"], r["ours"], r["ours_nodefer"], r.get("peer")
        L.append(f"| {r['size']:,} | {fmt_pair(f['add'])} | {fmt_pair(o['add'])} | "
                 f"{o['add']['p50'] / f['add']['p50']:.2f}× | {fmt_pair(f['del'])} | {fmt_pair(o['del'])} | "
                 f"{o['del']['p50'] / f['del']['p50']:.2f}× | {fmt_pair(n['add'])} | "
                 f"{n['add']['p50'] / f['add']['p50']:.2f}× | {fmt_pair(n['del'])} | "
                 f"{n['del']['p50'] / f['del']['p50']:.2f}× | "
                 + (f"{fmt_pair(pe['add'])} | {fmt_pair(pe['del'])} |" if pe else "– | – |")
                 + (f" {r['cpu_busy'] * 100:.0f} % |" if "cpu_busy" in r else " – |"))
    L += ["", "Machine CPU busy: the whole machine's CPU use while the loops of that size ran, theirs included; "
          "near 100 % means other work on the shared machine competed with them, which slows every call (the floor "
          "most) and moves the ratios."]
    if charts:
        L += ["", "![control plane ADD](control-plane-add.png)", "", "![control plane DEL](control-plane-del.png)"]
    L += ["", f"## 2. One container with {cp[0]['big']['mappings']:,} port mappings (ms, p50 / p99)", "",
          f"Half TCP, half UDP; {p['big_rounds']} rounds of {{ADD it; DEL it; ADD a one-port (TCP) container; DEL it; "
          "the same with one UDP port; the floor probe adding, then deleting, as many map elements in one batch, in a loop of its own} at "
          "each size. The node tracks a flow throughout (as any node does), so every call with a UDP mapping walks "
          "the kernel's conntrack hash once (see the one-UDP-port columns). The floor is the kernel's own price for "
          "that many elements, which no design goes below; ours puts two elements per mapping (the host port's claim "
          "and the map entry).", "",
          "| mappings on the node | big ADD | one-port ADD | ratio | big DEL | one-port DEL | ratio | one UDP port "
          "ADD / DEL (p50) | floor of as many elements ADD / DEL (p50) |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in cp:
        g = r["big"]
        udp = (f"{g['udp_add']['p50']:.2f} / {g['udp_del']['p50']:.2f}" if "udp_add" in g else "–")
        fl = (f"{g['floor_add']['p50']:.2f} / {g['floor_del']['p50']:.2f}" if "floor_add" in g else "–")
        L.append(f"| {r['size']:,} | {fmt_pair(g['big_add'])} | {fmt_pair(g['one_add'])} | "
                 f"{g['big_add']['p50'] / g['one_add']['p50']:.2f}× | {fmt_pair(g['big_del'])} | "
                 f"{fmt_pair(g['one_del'])} | {g['big_del']['p50'] / g['one_del']['p50']:.2f}× | {udp} | {fl} |")
    if all("watch" in r for r in cp):
        L += ["", "## 2b. With the watcher running (ms, p50 / p99)", "",
              "The README asks operators to run `nft-port-mapper watch` (its systemd unit), which listens to every "
              "nf_tables notification of the node. While anything listens, the kernel writes a notification for each "
              "element a commit adds or deletes, inside that commit: every batch costs more, the floor's too. With a "
              "watcher started on every node (and idle after its first restore): the floor and the default config in "
              f"their alternating loops, side by side on all nodes as in section 1 ({p['rounds']} rounds, "
              f"{p['blocks']} blocks), then on each node {p['big_rounds']} rounds of {{ADD the "
              f"{cp[0]['big']['mappings']:,}-mapping container of section 2; DEL it; ADD a one-port (TCP) container; "
              "DEL it}. The watcher's CPU is its own user + system time over each part, per call.", "",
              "| mappings | floor ADD | ours ADD | ÷ floor ADD p50 | floor DEL | ours DEL | ÷ floor DEL p50 | "
              "ours ADD p50 ÷ without the watcher | big ADD | ratio to one-port | big DEL | ratio to one-port | "
              "watcher CPU per one-port call / per big call |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in cp:
            w, g = r["watch"], r["watch"]["big"]
            L.append(f"| {r['size']:,} | {fmt_pair(w['floor']['add'])} | {fmt_pair(w['ours']['add'])} | "
                     f"{w['ours']['add']['p50'] / w['floor']['add']['p50']:.2f}× | {fmt_pair(w['floor']['del'])} | "
                     f"{fmt_pair(w['ours']['del'])} | {w['ours']['del']['p50'] / w['floor']['del']['p50']:.2f}× | "
                     f"{w['ours']['add']['p50'] / r['ours']['add']['p50']:.2f}× | {fmt_pair(g['big_add'])} | "
                     f"{g['big_add']['p50'] / g['one_add']['p50']:.2f}× | {fmt_pair(g['big_del'])} | "
                     f"{g['big_del']['p50'] / g['one_del']['p50']:.2f}× | {w['watcher_cpu_ms_per_call']:.2f} / "
                     f"{w['watcher_cpu_ms_per_big_call']:.1f} ms |")
    L += ["", "## 3. Concurrency", "",
          "Each caller loops {ADD its own new container with one port; DEL it}, whole processes, until the time is "
          "up (a cycle under way is finished). Node at size 0 (the seed container only). Leftovers: for ours, table "
          "elements and records of the callers' containers; for portmap, iptables rules naming them.", "",
          "| plugin | callers | seconds | calls | calls/s | ADD p50 / p99 (ms) | DEL p50 / p99 (ms) | errors | "
          "leftovers |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in ("ours", "peer"):
        c = res["concurrency"][kind]
        L.append(f"| {LABEL[kind]} | {c['callers']} | {c['seconds']} | {c['calls']:,} | {c['calls_per_s']:.1f} | "
                 f"{c['add']['p50']:.1f} / {c['add']['p99']:.1f} | {c['del']['p50']:.1f} / {c['del']['p99']:.1f} | "
                 f"{c['errors']} | {c['leftovers']} |")
    dp = res["data_plane"]
    sizes = sorted(dp["ours"])
    L += ["", "## 4. Data plane: new TCP connections per second to a mapped port", "",
          f"A remote namespace opens and resets connections to the node's address for {dp['seconds']} s per figure; "
          "the mapping under test is the newest. Ours is filled through the plugin (the mappings of section 1); the "
          "rule-per-mapping table has one `dnat` rule per mapping, the one under test last. Each figure is the "
          f"median of {dp['rounds']} rounds; every round loads and measures each table in turn, in the opposite "
          "order every other round (the samples are in results.json). The last column is the median of each round's "
          "own ratio (both sizes measured back to back), which the rounds' swings do not move.", "",
          "| mappings | ours | rule per mapping | no NAT (ceiling) | ours at N ÷ ours at 1 (medians) | "
          "ours at N ÷ ours at 1 (each round's, median) |", "|---:|---:|---:|---:|---:|---:|"]
    for s in sizes:
        L.append(f"| {s:,} | {dp['ours'][s]:.0f} | {dp['rule_per_mapping'][s]:.0f} | {dp['no_nat']:.0f} | "
                 f"{dp['ours'][s] / dp['ours'][sizes[0]]:.3f} | {round_ratio(dp, s, sizes[0]):.3f} |")
    if charts:
        L += ["", "![data plane](data-plane.png)"]
    L += ["", "## 5. Memory", "", "Peak RSS of one call (MB), measured with `nftpm-peakrss` (a tiny forking parent; "
          f"`/bin/true` through it: {cp[0]['rss']['baseline_mb']:.1f} MB).", "",
          "| mappings on the node | ours ADD | ours DEL | portmap ADD | portmap DEL |", "|---:|---:|---:|---:|---:|"]
    for r in cp:
        x = r["rss"]
        L.append(f"| {r['size']:,} | {x['ours_add_mb']:.1f} | {x['ours_del_mb']:.1f} | "
                 + (f"{x['peer_add_mb']:.1f} | {x['peer_del_mb']:.1f} |" if "peer_add_mb" in x else "– | – |"))
    L.append("")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(L))


def plot(out, res):
    if not shutil.which("gnuplot"):
        print("bench: no gnuplot, no charts", file=sys.stderr)
        return False
    cp = res["control_plane"]
    for verb in ("add", "del"):
        with open(os.path.join(out, f"cp-{verb}.dat"), "w") as f:
            for r in cp:
                f.write(f"{r['size']} " + " ".join(f"{r[k][verb]['p50']} {r[k][verb]['p99']}"
                                                   for k in ("floor", "ours", "ours_nodefer")) + "\n")
    dp = res["data_plane"]
    with open(os.path.join(out, "dp.dat"), "w") as f:
        for s in sorted(dp["ours"]):
            f.write(f"{s} {dp['ours'][s]} {dp['rule_per_mapping'][s]} {dp['no_nat']}\n")
    script = ["set terminal pngcairo size 900,500 noenhanced", "set grid", "set key outside right top",
              "set xlabel 'mappings on the node'", "set ylabel 'ms'", "set logscale y", "set format x '%.0f'"]
    for verb in ("add", "del"):
        script += [f"set output '{out}/control-plane-{verb}.png'",
                   f"set title 'One {verb.upper()} of a one-port container, whole process: p50 (solid), p99 (dashed)'",
                   f"plot '{out}/cp-{verb}.dat' u 1:2 w lp lc 1 t 'floor p50', '' u 1:3 w lp lc 1 dt 2 t 'floor p99', "
                   "'' u 1:4 w lp lc 2 t 'ours p50', '' u 1:5 w lp lc 2 dt 2 t 'ours p99', "
                   "'' u 1:6 w lp lc 3 t 'deferClose false p50', '' u 1:7 w lp lc 3 dt 2 t 'deferClose false p99'"]
    script += [f"set output '{out}/data-plane.png'", "set title 'New TCP connections per second through one mapping'",
               "set ylabel 'connections/s'", "unset logscale y", "set yrange [0:*]", "set logscale x",
               f"plot '{out}/dp.dat' u 1:2 w lp t 'nft-port-mapper', '' u 1:3 w lp t 'rule per mapping', "
               "'' u 1:4 w l dt 3 t 'no NAT'"]
    try:
        sh("gnuplot", input="\n".join(script) + "\n")
    finally:
        for f in ("cp-add.dat", "cp-del.dat", "dp.dat"):
            os.unlink(os.path.join(out, f))
    stale = os.path.join(out, "control-plane.png")  # the chart of earlier versions of this script
    if os.path.exists(stale):
        os.unlink(stale)
    return True


def print_summary(res):
    rows = res["targets"]
    w = max(len(r[0]) for r in rows)
    print("\nsummary (targets are informational)")
    print(f"  {'what':{w}}  {'measured':>10}  {'target':>7}")
    for what, val, tgt, ok in rows:
        print(f"  {what:{w}}  {val:>10}  {tgt:>7}  {'' if ok is None else 'pass' if ok else 'MISS'}")
    cp = res["control_plane"]
    print("\n  size      floor ADD/DEL p50     ours ADD p50/p99  DEL p50/p99     deferClose=false ADD p50/p99  "
          "DEL p50/p99   CPU busy")
    for r in cp:
        print(f"  {r['size']:>7,}   {r['floor']['add']['p50']:6.2f} {r['floor']['del']['p50']:6.2f}     "
              f"{fmt_pair(r['ours']['add']):>14}  {fmt_pair(r['ours']['del']):>14}     "
              f"{fmt_pair(r['ours_nodefer']['add']):>14}  {fmt_pair(r['ours_nodefer']['del']):>14}   "
              + (f"{r['cpu_busy'] * 100:3.0f} %" if "cpu_busy" in r else "  –"))
    pe = cp[0].get("peer")
    if pe:
        print(f"  portmap at 0: ADD p50/p99 {fmt_pair(pe['add'])}, DEL p50/p99 {fmt_pair(pe['del'])} ms")
    for kind in ("ours", "peer"):
        c = res["concurrency"][kind]
        print(f"  concurrency {LABEL[kind]}: {c['callers']} callers {c['seconds']} s: {c['calls_per_s']:.1f} calls/s, "
              f"ADD p50/p99 {c['add']['p50']:.1f}/{c['add']['p99']:.1f}, DEL p50/p99 {c['del']['p50']:.1f}/"
              f"{c['del']['p99']:.1f} ms, {c['errors']} errors, {c['leftovers']} leftovers")
    dp = res["data_plane"]
    print("  data plane conn/s: " + "; ".join(f"{s:,}: ours {dp['ours'][s]:.0f}, rule per mapping "
                                             f"{dp['rule_per_mapping'][s]:.0f}" for s in sorted(dp["ours"]))
          + f"; no NAT {dp['no_nat']:.0f}")


def params(quick):
    if quick:
        return {"sizes": [0, 2000], "rounds": 11, "blocks": 3, "peer_rounds": 5, "big_n": 1000, "big_rounds": 3,
                "callers": 8, "conc_seconds": {"ours": 3, "peer": 3}, "dp_sizes": [1, 2000], "dp_seconds": 0.5,
                "dp_rounds": 1}
    return {"sizes": [0, 10000, 50000, 100000], "rounds": 101, "blocks": 20, "peer_rounds": 101, "big_n": 1000, "big_rounds": 11,
            "callers": 64, "conc_seconds": {"ours": 60, "peer": 60}, "dp_sizes": [1, 100000], "dp_seconds": 3,
            "dp_rounds": 9}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default="docs/benchmarks")
    ap.add_argument("--quick", action="store_true", help="small sizes, few iterations: checks the code runs")
    ap.add_argument("--records-only", action="store_true",
                    help="only the attachment-records figures (printed; no report written)")
    ap.add_argument("--report-from", metavar="RESULTS_JSON",
                    help="measure nothing: write the report and charts again from a results.json")
    a = ap.parse_args()
    if a.report_from:
        with open(a.report_from) as f:
            res = json.load(f)
        dp = res["data_plane"]
        for k in ("ours", "rule_per_mapping"):
            dp[k] = {int(s): v for s, v in dp[k].items()}
            dp["samples"][k] = {int(s): v for s, v in dp["samples"][k].items()}
        res["targets"] = targets(res)
        os.makedirs(a.out, exist_ok=True)
        if os.path.abspath(a.report_from) != os.path.abspath(os.path.join(a.out, "results.json")):
            with open(os.path.join(a.out, "results.json"), "w") as f:
                json.dump(res, f, indent=1)
        write_report(a.out, res, res["params"]["sizes"][-1] < 10000, plot(a.out, res))
        print_summary(res)
        return
    a.build = os.path.abspath(a.build)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the namespaces are removed
    t_start = time.perf_counter()
    b = Bench(a.build)
    if a.records_only:
        q = a.quick
        with Topology():
            enter_node()
            records_bench(b, [2000] if q else [10000, 100000], 2 if q else 5, [0, 2000] if q else [0, 50000],
                          5 if q else 60)
        return
    p = params(a.quick)
    cmd = os.environ.get("BENCH_COMMAND") or " ".join(["python3", *sys.argv])
    res = {"machine": machine(), "params": p, "command": cmd,
           "state_dir": "tmpfs: /dev/shm/pmbench-<pid>-state (private to the run)"}
    with Topology(nodes=len(p["sizes"])):
        tmp = f"/dev/shm/pmbench-{PID}.json"
        pid = os.fork()
        if pid == 0:  # the control-plane part runs inside the node namespace
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                enter_node()
                print("control plane (and, at size 0, concurrency)", flush=True)
                out = control_plane(b, p)
                with open(tmp, "w") as f:
                    json.dump(out, f)
            except BaseException as e:  # noqa: BLE001
                print(f"bench: {e}", file=sys.stderr, flush=True)
                code = 1
            os._exit(code)
        try:
            _, status = os.waitpid(pid, 0)
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        if status != 0:
            sys.exit("bench: the control-plane part failed")
        with open(tmp) as f:
            res.update(json.load(f))
        os.unlink(tmp)
        # Last: its connection floods leave conntrack entries that every plugin call walks.
        print("data plane", flush=True)
        res["data_plane"] = data_plane(b, p["dp_sizes"], p["dp_seconds"], p["dp_rounds"])
    res["wall_s"] = time.perf_counter() - t_start
    res["targets"] = targets(res)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    charts = plot(a.out, res)
    write_report(a.out, res, a.quick, charts)
    print_summary(res)
    print(f"\nwall time {res['wall_s'] / 60:.1f} min; written to {a.out}/README.md, results.json and charts")


if __name__ == "__main__":
    main()
