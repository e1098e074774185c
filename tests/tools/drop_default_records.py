#!/usr/bin/env python3
"""Removes what the plugin kept in its default state directory for the network namespace this runs
in (/run/cni/nft-port-mapper/<boot id>/netns-<cookie>): the integration harnesses call it in each
namespace they made, before deleting it, so tests whose configs use the default stateDir leave
nothing behind on the machine. Run as: ip netns exec NS python3 drop_default_records.py"""
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
