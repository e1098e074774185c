// The operator's command line: what the binary does when a person runs it (no CNI_COMMAND in the
// environment). Every subcommand works on the current network namespace's ruleset.
#include "nftpm/cli.h"

#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "nftpm/config.h"
#include "nftpm/delegate.h"
#include "nftpm/iptables_migration.h"
#include "nftpm/layout.h"
#include "nftpm/mapping_table.h"
#include "nftpm/process.h"
#include "nftpm/record_store.h"
#include "nftpm/restore.h"
#include "nftpm/status.h"
#include "nftpm/table_admin.h"
#include "state_commands.h"

namespace nftpm {

namespace {

using nlohmann::json;

// iptables-save / iptables-restore, for the old plugin's rules only: found at their usual
// absolute paths, run with no shell and a fixed environment.
Result<std::string> find_tool(ProcessRunner& processes, const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    std::string p = dir + name;
    if (processes.inspect(p) == ProgramFile::kExecutable) return p;
  }
  return Error(ErrorCode::kIoFailure, name + " not found in /usr/sbin, /sbin, /usr/bin or /bin");
}

Result<std::string> run_tool(const CliSystem& sys, const std::string& name, const std::vector<std::string>& args,
                             const std::string& input) {
  auto path = find_tool(*sys.processes, name);
  if (!path) return path.take_error();
  std::vector<std::string> argv = {*path};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = sys.processes->run({*path, argv, {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}, input, 60, 256u << 20});
  if (!r) return r.take_error();
  if (r->exit_status != 0) {
    return Error(ErrorCode::kIoFailure, name + " failed (exit status " + std::to_string(r->exit_status) + ")");
  }
  return r->out;
}

std::string host_text(const MappingView& m) {
  std::string ip =
      m.host_ip.empty() ? "*" : (m.host_ip.find(':') != std::string::npos ? "[" + m.host_ip + "]" : m.host_ip);
  return ip + ":" + std::to_string(m.host_port);
}

std::string target_text(const MappingView& m) {
  std::string ip = m.family == 6 ? "[" + m.container_ip + "]" : m.container_ip;
  return ip + ":" + std::to_string(m.container_port);
}

// --- list ----------------------------------------------------------------------------------

// The mappings records want and the kernel lacks, as rows (one per address family, as listed).
Result<std::vector<MappingView>> recorded_but_missing(const CliSystem& sys, Nftables& nft, const std::string& state_dir,
                                                      const std::vector<MappingView>& present) {
  std::vector<MappingView> out;
  auto store = sys.records(state_dir);
  if (!store) return store.take_error();
  auto listing = (*store)->load();
  if (!listing) return listing.take_error();
  std::set<std::tuple<std::string, std::string, uint16_t, int, std::string>> have;
  for (const auto& m : present) have.insert({m.protocol, m.host_ip, m.host_port, m.family, m.comment});
  for (const auto& r : listing->live) {
    MappingTable table(nft, NetworkLayout{r.chain}, r.exclude_devices, r.options);
    for (const auto& e : table.wanted_elements(r.owner, r.mappings, r.addrs).ports) {
      auto v = view_of(e, r.chain);  // nullopt for a claim, which is not a mapping
      if (v && !have.count({v->protocol, v->host_ip, v->host_port, v->family, v->comment})) out.push_back(*v);
    }
  }
  return out;
}

int cmd_list(const CliSystem& sys, bool as_json, const std::string& network, const std::string& container,
             const std::string& state_dir) {
  std::ostream& out = *sys.out;
  auto nft = sys.nftables();
  if (!nft) return fail(sys, nft.error());
  auto all = list_mappings(**nft);
  if (!all) return fail(sys, all.error());
  auto missing = recorded_but_missing(sys, **nft, state_dir, *all);
  if (!missing) return fail(sys, missing.error());
  std::vector<MappingView> rows;
  std::vector<bool> is_missing;
  for (const auto* list : {&*all, &*missing}) {
    for (const auto& m : *list) {
      if (!network.empty() && (!m.owner || m.owner->network != network)) continue;
      if (!container.empty() && (!m.owner || m.owner->container_id != container)) continue;
      rows.push_back(m);
      is_missing.push_back(list == &*missing);
    }
  }
  size_t lost = std::count(is_missing.begin(), is_missing.end(), true);
  if (as_json) {
    json doc = json::array();
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& m = rows[i];
      doc.push_back({{"protocol", m.protocol},
                     {"state", is_missing[i] ? "missing" : "present"},
                     {"hostIP", m.host_ip},
                     {"hostPort", m.host_port},
                     {"containerIP", m.container_ip},
                     {"containerPort", m.container_port},
                     {"family", m.family},
                     {"chain", m.chain},
                     {"network", m.owner ? m.owner->network : ""},
                     {"containerID", m.owner ? m.owner->container_id : ""},
                     {"ifname", m.owner ? m.owner->ifname : ""},
                     {"comment", m.comment}});
    }
    out << json_text(doc) << "\n";
    return 0;
  }
  if (rows.empty()) {
    out << "no mappings\n";
    return 0;
  }
  out << strprintf("%-5s %-28s    %-28s %-20s %-10s %s\n", "PROTO", "HOST", "CONTAINER", "NETWORK", "IFNAME",
                   "CONTAINER ID");
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& m = rows[i];
    out << strprintf("%-5s %-28s -> %-28s %-20s %-10s %s%s\n", m.protocol.c_str(), host_text(m).c_str(),
                     target_text(m).c_str(), m.owner ? m.owner->network.c_str() : "?",
                     m.owner ? m.owner->ifname.c_str() : "?",
                     m.owner ? m.owner->container_id.c_str() : m.comment.c_str(),
                     is_missing[i] ? "  MISSING (recorded, not in the kernel)" : "");
  }
  if (lost > 0) {
    out << strprintf("%zu recorded mapping%s missing from the kernel: `nft-port-mapper restore` puts them back.\n",
                     lost, lost == 1 ? " is" : "s are");
  }
  out << strprintf(
      "%zu mapping%s (one row per address family). Per-mapping counters are not kept: the maps carry none.\n",
      rows.size(), rows.size() == 1 ? "" : "s");
  return 0;
}

