// The kernel's semantics for the operations the plugin uses, in memory: a batch applies wholly or
// not at all; a stale generation is ERESTART; creating a present key is EEXIST (same value) or
// EBUSY (other value); touching a missing table, set or element is ENOENT.
#include <algorithm>
#include <cerrno>
#include <sstream>

#include "fake_nftables.h"

namespace nftpm {

Result<std::optional<TableContents>> FakeNftables::list_table(const std::string& table) {
  auto it = tables.find(table);
  if (it == tables.end()) return std::optional<TableContents>();
  TableContents c;
  for (const auto& [name, _] : it->second.chains) c.chains.insert(name);
  for (const auto& [name, _] : it->second.sets) c.sets.insert(name);
  for (const auto& r : it->second.rules) ++c.rules[r.chain];
  return std::optional<TableContents>(c);
}

Result<std::optional<NftElement>> FakeNftables::get_element(const std::string& table, const std::string& set,
                                                            const Bytes& key) {
  ++element_lookups;
  auto t = tables.find(table);
  if (t == tables.end()) return std::optional<NftElement>();
  auto s = t->second.elements.find(set);
  if (s == t->second.elements.end()) return std::optional<NftElement>();
  auto e = s->second.find(key);
  if (e == s->second.end()) return std::optional<NftElement>();
  return std::optional<NftElement>(e->second);
}

Result<std::vector<NftElement>> FakeNftables::list_elements(const std::string& table, const std::string& set) {
  std::vector<NftElement> out;
  auto t = tables.find(table);
  if (t == tables.end()) return out;
  auto s = t->second.elements.find(set);
  if (s == t->second.elements.end()) return out;
  for (const auto& [_, e] : s->second) out.push_back(e);
  return out;
}

Result<CommitOutcome> FakeNftables::commit(const NftTransaction& tx, std::optional<uint32_t> genid) {
  ++commits_attempted;
  if (before_commit) before_commit(*this);
  if (fail_next_commit != 0) {
    int e = fail_next_commit;
    fail_next_commit = 0;
    return CommitOutcome{e, 0};
  }
  if (genid && *genid != gen_) return CommitOutcome{ERESTART, 0};

  auto work = tables;  // applied only if every operation succeeds
  const auto& ops = tx.ops();
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto& op = ops[i];
    auto fail = [&](int e) { return CommitOutcome{e, i}; };
    if (op.type == NftTransaction::OpType::kAddTable) {
      work[tx.table()];
      continue;
    }
    if (op.type == NftTransaction::OpType::kDeleteTable) {
      if (!work.erase(tx.table())) return fail(ENOENT);
      continue;
    }
    auto t = work.find(tx.table());
    if (t == work.end()) return fail(ENOENT);
    Table& tab = t->second;
    switch (op.type) {
      case NftTransaction::OpType::kAddTable:
      case NftTransaction::OpType::kDeleteTable: break;
      case NftTransaction::OpType::kAddChain: tab.chains[op.chain.name] = op.chain; break;
      case NftTransaction::OpType::kFlushChain:
        if (!tab.chains.count(op.chain.name)) return fail(ENOENT);
        std::erase_if(tab.rules, [&](const NftRule& r) { return r.chain == op.chain.name; });
        break;
      case NftTransaction::OpType::kAddSet:
        if (!tab.sets.count(op.set.name)) {
          tab.sets[op.set.name] = op.set;
          tab.elements[op.set.name];
        }
        break;
      case NftTransaction::OpType::kAddRule:
        if (!tab.chains.count(op.rule.chain) || (!op.rule.set.empty() && !tab.sets.count(op.rule.set)) ||
            (!op.rule.target.empty() && !tab.chains.count(op.rule.target))) {
          return fail(ENOENT);
        }
        if (op.rule.at_head) {
          auto first = std::find_if(tab.rules.begin(), tab.rules.end(),
                                    [&](const NftRule& r) { return r.chain == op.rule.chain; });
          tab.rules.insert(first, op.rule);
        } else {
          tab.rules.push_back(op.rule);
        }
        break;
      case NftTransaction::OpType::kCreateElements:
      case NftTransaction::OpType::kAddElements:
      case NftTransaction::OpType::kDeleteElements:
        for (const auto& e : op.elements) {
          auto s = tab.elements.find(e.set);
          if (s == tab.elements.end()) return fail(ENOENT);
          auto have = s->second.find(e.key);
          if (op.type == NftTransaction::OpType::kDeleteElements) {
            if (have == s->second.end()) return fail(ENOENT);
            s->second.erase(have);
          } else if (have != s->second.end()) {
            if (!have->second.same_value(e)) return fail(EBUSY);
            if (op.type == NftTransaction::OpType::kCreateElements) return fail(EEXIST);
          } else {
            s->second[e.key] = e;
          }
        }
        break;
    }
  }
  tables = std::move(work);
  ++gen_;
  committed.push_back(tx);
  return CommitOutcome{0, 0};
}

Result<CommitOutcome> FakeNftables::dry_run(const NftTransaction& tx) {
  auto saved_tables = tables;
  auto saved_gen = gen_;
  auto saved_committed = committed.size();
  auto out = commit(tx, std::nullopt);
  tables = std::move(saved_tables);
  gen_ = saved_gen;
  committed.erase(committed.begin() + static_cast<long>(saved_committed), committed.end());
  return out;
}

std::string FakeNftables::dump() const {
  std::ostringstream o;
  for (const auto& [name, t] : tables) {
    o << "table " << name << "\n";
    for (const auto& [cname, c] : t.chains) {
      o << "chain " << describe_chain(c) << "\n";
    }
    for (const auto& r : t.rules) o << "rule " << r.chain << " " << describe_rule(r) << "\n";
    for (const auto& [sname, elems] : t.elements) {
      o << "set " << sname << "\n";
      for (const auto& [_, e] : elems) o << "  " << describe_element(e) << "\n";
    }
  }
  return o.str();
}

}  // namespace nftpm
