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
// It is found by an abstract unix socket name, which is per network namespace. Both ends check
// the other's credentials (SO_PEERCRED): a netfilter socket carries the capabilities of whoever
// opened it, so only a process of the keeper's own user may borrow one; the plugin only trusts a
// keeper of its own user, and only a socket that is a netfilter socket of its own namespace.
// Without a keeper (none can be started, or deferral is off), calls open and close their own
// sockets as before (src/nft/deferred_close.cc).
#pragma once

#include <cstddef>
#include <string>

namespace nftpm {

struct KeeperConfig {
  std::string name = "nft-port-mapper/keeper";  // the abstract unix name (no leading NUL)
  int idle_ms = 5000;                           // exit after this long with no call connected
  size_t max_idle_sockets = 256;                // more returned than this are closed at once
};

// Turns the keeper on for this process (main, for a plugin call with deferral on): from here on
// open_netfilter_socket() borrows from, or lends to, this namespace's keeper, starting one if
// none runs. Off by default (the CLI, unit tests).
void enable_socket_keeper(const KeeperConfig& config = {});

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

// The keeper's loop over a bound, listening unix socket; returns when it has been idle for
// config.idle_ms with no call connected (closing the listening socket first). For the spawn and
// for tests.
void run_keeper(int listen_fd, const KeeperConfig& config);
// Binds `config.name` and forks a detached keeper (double fork, new session, every other fd
// closed). Returns false when the name is taken (another keeper won the race) or on error.
bool spawn_keeper(const KeeperConfig& config);

}  // namespace nftpm
