// The CNI verbs. Validation first (environment, config, owner tag), then action; every failure
// after the delegate's ADD undoes the delegate's attachment, so ADD is all or nothing.
#include "nftpm/plugin.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "nftpm/call_log.h"
#include "nftpm/config.h"
#include "nftpm/layout.h"
#include "nftpm/mapping_table.h"
#include "nftpm/owner_tag.h"
#include "nftpm/restore.h"
#include "nftpm/route_localnet.h"
#include "nftpm/socket_keeper.h"
#include "nftpm/status.h"

namespace nftpm {

using nlohmann::json;

namespace {

PluginOutput error_output(const Error& e, const std::string& version) {
  return {json_text(cni_error_to_json(e, version)) + "\n", 1};
}

// The delegate's config: the delegate object with the outer name and args written in. No
// cniVersion is added: a Mesos delegate without one answers in the 0.1/0.2 form Mesos reads.
std::string delegate_config(const NetConfig& c) {
  json d = *c.delegate;
  d["name"] = c.name;
  if (auto it = c.raw.find("args"); it != c.raw.end()) d["args"] = *it;
  if (auto it = c.raw.find("prevResult"); it != c.raw.end() && d.contains("cniVersion")) d["prevResult"] = *it;
  return json_text(d);
}

Result<ContainerAddrs> addresses_of(const CniResult& r, const std::string& ifname) {
  ContainerAddrs a;
  for (const auto& ip : container_ips(r, ifname)) {
    std::string addr = ip.address.substr(0, ip.address.find('/'));
    if (ip.family == 4 && !a.v4) {
      in_addr v4{};
      if (inet_pton(AF_INET, addr.c_str(), &v4) == 1) a.v4 = v4;
    } else if (ip.family == 6 && !a.v6) {
      in6_addr v6{};
      if (inet_pton(AF_INET6, addr.c_str(), &v6) == 1) a.v6 = v6;
    }
  }
  return a;
}

// The result to print: the given document itself when it is already in the requested version
// (so fields we do not model pass through), else converted.
Result<std::string> result_text(const json& given, const std::string& given_version, const std::string& requested) {
  std::string v = given.value("cniVersion", given_version);
  if (v == requested ||
      (is_legacy_result_version(v) && is_legacy_result_version(requested) && !given.contains("ips"))) {
    // 0.1.0 and 0.2.0 results have the same shape: only the label changes.
    json out = given;
    out["cniVersion"] = requested;
    return json_text(out) + "\n";
  }
  auto parsed = parse_cni_result(given, v);
  if (!parsed) return parsed.take_error();
  return json_text(cni_result_to_json(*parsed, requested)) + "\n";
}

// Only datagram flows outlive their target: a TCP flow to a gone container is reset by whoever
// holds the address next, while a UDP flow keeps following its conntrack entry for as long as
// the client keeps sending. Each sweep walks the kernel's whole conntrack hash (milliseconds even
// when it is empty), so it is paid only where it matters, as the reference portmap does.
bool needs_sweep(uint8_t proto) {
  return proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

// Conntrack sweeps for what DEL or GC removed: the flows translated to the removed targets.
std::vector<ConntrackSweep> sweeps_after_delete(const std::vector<NftElement>& removed) {
  std::vector<ConntrackSweep> out;
  for (const auto& e : removed) {
    auto k = decode_key(e.key);
    auto t = decode_target(e.data);
    if (!k || !t || !needs_sweep(k->proto)) continue;
    out.push_back({k->proto, k->port, ConntrackSweep::Mode::kAfterDelete, {{t->family, t->addr, t->port}}});
  }
  return out;
}

class NoNodeEffects : public NodeEffects {
 public:
  void sweep_conntrack(const std::vector<ConntrackSweep>&) override {}
  void enable_localhost(const in_addr&) override {}
};

// Failures here are warnings in the call's log (its `logFile`): the mappings are in place.
class KernelNodeEffects : public NodeEffects {
 public:
  void sweep_conntrack(const std::vector<ConntrackSweep>& sweeps) override {
    if (sweeps.empty()) return;
    auto ct = open_conntrack();
    if (!ct) return warn("conntrack: " + ct.error().msg);
    if (auto r = (*ct)->sweep_all(sweeps); !r) return warn("conntrack: " + r.error().msg);
  }
  void enable_localhost(const in_addr& container) override {
    auto dev = route_device(container);
    if (!dev) return warn("localhost mapping: " + dev.error().msg);
    if (dev->route_localnet) return;  // on already: nothing to write
    if (auto s = enable_route_localnet(dev->name); !s) warn("localhost mapping: " + s.error().msg);
  }
};

class Plugin {
 public:
  Plugin(const CniEnv& env, const NetConfig& cfg, const NftablesFactory& nft, DelegateRunner& delegate,
         NodeEffects& effects, const RecordStoreFactory& records, CallLog& log)
      : env_(env),
        cfg_(cfg),
        nft_factory_(nft),
        delegate_(delegate),
        effects_(effects),
        records_factory_(records),
        log_(log) {}

  PluginOutput run() {
    NodeEffects::Reporting reporting(effects_, log_);
    auto started = std::chrono::steady_clock::now();
    Result<std::string> out = Error(ErrorCode::kUnsupportedCommand, "unsupported");
    switch (env_.command) {
      case CniCommand::kAdd: out = add(); break;
      case CniCommand::kDel: out = del(); break;
      case CniCommand::kCheck: out = check(); break;
      case CniCommand::kStatus: out = status(); break;
      case CniCommand::kGc: out = gc(); break;
      default:
        out = Error(ErrorCode::kUnsupportedCommand,
                    std::string("CNI_COMMAND ") + command_name(env_.command) + " is not supported yet");
    }
    if (!out) {
      log_.step(LogLevel::kError,
                "failed with code " + std::to_string(static_cast<int>(out.error().code)) + ": " + out.error().msg +
                    (out.error().details.empty() ? "" : " (" + out.error().details + ")"),
                started);
      return error_output(out.error(), cfg_.result_version());
    }
    log_.step(LogLevel::kInfo, "done", started);
    return {*out, 0};
  }

 private:
  Result<OwnerTag> owner() const { return OwnerTag::make(cfg_.name, env_.container_id, env_.ifname); }

  Result<MappingTable*> table() {
    if (!table_) {
      auto n = nft_factory_();
      if (!n) return n.take_error();
      nft_ = std::move(*n);
      table_.emplace(*nft_, NetworkLayout{cfg_.chain}, cfg_.exclude_devices, MappingOptions{cfg_.snat, cfg_.masq_all});
    }
    return &*table_;
  }

  // The attachment records of the config's state directory; nullptr when none are kept (tests).
  Result<RecordStore*> records() {
    if (!records_factory_) return static_cast<RecordStore*>(nullptr);
    if (!records_) {
      auto s = records_factory_(cfg_.state_dir);
      if (!s) return s.take_error();
      records_ = std::move(*s);
    }
    return records_.get();
  }

  static Error record_error(const Error& e) {
    // A restore holding the records' lock for long is worth a retry; anything else is not.
    return Error(e.code == ErrorCode::kTryAgainLater ? e.code : ErrorCode::kIoFailure,
                 "cannot keep the attachment's record: " + e.msg,
                 (e.details.empty() ? "" : e.details + "; ") +
                     "without it the mappings could not be put back after a ruleset reset, so none were made "
                     "(see stateDir)");
  }

  // The record this ADD will stand on, written before the mappings are committed so that a
  // completed ADD always has one; the previous record of the same attachment (an ADD repeated
  // without DEL) has its mappings removed first.
  Status record_add(RecordStore& store, const OwnerTag& tag, const ContainerAddrs& addrs, MappingTable& table) {
    auto prev = store.get(tag);
    if (!prev) return record_error(prev.error());
    if (prev->bad) log_.log(LogLevel::kWarn, "replacing a bad record " + prev->bad->path + ": " + prev->bad->why);
    if (prev->record) {
      auto removed = remove_recorded(*prev->record, table);
      if (!removed) return removed.take_error();
      if (prev->deleting) {
        if (auto s = store.erase(tag); !s) return record_error(s.error());
      }
    }
    AttachmentRecord rec{tag,   cfg_.chain,   cfg_.exclude_devices, MappingOptions{cfg_.snat, cfg_.masq_all},
                         addrs, cfg_.mappings};
    if (auto s = store.put(rec); !s) return record_error(s.error());
    return ok_status();
  }

  // Removes what `rec` installed (owner-checked), through the table of its own chain.
  Result<std::vector<NftElement>> remove_recorded(const AttachmentRecord& rec, MappingTable& table,
                                                  const std::vector<PortMapping>& also = {}) {
    std::vector<PortMapping> keys = rec.mappings;
    // Usually the DEL's config names what the record does: each key is then looked at once.
    if (also != rec.mappings) keys.insert(keys.end(), also.begin(), also.end());
    // What the owner holds is what its record says (a repeated ADD removes the previous record's
    // elements before writing its own), so only the record's address families are looked at.
    if (rec.chain == cfg_.chain) return table.remove(rec.owner, keys, &rec.addrs);
    MappingTable other(*nft_, NetworkLayout{rec.chain}, rec.exclude_devices, rec.options);
    auto removed = other.remove(rec.owner, rec.mappings, &rec.addrs);
    if (!removed || also.empty()) return removed;
    auto more = table.remove(rec.owner, also, &rec.addrs);
    if (!more) return more.take_error();
    removed->insert(removed->end(), more->begin(), more->end());
    return removed;
  }

  Result<std::string> run_delegate(CniCommand cmd) {
    std::string type = (*cfg_.delegate)["type"].get<std::string>();
    auto t = std::chrono::steady_clock::now();
    auto out = delegate_.run(type, cmd, env_, delegate_config(cfg_), cfg_.delegate_timeout_seconds);
    log_.step(out ? LogLevel::kInfo : LogLevel::kError,
              out ? "delegate " + type + " " + command_name(cmd) + " ok" : out.error().msg, t);
    return out;
  }

  static std::string mapping_list(const std::vector<PortMapping>& ms, const ContainerAddrs& a) {
    std::string s;
    char buf[INET6_ADDRSTRLEN];
    for (const auto& m : ms) {
      s += s.empty() ? "" : ", ";
      s += std::string(protocol_name(m.protocol)) + "/" + (m.host_ip.empty() ? "" : m.host_ip.text() + ":") +
           std::to_string(m.host_port) + " ->";
      if (a.v4)
        s += std::string(" ") + inet_ntop(AF_INET, &*a.v4, buf, sizeof buf) + ":" + std::to_string(m.container_port);
      if (a.v6)
        s += std::string(" [") + inet_ntop(AF_INET6, &*a.v6, buf, sizeof buf) + "]:" + std::to_string(m.container_port);
    }
    return s;
  }

  static std::string element_list(const std::vector<NftElement>& es) {
    std::string s;
    for (const auto& e : es) s += (s.empty() ? "" : ", ") + e.set + " " + describe_element(e);
    return s.empty() ? "nothing" : s;
  }

  Result<json> parse_delegate_result(const std::string& text) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Error(ErrorCode::kDelegateFailure, "delegate printed a result that is not a JSON object",
                   text.substr(0, 256));
    }
    return j;
  }

