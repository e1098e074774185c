#include "state_commands.h"

#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <map>

#include "nftpm/layout.h"
#include "nftpm/restore.h"
#include "nftpm/ruleset_monitor.h"

namespace nftpm {

namespace {

constexpr int kInetFamily = 1;  // NFPROTO_INET (<linux/netfilter.h> clashes with <netinet/in.h>)

std::string plural(size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// What a restore did, for a person (and for the watcher's log). Returns whether all is back.
bool print_report(const RestoreReport& r, bool dry_run, std::ostream& to) {
  const char* verb = dry_run ? "would restore" : "restored";
  for (const auto& o : r.finished_deletes) {
    to << strprintf("%s the interrupted DEL of %s\n", dry_run ? "would finish" : "finished", o.encode().c_str());
  }
  for (const auto& o : r.restored) to << strprintf("%s %s\n", verb, o.encode().c_str());
  for (const auto& [o, why] : r.conflicts) to << strprintf("not restored: %s: %s\n", o.encode().c_str(), why.c_str());
  for (const auto& b : r.bad) to << strprintf("bad record %s: %s (left in place)\n", b.path.c_str(), b.why.c_str());
  if (r.restored.empty() && r.batches > 0) {
    to << strprintf("repaired the table's chains and sets; every recorded element was in place (%s)\n",
                    plural(r.records, "recorded attachment").c_str());
  } else if (r.restored.empty()) {
    to << strprintf("nothing to restore: %s, %s in place\n", plural(r.records, "recorded attachment").c_str(),
                    plural(r.records - r.conflicts.size(), "attachment").c_str());
  } else {
    to << strprintf("%s %s (%s) of %s, in %s\n", verb, plural(r.restored.size(), "attachment").c_str(),
                    plural(r.elements_added, "element").c_str(), plural(r.records, "recorded attachment").c_str(),
                    plural(r.batches, "batch").c_str());
  }
  if (!r.complete()) {
    to << strprintf("incomplete: %s, %s\n", plural(r.conflicts.size(), "conflict").c_str(),
                    plural(r.bad.size(), "bad record").c_str());
  }
  to.flush();
  return r.complete();
}

}  // namespace

int fail(const CliSystem& sys, const Error& e) {
  *sys.err << "nft-port-mapper: " << e.msg << (e.details.empty() ? "" : " (" + e.details + ")") << "\n";
  return 1;
}

Result<LockedRecords> lock_state_dir(const CliSystem& sys, const std::string& state_dir) {
  auto store = sys.records(state_dir);
  if (!store) return store.take_error();
  auto lock = (*store)->lock_exclusive();
  if (!lock) return lock.take_error();
  return LockedRecords{std::move(*store), std::move(*lock)};
}

std::string strprintf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list again;
  va_copy(again, ap);
  int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, again);
  va_end(again);
  return out;
}

int cmd_restore(const CliSystem& sys, const std::string& state_dir, const std::optional<std::string>& network,
                bool dry_run) {
  auto store = sys.records(state_dir);
  if (!store) return fail(sys, store.error());
  auto nft = sys.nftables();
  if (!nft) return fail(sys, nft.error());
  auto report = restore_records(**nft, **store, {network, dry_run});
  if (!report) return fail(sys, report.error());
  return print_report(*report, dry_run, *sys.out) ? 0 : 1;
}

int cmd_adopt(const CliSystem& sys, const std::string& state_dir, const std::optional<std::string>& network,
              bool dry_run) {
  auto nft = sys.nftables();
  if (!nft) return fail(sys, nft.error());
  // Exclusive: no plugin call of this state directory adds or deletes meanwhile, so nothing
  // being deleted is recorded again.
  auto locked = lock_state_dir(sys, state_dir);
  if (!locked) return fail(sys, locked.error());
  auto& store = locked->store;
  auto found = records_from_ruleset(**nft, *store, network);
  if (!found) return fail(sys, found.error());
  size_t mappings = 0;
  for (const auto& r : *found) {
    if (!dry_run) {
      if (auto s = store->put(r); !s) return fail(sys, s.error());
    }
    mappings += r.mappings.size();
    *sys.out << strprintf("%s %s (%s)\n", dry_run ? "would record" : "recorded", r.owner.encode().c_str(),
                          plural(r.mappings.size(), "mapping").c_str());
  }
  *sys.out << strprintf("%s %s with %s in %s\n", dry_run ? "would record" : "recorded",
                        plural(found->size(), "attachment").c_str(), plural(mappings, "mapping").c_str(),
                        store->namespace_dir().c_str());
  return 0;
}