// --- check ---------------------------------------------------------------------------------

int cmd_check(const CliSystem& sys, const std::string& config_file, const std::string& cni_path) {
  int failures = 0;
  auto say = [&](const char* level, const std::string& what) {
    *sys.out << level << "  " << what << "\n";
    if (std::string(level) == "FAIL") ++failures;
  };
  auto nft = sys.nftables();
  if (!nft) {
    say("FAIL", nft.error().msg);
  } else if (auto s = probe_kernel_features(**nft); !s) {
    say("FAIL", s.error().msg + (s.error().details.empty() ? "" : " (" + s.error().details + ")"));
  } else {
    say("ok  ", "nf_tables can run the layout here (inet NAT, fib, concatenated maps, masquerade)");
    if (auto n = count_owned(**nft); n)
      say("ok  ", "table inet nft_port_mapper holds " + std::to_string(*n) + " owned elements");
  }
  std::ifstream fwd(sys.proc_sys + "/net/ipv4/ip_forward");
  std::string v;
  fwd >> v;
  if (v == "1") {
    say("ok  ", "IPv4 forwarding is on");
  } else {
    say("warn", "IPv4 forwarding is off (net.ipv4.ip_forward=0): remote clients cannot reach containers");
  }
  if (auto save = run_tool(sys, "iptables-save", {"-t", "nat"}, ""); save) {
    std::set<std::string> chains;
    std::istringstream in(*save);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("container_id: ") != std::string::npos && line.find("-j DNAT") != std::string::npos) {
        auto w = split_rule_words(line);
        if (w.size() > 1) chains.insert(w[1]);
      }
    }
    for (const auto& c : chains) {
      size_t n = parse_old_plugin_rules(*save, c).mappings.size();
      say("warn", strprintf("mesos-cni-port-mapper's iptables chain %s still holds %zu mappings: move them with "
                            "`nft-port-mapper migrate-from-iptables --chain %s --network NAME`",
                            c.c_str(), n, c.c_str()));
    }
    if (chains.empty()) say("ok  ", "no leftovers of mesos-cni-port-mapper in the iptables nat table");
  } else {
    say("ok  ", "no iptables here: nothing of mesos-cni-port-mapper to look for");
  }
  if (!config_file.empty()) {
    std::ifstream f(config_file);
    if (!f) {
      say("FAIL", "cannot read " + config_file);
    } else {
      std::stringstream ss;
      ss << f.rdbuf();
      auto cfg = parse_net_config(ss.str(), CniCommand::kAdd);
      if (!cfg) {
        say("FAIL", config_file + ": " + cfg.error().msg +
                        (cfg.error().details.empty() ? "" : " (" + cfg.error().details + ")"));
      } else {
        say("ok  ", config_file + ": valid (network " + cfg->name + ", chain " + cfg->chain + ")");
        if (cfg->delegate_mode()) {
          std::vector<std::string> dirs;
          std::stringstream ps(cni_path);
          for (std::string d; std::getline(ps, d, ':');) {
            if (!d.empty()) dirs.push_back(d);
          }
          std::string type = (*cfg->delegate)["type"].get<std::string>();
          if (auto p = find_plugin(type, dirs, *sys.processes); p) {
            say("ok  ", "delegate " + type + " found: " + *p);
          } else {
            say("FAIL", p.error().msg + " (" + p.error().details + ")");
          }
        }
      }
    }
  }
  return failures == 0 ? 0 : 1;
}