  Result<std::string> add() {
    auto tag = owner();
    if (!tag) return tag.take_error();
    // Make sure we can program nftables before attaching anything.
    if (!cfg_.mappings.empty()) {
      auto t = table();
      if (!t) return t.take_error();
    }
    json result;
    std::string result_version = cfg_.result_version();
    if (cfg_.delegate_mode()) {
      auto out = run_delegate(CniCommand::kAdd);
      if (!out) return out.take_error();
      auto j = parse_delegate_result(*out);
      if (!j) return undo_delegate(j.take_error());
      result = *j;
      // A delegate without a cniVersion of its own answers in the 0.1/0.2 era.
      result_version = cfg_.delegate->value("cniVersion", std::string("0.1.0"));
    } else if (cfg_.prev_result) {
      result = *cfg_.prev_result;
    } else if (!cfg_.mappings.empty()) {
      return Error(ErrorCode::kInvalidConfig, "chained mode needs prevResult to know the container's address",
                   "list this plugin after the plugin that attaches the container (e.g. bridge) in a .conflist");
    } else {
      result = json::object();
    }

    if (!cfg_.mappings.empty()) {
      auto parsed = parse_cni_result(result, result_version);
      if (!parsed)
        return undo_delegate(Error(cfg_.delegate_mode() ? ErrorCode::kDelegateFailure : ErrorCode::kInvalidConfig,
                                   parsed.error().msg, parsed.error().details));
      auto addrs = addresses_of(*parsed, env_.ifname);
      if (!addrs->v4 && !addrs->v6) {
        std::string source = cfg_.delegate_mode() ? "the delegate's result" : "prevResult";
        return undo_delegate(Error(
            cfg_.delegate_mode() ? ErrorCode::kDelegateFailure : ErrorCode::kInvalidConfig,
            source + " has no IP address for interface " + env_.ifname + ", so there is nothing to map ports to"));
      }
      auto t = table();
      if (!t) return undo_delegate(t.take_error());
      auto store = records();
      if (!store) return undo_delegate(record_error(store.error()));
      std::unique_ptr<FileLock> lock;
      if (*store) {
        auto l = (*store)->lock_shared();
        if (!l) return undo_delegate(record_error(l.error()));
        lock = std::move(*l);
        if (auto s = record_add(**store, *tag, *addrs, **t); !s) return undo_delegate(s.take_error());
      }
      auto t0 = std::chrono::steady_clock::now();
      if (auto s = (*t)->add(*tag, cfg_.mappings, *addrs); !s) {
        if (*store) (void)(*store)->erase(*tag);
        return undo_delegate(s.take_error());
      }
      lock.reset();
      // Thousands of mappings make a long text: built only when it is written.
      if (log_.enabled(LogLevel::kInfo)) log_.step(LogLevel::kInfo, "added " + mapping_list(cfg_.mappings, *addrs), t0);
      after_add(*addrs);
    }
    auto text = result_text(result, result_version, cfg_.result_version());
    if (!text) {
      if (cfg_.delegate_mode() && !cfg_.mappings.empty()) {
        // Our elements are in; undo them along with the delegate.
        auto store = records();
        std::unique_ptr<FileLock> lock;
        if (store && *store) {
          if (auto l = (*store)->lock_shared(); l) lock = std::move(*l);
          (void)(*store)->mark_deleting(*tag);
        }
        if (auto t = table(); t) (void)(*t)->remove(*tag, cfg_.mappings);
        if (store && *store) (void)(*store)->erase(*tag);
      }
      return undo_delegate(text.take_error());
    }
    return *text;
  }

