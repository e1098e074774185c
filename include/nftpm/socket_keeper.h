// The socket keeper: plugin calls never release a netfilter netlink socket.
//
// The last release of a netfilter socket (nftables or ctnetlink) makes the kernel flush this
// namespace's pending nf_tables destroy work under the commit mutex, which waits for an RCU grace
// period whenever a recent commit deleted something: the closing process waits 10-20 ms, and so
// does every commit that comes in meanwhile (measured on 6.18: close() 7.8 ms p50 right after a
// DEL commit, 0.03 ms 50 ms later; a deferred close landing under churn put ADD's p99 at 24-34 ms).
// So one long-lived process per network namespace, the keeper, holds a reference to every socket
// the plugin's calls use and lends idle ones out: a call borrows one (or lends the keeper the one
// it opened), uses it, and exits; the socket goes back to the pool when the call's connection to
// the keeper closes (its exit, crash included). The keeper exits after `idle_ms` without calls,
// long past any grace period, so even its own releases then cost nobody anything.
//
// It is found at <dir>/keeper2-<network namespace cookie>.sock (2: the protocol's version), a
// unix socket in a directory only root may enter (0700, root's, checked before every use): a
// netfilter socket carries the capabilities of whoever opened it, so only a process that can reach
// the node's /run as root may borrow one. Not an abstract name: any process of the namespace could
// connect to one, and a container that shares the node's network (hostNetwork) as root without
// CAP_NET_ADMIN would get root's netfilter socket. Both ends also check the other's credentials
// (SO_PEERCRED: the same user), and the plugin takes only a bound netfilter socket of its own
// namespace. Without a keeper (none can be started, or deferral is off), calls open and close their
// own sockets as before (src/nft/deferred_close.cc).
#pragma once

#include <cstddef>
#include <string>

namespace nftpm {

struct KeeperConfig {
  std::string dir = "/run/nft-port-mapper";  // root's, 0700 (made so when missing)
  int idle_ms = 5000;                        // exit after this long with no call connected
  size_t max_idle_sockets = 256;             // more returned than this are closed at once
};

// Turns the keeper on for this process (main, for a plugin call with deferral on): from here on
// open_netfilter_socket() borrows from, or lends to, this namespace's keeper, starting one if
// none runs. Off by default (the CLI, unit tests).
void enable_socket_keeper(const KeeperConfig& config = {});

// Connects to this namespace's keeper if one runs (never starts one), so that the socket it greets
// the call with travels while the call reads and parses its config; the first borrow reads it.
// Nothing happens unless the keeper is enabled, or when already connected.
void keeper_preconnect();
// An idle netfilter socket of this namespace from the keeper (the caller owns the fd; closing it
// releases nothing), or -1 when there is none or no keeper can be reached.
int keeper_borrow_socket();
// Gives the keeper a reference to `fd`, a netfilter socket this call opened and bound. Returns
// whether the keeper took it (then closing `fd` here releases nothing).
bool keeper_lend_socket(int fd);
// `"deferClose": false` (a caller that is a subreaper and reaps no stranger): no keeper is
// started or used by this call.
void disable_socket_keeper();
// Whether the keeper holds a reference to `fd` (borrowed from or lent to it by this process);
// forgets `fd`, which the caller is about to close.
bool keeper_forget(int fd);

// The keeper's loop over a bound, listening unix socket at `path`; returns when it has been idle
// for config.idle_ms with no call connected, after removing `path` if it is still its own. For
// the spawn and for tests.
void run_keeper(int listen_fd, const std::string& path, const KeeperConfig& config);
// This namespace's keeper's path in config.dir; empty when the directory cannot be trusted.
std::string keeper_path(const KeeperConfig& config);
// Binds a new socket, puts it at this namespace's path in config.dir (replacing any there: a keeper
// killed leaves its file), and forks a detached keeper (double fork, new session, every other fd
// closed). Two calls starting one at once: the later file wins, the other keeper idles out.
// Returns false when config.dir is not a directory only its owner, this user, may enter.
bool spawn_keeper(const KeeperConfig& config);

}  // namespace nftpm