// --- remove, gc, uninstall ------------------------------------------------------------------

int report_removed(const CliSystem& sys, const Result<std::vector<NftElement>>& r) {
  if (!r) return fail(sys, r.error());
  std::set<std::string> owners;
  for (const auto& e : *r) owners.insert(e.comment);
  *sys.out << "removed " << r->size() << " element" << (r->size() == 1 ? "" : "s") << " of " << owners.size()
           << " owner" << (owners.size() == 1 ? "" : "s") << "\n";
  for (const auto& o : owners) *sys.out << "  " << o << "\n";
  return 0;
}

// What the commands that change both the table and the records (remove, gc, uninstall) start
// from: the kernel, and the state directory's records read under its exclusive lock, so that no
// plugin call of that directory is half done meanwhile.
struct TableAndRecords {
  std::unique_ptr<Nftables> nft;
  LockedRecords locked;
  RecordStore::Listing listing;
};
Result<TableAndRecords> open_table_and_records(const CliSystem& sys, const std::string& state_dir) {
  auto nft = sys.nftables();
  if (!nft) return nft.take_error();
  auto locked = lock_state_dir(sys, state_dir);
  if (!locked) return locked.take_error();
  auto listing = locked->store->load();
  if (!listing) return listing.take_error();
  return TableAndRecords{std::move(*nft), std::move(*locked), std::move(*listing)};
}

// Removes the owned elements `select` picks, and the records of the owners it picks (which become
// .deleting first, so that no restore puts back what is being removed).
int remove_with_records(const CliSystem& sys, const std::string& state_dir,
                        const std::function<bool(const OwnerTag&)>& select) {
  auto opened = open_table_and_records(sys, state_dir);
  if (!opened) return fail(sys, opened.error());
  auto& nft = opened->nft;
  auto& store = opened->locked.store;
  auto* listing = &opened->listing;
  std::vector<OwnerTag> records;
  for (const auto* list : {&listing->live, &listing->deleting}) {
    for (const auto& r : *list) {
      if (!select(r.owner)) continue;
      if (auto s = store->mark_deleting(r.owner); !s) return fail(sys, s.error());
      records.push_back(r.owner);
    }
  }
  int rc = report_removed(sys, remove_owned_where(*nft, select));
  if (rc != 0) return rc;
  for (const auto& o : records) {
    if (auto s = store->erase(o); !s) return fail(sys, s.error());
  }
  *sys.out << "removed " << records.size() << " record" << (records.size() == 1 ? "" : "s") << "\n";
  return 0;
}