  // Flows to these host ports that the new mapping would not see (UDP above all) are cut, and
  // localhost:hostPort is made routable.
  void after_add(const ContainerAddrs& addrs) {
    std::vector<FlowTarget> targets;
    std::vector<ConntrackSweep> sweeps;
    for (const auto& m : cfg_.mappings) {
      if (!needs_sweep(static_cast<uint8_t>(m.protocol))) continue;
      ConntrackSweep s{static_cast<uint8_t>(m.protocol), m.host_port, ConntrackSweep::Mode::kAfterAdd, {}};
      if (addrs.v4) {
        FlowTarget t{AF_INET, {}, m.container_port};
        std::memcpy(&t.addr, &*addrs.v4, 4);
        s.targets.push_back(t);
      }
      if (addrs.v6) s.targets.push_back({AF_INET6, *addrs.v6, m.container_port});
      sweeps.push_back(s);
    }
    effects_.sweep_conntrack(sweeps);
    if (cfg_.snat && addrs.v4) effects_.enable_localhost(*addrs.v4);
  }

  // After a failure following the delegate's ADD: detach again, and report the first error.
  Error undo_delegate(Error e) {
    if (cfg_.delegate_mode() && env_.command == CniCommand::kAdd) {
      auto d = run_delegate(CniCommand::kDel);
      if (!d)
        e.details +=
            (e.details.empty() ? "" : "; ") + std::string("undoing the delegate's ADD also failed: ") + d.error().msg;
    }
    return e;
  }

