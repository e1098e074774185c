// Keeping the kernel's clean-up wait out of the caller's critical path.
//
// The last release of a netfilter netlink socket (nftables or ctnetlink) flushes the kernel's
// pending nf_tables destroy work, which waits for an RCU grace period: 10-20 ms whenever any
// commit on the host has deleted something and that work has not yet run. A DEL pays it at its
// own socket's close (strace: close() 10.7 ms of an 11.5 ms call). With deferral on, each such
// socket is closed through a dup kept open, and after the answer is written a forked child (no
// exec) holds the dups, waits until this process has exited and a further 100 ms (by then the
// kernel has run the destroy work by itself), then exits: nobody waits, and the release does not
// hold the commit mutex through a grace period, which would stall the next call instead.
#pragma once

#include <vector>

struct mnl_socket;

namespace nftpm {

// The one switch, thrown once by main for a plugin call (the CLI and the tests leave it off):
// from here on this process keeps its netfilter sockets' last references until it has answered.
// What then becomes of them is the config's choice, which main reads from the call's output
// (PluginOutput::defer_close): hand_off_deferred_closes() or close_kept_fds().
void enable_deferred_close();
// Closes `s`; with deferral on, a duplicate of its fd is kept for hand_off_deferred_closes().
// Every call defers, not only those that deleted: another call's recent deletion (the DEL just
// before an ADD, under churn) leaves the same wait pending, and a fork costs far less.
void close_netfilter_socket(mnl_socket* s);
// Keeps `fd` itself (which the caller no longer uses) for the hand-off; closes it when off.
// close_netfilter_socket() keeps its dups through this.
void defer_close_fd(int fd);
// After the answer is written and flushed: gives the kept fds to a child that closes them once
// this process has exited. Returns at once; without kept fds, or if fork fails, closes them here.
void hand_off_deferred_closes();
// `"deferClose": false` (a caller that is a child subreaper and never reaps strangers): after the
// answer, closes the kept fds here, paying the wait in this process, and forks nothing.
void close_kept_fds();
// Closes every fd of this process but those in `keep` (sorted): for a forked child that must
// hold nothing of its caller's (stdout, the log, the records' lock).
void close_all_fds_but(const std::vector<int>& keep);

}  // namespace nftpm
