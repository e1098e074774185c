#!/usr/bin/env python3
"""Removes what the plugin kept on the machine for the network namespace this runs in: its records
in the default state directory (/run/cni/nft-port-mapper/<boot id>/netns-<cookie>) and its socket
keeper's file (/run/nft-port-mapper/keeper2-<cookie>.sock, left when the keeper is killed rather
than idling out). The integration harness calls it in each namespace it made, after killing the
namespace's processes and before deleting it, so tests leave nothing behind on the machine.
Run as: ip netns exec NS python3 drop_default_records.py"""
import os
import shutil
import socket
import struct

SO_NETNS_COOKIE = 71
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    cookie = struct.unpack("Q", s.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8))[0]
with open("/proc/sys/kernel/random/boot_id") as f:
    boot = f.read().strip()
shutil.rmtree(f"/run/cni/nft-port-mapper/{boot}/netns-{cookie}", ignore_errors=True)
for name in (f"keeper2-{cookie}.sock", f"keeper-{cookie}.sock"):  # and the name before the greeting
    try:
        os.unlink(f"/run/nft-port-mapper/{name}")
    except FileNotFoundError:
        pass