int cmd_remove(const CliSystem& sys, const std::string& container, const std::string& network,
               const std::string& state_dir) {
  return remove_with_records(sys, state_dir, [&](const OwnerTag& o) {
    return o.container_id == container && (network.empty() || o.network == network);
  });
}

int cmd_gc(const CliSystem& sys, const std::string& network, const std::vector<std::string>& valid_args,
           const std::string& valid_file, const std::string& state_dir) {
  Attachments valid;
  for (const auto& v : valid_args) {
    size_t colon = v.rfind(':');
    if (colon == std::string::npos)
      return fail(sys, Error(ErrorCode::kInvalidConfig, "--valid takes ID:IFNAME, got " + v));
    valid.insert({v.substr(0, colon), v.substr(colon + 1)});
  }
  if (!valid_file.empty()) {
    std::ifstream f(valid_file);
    json j = json::parse(f, nullptr, false);
    if (!j.is_array()) return fail(sys, Error(ErrorCode::kInvalidConfig, valid_file + " is not a JSON array"));
    for (const auto& a : j) {
      if (!a.is_object() || !a.contains("containerID") || !a.contains("ifname") || !a["containerID"].is_string() ||
          !a["ifname"].is_string()) {
        return fail(sys, Error(ErrorCode::kInvalidConfig, valid_file + ": each entry needs containerID and ifname"));
      }
      valid.insert({a["containerID"].get<std::string>(), a["ifname"].get<std::string>()});
    }
  }
  return remove_with_records(sys, state_dir, [&](const OwnerTag& o) {
    return o.network == network && !valid.count({o.container_id, o.ifname});
  });
}

int cmd_uninstall(const CliSystem& sys, bool force, const std::string& state_dir) {
  auto opened = open_table_and_records(sys, state_dir);
  if (!opened) return fail(sys, opened.error());
  auto& nft = opened->nft;
  auto& store = opened->locked.store;
  auto* listing = &opened->listing;
  size_t recorded = listing->live.size() + listing->deleting.size();
  if (recorded > 0 && !force) {
    return fail(sys, Error(ErrorCode::kInvalidConfig,
                           std::to_string(recorded) + " attachments are recorded in " + store->namespace_dir(),
                           "their containers' mappings would come back with the next restore; remove the containers "
                           "first, or use --force"));
  }
  if (auto s = uninstall_table(*nft, force); !s) return fail(sys, s.error());
  // After the table: a watcher that sees the table go finds no record to restore from.
  if (auto s = store->erase_all(); !s) return fail(sys, s.error());
  *sys.out << "table inet " << kTableName << " removed" << (recorded ? " with its records" : "") << "\n";
  return 0;
}

// --- migrate-from-iptables ------------------------------------------------------------------