  Result<std::string> del() {
    // Mappings first, so a recycled IP never gets traffic meant for this container.
    if (auto tag = owner(); tag) {
      if (!cfg_.mappings_error.empty()) {
        log_.log(LogLevel::kWarn, "the port mappings cannot be read (" + cfg_.mappings_error +
                                      "); removing what this owner holds by scan");
      }
      auto t = table();
      if (!t) return t.take_error();
      // The record says what ADD installed, whatever this DEL carries. It becomes .deleting
      // first, so that a restore never puts back what is being removed, and goes last.
      // Nothing about records may fail a DEL (libcni would stop before the delegate's DEL):
      // without one, the DEL's own mappings or a scan decide, as before records existed.
      auto store = records();
      if (!store) log_.log(LogLevel::kWarn, "attachment records: " + store.error().msg);
      RecordStore* rs = store ? *store : nullptr;
      std::unique_ptr<FileLock> lock;
      std::optional<AttachmentRecord> rec;
      if (rs) {
        if (auto l = rs->lock_shared(); l) {
          lock = std::move(*l);
        } else {
          // Still mark and erase the record: left live, a later restore would bring back the
          // mappings of a container that is gone.
          log_.log(LogLevel::kWarn, "attachment records: " + l.error().msg + "; going on without the lock");
        }
      }
      if (rs) {
        auto found = rs->get(*tag);
        if (!found) {
          log_.log(LogLevel::kWarn, "attachment records: " + found.error().msg);
        } else {
          if (found->bad) log_.log(LogLevel::kWarn, "bad record " + found->bad->path + ": " + found->bad->why);
          rec = found->record;
          if (rec && !found->deleting) {
            if (auto s = rs->mark_deleting(*tag); !s) log_.log(LogLevel::kWarn, "attachment records: " + s.error().msg);
          }
        }
      }
      auto t0 = std::chrono::steady_clock::now();
      Result<std::vector<NftElement>> removed = std::vector<NftElement>();
      if (rec) {
        removed = remove_recorded(*rec, **t, cfg_.mappings);
      } else {
        std::optional<std::vector<PortMapping>> keys;
        if (!cfg_.mappings.empty()) keys = cfg_.mappings;
        removed = (*t)->remove(*tag, keys);
      }
      if (!removed) return removed.take_error();
      if (rs) {
        if (auto s = rs->erase(*tag); !s) log_.log(LogLevel::kWarn, "attachment records: " + s.error().msg);
      }
      lock.reset();
      if (log_.enabled(LogLevel::kInfo)) log_.step(LogLevel::kInfo, "removed " + element_list(*removed), t0);
      effects_.sweep_conntrack(sweeps_after_delete(*removed));
    } else {
      // ADD refuses an owner it cannot record, so nothing in the table is this one's; the
      // delegate's DEL (or, chained, the next plugin's) must still run.
      log_.log(LogLevel::kWarn, "nothing to remove: " + tag.error().msg);
    }
    if (cfg_.delegate_mode()) {
      auto out = run_delegate(CniCommand::kDel);
      if (!out) return out.take_error();
    }
    return std::string();
  }