namespace {

// Whether a notification says that something restore would put back is gone: our table, a chain
// or set or rule of it, or an element whose owner still has a live record. A DEL marks its record
// .deleting before it removes anything, so the plugin's own removals do not count.
// `looked_at` holds the owners already looked up in this burst of notifications, with the answer:
// the kernel announces each element on its own, and a DEL of a container with 1,000 mappings
// would otherwise cost 2,000 lookups of the same record (a watcher busy for 40 ms per such DEL,
// on the CPUs the plugin calls need).
bool lost_something(const RulesetEvent& e, RecordStore& store, std::map<std::string, bool>& looked_at) {
  if (e.kind == RulesetEvent::Kind::kOverrun) return true;
  if (e.family != kInetFamily || e.table != kTableName) return false;
  if (e.kind != RulesetEvent::Kind::kElementsRemoved) return true;
  for (const auto& c : e.comments) {
    auto [it, fresh] = looked_at.try_emplace(c, false);
    if (fresh) {
      auto owner = OwnerTag::decode(c);
      if (!owner) continue;
      auto found = store.get(*owner);
      it->second = !found || (found->record && !found->deleting);
    }
    if (it->second) return true;
  }
  return false;
}

void stamp(std::ostream& out, const std::string& what) {
  out << "watch: " << what << std::endl;
}

}  // namespace

std::string what_was_lost(const std::vector<RulesetEvent>& events, RecordStore& store) {
  std::map<std::string, bool> looked_at;
  for (const auto& e : events) {
    if (!lost_something(e, store, looked_at)) continue;
    return e.kind == RulesetEvent::Kind::kOverrun           ? "lost notifications"
           : e.kind == RulesetEvent::Kind::kTableRemoved    ? "the table's removal"
           : e.kind == RulesetEvent::Kind::kElementsRemoved ? "a removal of recorded elements"
                                                            : "a removal in the table";
  }
  return "";
}

int cmd_watch(const CliSystem& sys, const std::string& state_dir, int settle_ms) {
  std::ostream& out = *sys.out;
  auto store = sys.records(state_dir);
  if (!store) return fail(sys, store.error());
  auto nft = sys.nftables();
  if (!nft) return fail(sys, nft.error());
  // Listen first, then restore: a removal between the two is not missed.
  auto monitor = open_ruleset_monitor();
  if (!monitor) return fail(sys, monitor.error());
  auto restore = [&](const char* why) {
    auto t0 = std::chrono::steady_clock::now();
    auto report = restore_records(**nft, **store, {});
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!report) {
      stamp(out, strprintf("restore after %s failed: %s", why, report.error().msg.c_str()));
      return;
    }
    // A restore of a large node plans from set dumps of tens of MB, freed since: give the memory
    // back, so that the watcher sleeps in a few MB again (26 MB after 10,000 mappings, 5 MB now).
    malloc_trim(0);
    if (report->batches == 0 && report->finished_deletes.empty() && report->complete()) return;
    stamp(out, strprintf("after %s (%.1f ms):", why, ms));
    print_report(*report, false, out);
  };
  stamp(out, "watching the ruleset for removals; records in " + (*store)->namespace_dir());
  restore("start");
  for (;;) {
    auto events = (*monitor)->wait(-1);
    if (!events) return fail(sys, events.error());
    std::string why = what_was_lost(*events, **store);
    if (why.empty()) continue;
    // A flush arrives as a burst of notifications: let it settle, then restore once.
    for (;;) {
      auto more = (*monitor)->wait(settle_ms);
      if (!more) return fail(sys, more.error());
      if (more->empty()) break;
    }
    restore(why.c_str());
  }
}

}  // namespace nftpm