int cmd_migrate(const CliSystem& sys, const std::string& chain, const std::string& network, const std::string& ifname,
                const std::string& config_file, bool dry_run) {
  std::string net = network, our_chain = chain;
  std::vector<std::string> excluded;
  if (!config_file.empty()) {
    std::ifstream f(config_file);
    std::stringstream ss;
    ss << f.rdbuf();
    auto cfg = parse_net_config(ss.str(), CniCommand::kAdd);
    if (!cfg) return fail(sys, cfg.error());
    if (net.empty()) net = cfg->name;
    our_chain = cfg->chain;
    excluded = cfg->exclude_devices;
  }
  if (net.empty())
    return fail(sys, Error(ErrorCode::kInvalidConfig, "name the network: --network NAME or --config FILE"));
  if (!valid_network_name(net)) return fail(sys, Error(ErrorCode::kInvalidConfig, "invalid network name " + net));
  if (!valid_chain_name(our_chain))
    return fail(sys, Error(ErrorCode::kInvalidConfig, "invalid chain name " + our_chain));
  auto save = run_tool(sys, "iptables-save", {"-t", "nat"}, "");
  if (!save) return fail(sys, save.error());
  OldPluginRules old = parse_old_plugin_rules(*save, chain);
  if (excluded.empty()) excluded = old.excluded;
  *sys.out << "mesos-cni-port-mapper chain " << chain << ": " << old.mappings.size() << " mappings, "
           << old.jump_rules.size() << " jumps"
           << (old.unparsed.empty() ? "" : ", " + std::to_string(old.unparsed.size()) + " rules not understood")
           << "\n";
  for (const auto& u : old.unparsed) *sys.out << "  not understood (left alone): " << u << "\n";
  for (const auto& m : old.mappings) {
    *sys.out << "  " << protocol_name(m.mapping.protocol) << " " << m.mapping.host_port << " -> " << m.container_ip
             << ":" << m.mapping.container_port << "  owner net=" << net << " id=" << m.container_id << " if=" << ifname
             << "\n";
  }
  if (old.mappings.empty() && old.jump_rules.empty()) {
    *sys.out << "nothing to migrate\n";
    return 0;
  }
  if (dry_run) {
    *sys.out << "dry run: then remove with iptables-restore --noflush:\n" << removal_script(old);
    return 0;
  }
  if (!old.unparsed.empty()) {
    return fail(sys, Error(ErrorCode::kInvalidConfig, "the chain holds rules this command does not understand",
                           "nothing was changed; remove them by hand first"));
  }
  auto nft = sys.nftables();
  if (!nft) return fail(sys, nft.error());
  // Ours first: both layouts translate new connections to the same place while the old one goes.
  MappingTable table(**nft, NetworkLayout{our_chain}, excluded);
  std::map<std::string, std::pair<std::vector<PortMapping>, ContainerAddrs>> by_owner;
  for (const auto& m : old.mappings) {
    auto& [mappings, addrs] = by_owner[m.container_id];
    mappings.push_back(m.mapping);
    in_addr a{};
    if (inet_pton(AF_INET, m.container_ip.c_str(), &a) != 1) {
      return fail(sys, Error(ErrorCode::kInvalidConfig, "not an IPv4 address: " + m.container_ip));
    }
    addrs.v4 = a;
  }
  for (const auto& [id, v] : by_owner) {
    auto owner = OwnerTag::make(net, id, ifname);
    if (!owner) return fail(sys, owner.error());
    if (auto s = table.add(*owner, v.first, v.second); !s) {
      return fail(sys, Error(s.error().code, "adding " + id + "'s mappings: " + s.error().msg,
                             "the old rules are untouched; mappings added so far stay (run again when fixed)"));
    }
  }
  *sys.out << "added " << old.mappings.size() << " mappings to table inet " << kTableName << "\n";
  auto removed = run_tool(sys, "iptables-restore", {"--noflush"}, removal_script(old));
  if (!removed) return fail(sys, removed.error());
  *sys.out << "removed the old jumps, rules and chain " << chain << "\n";
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  return run_cli(argc, argv, CliSystem{});
}