  Result<std::string> check() {
    if (compare_versions(cfg_.result_version(), "0.4.0") < 0) {
      return Error(ErrorCode::kIncompatibleVersion, "CHECK needs cniVersion 0.4.0 or later");
    }
    if (!cfg_.prev_result) return Error(ErrorCode::kInvalidConfig, "CHECK needs prevResult");
    auto tag = owner();
    if (!tag) return tag.take_error();
    // A delegate configured without a cniVersion was attached in the 0.1/0.2 era, which has no
    // CHECK (bridge refuses it): then only our part can be checked.
    std::string delegate_version = cfg_.delegate_mode() ? cfg_.delegate->value("cniVersion", std::string()) : "";
    if (!delegate_version.empty() && compare_versions(delegate_version, "0.4.0") >= 0) {
      auto out = run_delegate(CniCommand::kCheck);
      if (!out) return out.take_error();
    }
    auto store = records();
    if (!store) return store.take_error();
    if (*store) {
      auto found = (*store)->get(*tag);
      if (!found) return found.take_error();
      if (found->record && !found->deleting) return check_recorded(*found->record);
      if (found->bad) {
        return Error(ErrorCode::kIoFailure, "the attachment's record cannot be read: " + found->bad->why,
                     found->bad->path);
      }
    }
    if (cfg_.mappings.empty()) return std::string();
    auto parsed = parse_cni_result(*cfg_.prev_result, cfg_.result_version());
    if (!parsed) return Error(ErrorCode::kInvalidConfig, "prevResult: " + parsed.error().msg);
    auto addrs = addresses_of(*parsed, env_.ifname);
    auto t = table();
    if (!t) return t.take_error();
    if (auto s = (*t)->check(*tag, cfg_.mappings, *addrs); !s) return s.take_error();
    return std::string();
  }

