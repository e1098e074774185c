#include "nftpm/iptables_migration.h"

#include <sstream>

namespace nftpm {

std::vector<std::string> split_rule_words(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_quotes = false, have = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\\' && i + 1 < line.size()) {
      cur += line[++i];
      have = true;
    } else if (c == '"') {
      in_quotes = !in_quotes;
      have = true;
    } else if (c == ' ' && !in_quotes) {
      if (have) out.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push_back(cur);
  return out;
}

namespace {

std::string value_after(const std::vector<std::string>& w, const std::string& flag) {
  for (size_t i = 0; i + 1 < w.size(); ++i) {
    if (w[i] == flag) return w[i + 1];
  }
  return {};
}

bool parse_port(const std::string& s, uint16_t* out) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  long v = std::stol(s);
  if (v < 1 || v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

OldPluginRules parse_old_plugin_rules(const std::string& iptables_save, const std::string& chain) {
  OldPluginRules r;
  r.chain = chain;
  std::istringstream in(iptables_save);
  std::string line;
  bool in_nat = false;
  while (std::getline(in, line)) {
    if (line.rfind('*', 0) == 0) in_nat = line == "*nat";
    if (!in_nat || line.rfind("-A ", 0) != 0) continue;
    auto w = split_rule_words(line);
    if (w.size() < 2) continue;
    const std::string& in_chain = w[1];
    if ((in_chain == "PREROUTING" || in_chain == "OUTPUT") && value_after(w, "-j") == chain) {
      r.jump_rules.push_back(line);
      for (size_t i = 0; i + 2 < w.size(); ++i) {
        if (w[i] == "!" && w[i + 1] == "-i") r.excluded.push_back(w[i + 2]);
      }
      continue;
    }
    if (in_chain != chain) continue;
    // -A CHAIN [! -i DEV] -p tcp -m tcp --dport 8080 -m comment --comment "container_id: ID"
    //   -j DNAT --to-destination 10.1.0.5:80
    OldMapping m;
    std::string comment = value_after(w, "--comment");
    const std::string prefix = "container_id: ";
    std::string to = value_after(w, "--to-destination");
    auto proto = parse_protocol(value_after(w, "-p"));
    size_t colon = to.rfind(':');
    if (comment.rfind(prefix, 0) != 0 || value_after(w, "-j") != "DNAT" || !proto || colon == std::string::npos ||
        !parse_port(value_after(w, "--dport"), &m.mapping.host_port) ||
        !parse_port(to.substr(colon + 1), &m.mapping.container_port)) {
      r.unparsed.push_back(line);
      continue;
    }
    m.container_id = comment.substr(prefix.size());
    m.mapping.protocol = *proto;
    m.container_ip = to.substr(0, colon);
    r.mappings.push_back(m);
  }
  return r;
}

std::string removal_script(const OldPluginRules& r) {
  std::string s = "*nat\n";
  for (const auto& j : r.jump_rules) s += "-D" + j.substr(2) + "\n";
  s += "-F " + r.chain + "\n-X " + r.chain + "\nCOMMIT\n";
  return s;
}

}  // namespace nftpm
