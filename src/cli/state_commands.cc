#include "state_commands.h"

#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>

#include "nftpm/layout.h"
#include "nftpm/restore.h"
#include "nftpm/ruleset_monitor.h"

namespace nftpm {

namespace {

constexpr int kInetFamily = 1;  // NFPROTO_INET (<linux/netfilter.h> clashes with <netinet/in.h>)

int fail(const Error& e) {
  std::cerr << "nft-port-mapper: " << e.msg << (e.details.empty() ? "" : " (" + e.details + ")") << "\n";
  return 1;
}

std::string plural(size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// What a restore did, for a person (and for the watcher's log). Returns whether all is back.
bool print_report(const RestoreReport& r, bool dry_run, std::FILE* to) {
  const char* verb = dry_run ? "would restore" : "restored";
  for (const auto& o : r.finished_deletes) {
    std::fprintf(to, "%s the interrupted DEL of %s\n", dry_run ? "would finish" : "finished", o.encode().c_str());
  }
  for (const auto& o : r.restored) std::fprintf(to, "%s %s\n", verb, o.encode().c_str());
  for (const auto& [o, why] : r.conflicts) std::fprintf(to, "not restored: %s: %s\n", o.encode().c_str(), why.c_str());
  for (const auto& b : r.bad) std::fprintf(to, "bad record %s: %s (left in place)\n", b.path.c_str(), b.why.c_str());
  if (r.restored.empty() && r.batches > 0) {
    std::fprintf(to, "repaired the table's chains and sets; every recorded element was in place (%s)\n",
                 plural(r.records, "recorded attachment").c_str());
  } else if (r.restored.empty()) {
    std::fprintf(to, "nothing to restore: %s, %s in place\n", plural(r.records, "recorded attachment").c_str(),
                 plural(r.records - r.conflicts.size(), "attachment").c_str());
  } else {
    std::fprintf(to, "%s %s (%s) of %s, in %s\n", verb, plural(r.restored.size(), "attachment").c_str(),
                 plural(r.elements_added, "element").c_str(), plural(r.records, "recorded attachment").c_str(),
                 plural(r.batches, "batch").c_str());
  }
  if (!r.complete()) {
    std::fprintf(to, "incomplete: %s, %s\n", plural(r.conflicts.size(), "conflict").c_str(),
                 plural(r.bad.size(), "bad record").c_str());
  }
  std::fflush(to);
  return r.complete();
}

}  // namespace

int cmd_restore(const std::string& state_dir, const std::optional<std::string>& network, bool dry_run) {
  auto store = RecordStore::open(state_dir);
  if (!store) return fail(store.error());
  auto nft = open_netlink_nftables();
  if (!nft) return fail(nft.error());
  auto report = restore_records(**nft, **store, {network, dry_run});
  if (!report) return fail(report.error());
  return print_report(*report, dry_run, stdout) ? 0 : 1;
}

int cmd_adopt(const std::string& state_dir, const std::optional<std::string>& network, bool dry_run) {
  auto nft = open_netlink_nftables();
  if (!nft) return fail(nft.error());
  // Exclusive: no plugin call of this state directory adds or deletes meanwhile, so nothing
  // being deleted is recorded again.
  auto locked = lock_records(state_dir);
  if (!locked) return fail(locked.error());
  auto& store = locked->store;
  auto found = records_from_ruleset(**nft, *store, network);
  if (!found) return fail(found.error());
  size_t mappings = 0;
  for (const auto& r : *found) {
    if (!dry_run) {
      if (auto s = store->put(r); !s) return fail(s.error());
    }
    mappings += r.mappings.size();
    std::printf("%s %s (%s)\n", dry_run ? "would record" : "recorded", r.owner.encode().c_str(),
                plural(r.mappings.size(), "mapping").c_str());
  }
  std::printf("%s %s with %s in %s\n", dry_run ? "would record" : "recorded",
              plural(found->size(), "attachment").c_str(), plural(mappings, "mapping").c_str(),
              store->namespace_dir().c_str());
  return 0;
}

namespace {

// Whether a notification says that something restore would put back is gone: our table, a chain
// or set or rule of it, or an element whose owner still has a live record. A DEL marks its record
// .deleting before it removes anything, so the plugin's own removals do not count.
bool lost_something(const RulesetEvent& e, RecordStore& store) {
  if (e.kind == RulesetEvent::Kind::kOverrun) return true;
  if (e.family != kInetFamily || e.table != kTableName) return false;
  if (e.kind != RulesetEvent::Kind::kElementsRemoved) return true;
  std::set<std::string> owners(e.comments.begin(), e.comments.end());
  for (const auto& c : owners) {
    auto owner = OwnerTag::decode(c);
    if (!owner) continue;
    auto found = store.get(*owner);
    if (!found || (found->record && !found->deleting)) return true;
  }
  return false;
}

void stamp(const char* what) {
  std::fprintf(stdout, "watch: %s\n", what);
  std::fflush(stdout);
}

}  // namespace

int cmd_watch(const std::string& state_dir, int settle_ms) {
  auto store = RecordStore::open(state_dir);
  if (!store) return fail(store.error());
  auto nft = open_netlink_nftables();
  if (!nft) return fail(nft.error());
  // Listen first, then restore: a removal between the two is not missed.
  auto monitor = open_ruleset_monitor();
  if (!monitor) return fail(monitor.error());
  auto restore = [&](const char* why) {
    auto t0 = std::chrono::steady_clock::now();
    auto report = restore_records(**nft, **store, {});
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!report) {
      std::fprintf(stdout, "watch: restore after %s failed: %s\n", why, report.error().msg.c_str());
      std::fflush(stdout);
      return;
    }
    // A restore of a large node plans from set dumps of tens of MB, freed since: give the memory
    // back, so that the watcher sleeps in a few MB again (26 MB after 10,000 mappings, 5 MB now).
    malloc_trim(0);
    if (report->batches == 0 && report->finished_deletes.empty() && report->complete()) return;
    std::fprintf(stdout, "watch: after %s (%.1f ms):\n", why, ms);
    print_report(*report, false, stdout);
  };
  stamp(("watching the ruleset for removals; records in " + (*store)->namespace_dir()).c_str());
  restore("start");
  for (;;) {
    auto events = (*monitor)->wait(-1);
    if (!events) return fail(events.error());
    bool lost = false;
    std::string why;
    for (const auto& e : *events) {
      if (!lost && lost_something(e, **store)) {
        lost = true;
        why = e.kind == RulesetEvent::Kind::kOverrun           ? "lost notifications"
              : e.kind == RulesetEvent::Kind::kTableRemoved    ? "the table's removal"
              : e.kind == RulesetEvent::Kind::kElementsRemoved ? "a removal of recorded elements"
                                                               : "a removal in the table";
      }
    }
    if (!lost) continue;
    // A flush arrives as a burst of notifications: let it settle, then restore once.
    for (;;) {
      auto more = (*monitor)->wait(settle_ms);
      if (!more) return fail(more.error());
      if (more->empty()) break;
    }
    restore(why.c_str());
  }
}

}  // namespace nftpm