  // The kernel against the record: every missing or wrong mapping named, and any mapping this
  // CHECK asks for that ADD never recorded.
  Result<std::string> check_recorded(const AttachmentRecord& rec) {
    auto t = table();
    if (!t) return t.take_error();
    auto problems = compare_with_kernel(*nft_, rec);
    if (!problems) return problems.take_error();
    for (const auto& m : cfg_.mappings) {
      if (std::find(rec.mappings.begin(), rec.mappings.end(), m) == rec.mappings.end()) {
        problems->push_back("mapping " + std::string(protocol_name(m.protocol)) + "/" +
                            (m.host_ip.empty() ? "" : m.host_ip.text() + ":") + std::to_string(m.host_port) +
                            " was never recorded for this attachment");
      }
    }
    if (problems->empty()) return std::string();
    std::string all;
    for (const auto& p : *problems) all += (all.empty() ? "" : "; ") + p;
    return Error(ErrorCode::kNftablesFailure,
                 std::to_string(problems->size()) + " recorded element" + (problems->size() == 1 ? " is" : "s are") +
                     " missing or wrong: " + all,
                 "if the ruleset was reset, `nft-port-mapper restore` puts them back");
  }

  // CNI 1.1 GC: every mapping of this network whose owner is not a valid attachment goes.
  Result<std::string> gc() {
    Attachments valid(cfg_.valid_attachments.begin(), cfg_.valid_attachments.end());
    auto t = table();
    if (!t) return t.take_error();
    // Records of attachments that are not valid become .deleting before their mappings go.
    auto store = records();
    if (!store) return store.take_error();
    std::unique_ptr<FileLock> lock;
    std::vector<OwnerTag> gone;
    if (*store) {
      auto l = (*store)->lock_shared();
      if (!l) return l.take_error();
      lock = std::move(*l);
      auto listing = (*store)->load(cfg_.name);
      if (!listing) return listing.take_error();
      for (const auto* list : {&listing->live, &listing->deleting}) {
        for (const auto& r : *list) {
          if (valid.count({r.owner.container_id, r.owner.ifname})) continue;
          NFTPM_TRY((*store)->mark_deleting(r.owner));
          gone.push_back(r.owner);
        }
      }
    }
    auto t0 = std::chrono::steady_clock::now();
    auto removed = (*t)->gc(cfg_.name, valid);
    if (!removed) return removed.take_error();
    for (const auto& o : gone) NFTPM_TRY((*store)->erase(o));
    if (!gone.empty()) log_.log(LogLevel::kInfo, "removed " + std::to_string(gone.size()) + " records");
    if (log_.enabled(LogLevel::kInfo)) log_.step(LogLevel::kInfo, "collected " + element_list(*removed), t0);
    effects_.sweep_conntrack(sweeps_after_delete(*removed));
    return std::string();
  }