int run_cli(int argc, char** argv, const CliSystem& sys) {
  static std::ios_base::Init streams;  // std::cout and the rest, built here, not at start-up (standard_streams.h)
  CLI::App app{
      "nft-port-mapper: a CNI plugin mapping host ports to containers with nftables.\n"
      "Run by a container runtime (CNI_COMMAND set) it is the plugin; run by a person it is this tool,\n"
      "which works on the ruleset of the network namespace it runs in."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("nft-port-mapper ") + NFTPM_VERSION);

  bool as_json = false;
  std::string network, container, config_file, cni_path = "/usr/lib/cni:/opt/cni/bin", valid_file, chain,
                                               ifname = "eth0";
  std::vector<std::string> valid;
  bool force = false, dry_run = false;
  std::string state_dir = kDefaultStateDir;
  int settle_ms = 20;
  auto state_dir_option = [&](CLI::App* cmd) {
    cmd->add_option("--state-dir", state_dir, "where the attachment records are (a network's \"stateDir\")")
        ->capture_default_str();
  };

  auto* list = app.add_subcommand("list", "Every mapping: host IP/port/protocol -> container IP/port, and its owner");
  list->add_flag("--json", as_json, "JSON for scripts");
  list->add_option("--network", network, "only this network's mappings");
  list->add_option("--container", container, "only this container's mappings");
  state_dir_option(list);

  auto* check = app.add_subcommand("check", "Can this node run the plugin? (kernel, forwarding, old plugin leftovers)");
  check->alias("doctor");
  check->add_option("--config", config_file, "also validate this network config, as the plugin would");
  check->add_option("--cni-path", cni_path, "where delegates are looked for")->capture_default_str();

  auto* remove = app.add_subcommand("remove", "Remove one container's mappings (after an agent crash, say)");
  remove->add_option("--container", container, "the container ID")->required();
  remove->add_option("--network", network, "only in this network");
  state_dir_option(remove);

  auto* gc = app.add_subcommand("gc", "Remove a network's mappings whose owner is not a valid attachment");
  gc->add_option("--network", network, "the network")->required();
  gc->add_option("--valid", valid, "a valid attachment, CONTAINER_ID:IFNAME (repeat)");
  gc->add_option("--valid-file", valid_file, R"(a JSON array of {"containerID", "ifname"})");
  state_dir_option(gc);

  auto* uninstall = app.add_subcommand("uninstall", "Remove the plugin's table (refused while mappings remain)");
  uninstall->add_flag("--force", force, "remove it (and the records) even with mappings in it");
  state_dir_option(uninstall);

  std::optional<std::string> only_network;
  auto* restore = app.add_subcommand(
      "restore", "Put back every recorded mapping missing from the ruleset (after a flush); exit 1 if any stays out");
  state_dir_option(restore);
  restore->add_option("--network", only_network, "only this network's records");
  restore->add_flag("--dry-run", dry_run, "say what would be restored, change nothing");

  auto* adopt = app.add_subcommand("adopt",
                                   "Record the mappings in the ruleset that have no record (made by an earlier "
                                   "version), so restore protects them");
  state_dir_option(adopt);
  adopt->add_option("--network", only_network, "only this network's mappings (use with its stateDir)");
  adopt->add_flag("--dry-run", dry_run, "say what would be recorded, change nothing");

  auto* watch = app.add_subcommand(
      "watch", "Restore by itself whenever someone else removes the plugin's table, chains or recorded mappings");
  state_dir_option(watch);
  watch->add_option("--settle-ms", settle_ms, "how long a burst of removals may go quiet before restoring")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));

  auto* migrate = app.add_subcommand("migrate-from-iptables",
                                     "Move mesos-cni-port-mapper's iptables mappings into this plugin's table");
  migrate->add_option("--chain", chain, "the old plugin's iptables chain (the config's \"chain\")")->required();
  migrate->add_option("--network", network, "the network name the mappings belong to");
  migrate->add_option("--config", config_file, "the network config (gives network, chain, excludeDevices)");
  migrate->add_option("--ifname", ifname, "the interface the owners are recorded with")->capture_default_str();
  migrate->add_flag("--dry-run", dry_run, "show the plan, change nothing");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, *sys.out, *sys.err);
  }
  if (*list) return cmd_list(sys, as_json, network, container, state_dir);
  if (*check) return cmd_check(sys, config_file, cni_path);
  if (*remove) return cmd_remove(sys, container, network, state_dir);
  if (*gc) return cmd_gc(sys, network, valid, valid_file, state_dir);
  if (*uninstall) return cmd_uninstall(sys, force, state_dir);
  if (*restore) return cmd_restore(sys, state_dir, only_network, dry_run);
  if (*adopt) return cmd_adopt(sys, state_dir, only_network, dry_run);
  if (*watch) return cmd_watch(sys, state_dir, settle_ms);
  if (*migrate) return cmd_migrate(sys, chain, network, ifname, config_file, dry_run);
  return 0;
}

}  // namespace nftpm
