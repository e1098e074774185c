#!/usr/bin/env python3
"""Answer every UDP datagram on PORT with TEXT, over IPv4 and IPv6, without forking.

Usage: udp_reply.py PORT TEXT [ADDR]

The integration tests' UDP server. socat's `UDP-RECVFROM:...,fork` forks (and runs a shell) per
datagram and, on a loaded machine, loses some of them outright: 9 in 60 unanswered with no NAT
at all under two CPU burners, where this loop answered all 60. Each reply leaves from the address
the datagram was sent to (IP_PKTINFO / IPV6_PKTINFO), so a connected client accepts it even when
the answering host holds several addresses.
"""
import select
import socket
import struct
import sys

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


def open_sockets(port, addr):
    socks = []
    for family, any_addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        if addr and (":" in addr) != (family == socket.AF_INET6):
            continue
        try:
            s = socket.socket(family, socket.SOCK_DGRAM)
        except OSError:  # IPv6 disabled in this namespace
            continue
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else:
            s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        try:
            s.bind((addr or any_addr, port))
        except OSError:
            if addr or family == socket.AF_INET:
                raise
            s.close()  # no IPv6 address to bind: serve IPv4 only
            continue
        socks.append(s)
    if not socks:
        sys.exit("udp_reply: nothing to listen on")
    return socks


def reply(s, text):
    data, anc, _, peer = s.recvmsg(65535, socket.CMSG_SPACE(64))
    del data
    cmsgs = []
    for level, kind, payload in anc:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            _, _, dst = struct.unpack("=I4s4s", payload[:12])
            cmsgs = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("=I4s4s", 0, dst, bytes(4)))]
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
            dst, ifindex = struct.unpack("=16sI", payload[:20])
            cmsgs = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, struct.pack("=16sI", dst, ifindex))]
    try:
        s.sendmsg([text], cmsgs, 0, peer)
    except OSError:
        pass  # the client may be gone; keep serving


def main():
    port, text = int(sys.argv[1]), (sys.argv[2] + "\n").encode()
    socks = open_sockets(port, sys.argv[3] if len(sys.argv) > 3 else "")
    while True:
        ready, _, _ = select.select(socks, [], [])
        for s in ready:
            reply(s, text)


if __name__ == "__main__":
    main()