  Result<std::string> status() {
    auto n = nft_factory_();
    if (!n) return n.take_error();
    if (auto s = probe_kernel_features(**n); !s) return s.take_error();
    return std::string();
  }

  const CniEnv& env_;
  const NetConfig& cfg_;
  const NftablesFactory& nft_factory_;
  DelegateRunner& delegate_;
  NodeEffects& effects_;
  const RecordStoreFactory& records_factory_;
  CallLog& log_;
  std::unique_ptr<RecordStore> records_;
  std::unique_ptr<Nftables> nft_;
  std::optional<MappingTable> table_;
};

}  // namespace

NodeEffects::Reporting::Reporting(NodeEffects& effects, CallLog& log) : effects_(effects) {
  effects_.log_ = &log;
}

NodeEffects::Reporting::~Reporting() {
  effects_.log_ = nullptr;
}

void NodeEffects::warn(const std::string& text) const {
  if (log_ != nullptr) return log_->log(LogLevel::kWarn, text);
  CallLog stderr_log;
  stderr_log.log(LogLevel::kWarn, text);
}

NodeEffects& no_node_effects() {
  static NoNodeEffects none;
  return none;
}

std::unique_ptr<NodeEffects> kernel_node_effects() {
  return std::make_unique<KernelNodeEffects>();
}

RecordStoreFactory disk_record_stores() {
  return [](const std::string& state_dir) { return RecordStore::open(state_dir); };
}

PluginOutput run_plugin(GetEnv getenv_fn, const std::string& stdin_text, const NftablesFactory& nft,
                        DelegateRunner& delegate, NodeEffects& effects, const RecordStoreFactory& records) {
  auto env = parse_cni_env(getenv_fn);
  // Errors before the config is parsed answer in its cniVersion if it has a readable one, else in
  // the 0.1.0 era a config without cniVersion (Mesos) means.
  std::string version = "0.1.0";
  // Parsed once: the config below is read from this same document.
  json doc = json::parse(stdin_text, nullptr, false);
  if (auto v = doc.is_object() ? doc.find("cniVersion") : doc.end();
      v != doc.end() && v->is_string() && is_supported_version(v->get<std::string>())) {
    version = v->get<std::string>();
  }
  if (!env) return error_output(env.error(), version);
  if (env->command == CniCommand::kVersion) {
    json v = {{"cniVersion", "1.1.0"}, {"supportedVersions", kSupportedVersions}};
    return {json_text(v) + "\n", 0};
  }
  // A document that did not parse is parsed again there, to say where it broke.
  auto cfg = doc.is_object() && stdin_text.size() <= kMaxConfigBytes
                 ? parse_net_config_document(std::move(doc), env->command)
                 : parse_net_config(stdin_text, env->command);
  if (!cfg) return error_output(cfg.error(), version);
  if ((env->command == CniCommand::kGc || env->command == CniCommand::kStatus) &&
      compare_versions(cfg->result_version(), "1.1.0") < 0) {
    return error_output(
        Error(ErrorCode::kIncompatibleVersion, std::string(command_name(env->command)) + " needs cniVersion 1.1.0"),
        cfg->result_version());
  }
  if (cfg->delegate_mode() && env->path.empty() && env->command != CniCommand::kStatus) {
    return error_output(Error(ErrorCode::kInvalidEnvironment, "CNI_PATH is not set: cannot find the delegate plugin"),
                        cfg->result_version());
  }
  LogLevel level = cfg->log_file.empty() ? LogLevel::kWarn : LogLevel::kInfo;
  if (!cfg->log_level.empty()) parse_log_level(cfg->log_level, &level);
  CallLog log(cfg->log_file, level);
  log.set_subject(std::string(command_name(env->command)) + " net=" + cfg->name +
                  (env->container_id.empty() ? "" : " id=" + env->container_id + " if=" + env->ifname));
  if (!cfg->defer_close) disable_socket_keeper();  // a subreaper caller: nothing may outlive the call
  PluginOutput out = Plugin(*env, *cfg, nft, delegate, effects, records, log).run();
  out.defer_close = cfg->defer_close;
  return out;
}

}  // namespace nftpm
