#include <cstdlib>

#include "nftpm/cni.h"
#include "nftpm/owner_tag.h"

namespace nftpm {

std::optional<std::string> process_getenv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

const char* command_name(CniCommand c) {
  switch (c) {
    case CniCommand::kAdd: return "ADD";
    case CniCommand::kDel: return "DEL";
    case CniCommand::kCheck: return "CHECK";
    case CniCommand::kVersion: return "VERSION";
    case CniCommand::kGc: return "GC";
    case CniCommand::kStatus: return "STATUS";
  }
  return "?";
}

Result<CniCommand> parse_cni_command(const std::string& verb) {
  for (CniCommand c : {CniCommand::kAdd, CniCommand::kDel, CniCommand::kCheck, CniCommand::kVersion, CniCommand::kGc,
                       CniCommand::kStatus}) {
    if (verb == command_name(c)) return c;
  }
  return Error(ErrorCode::kUnsupportedCommand, "unsupported CNI_COMMAND '" + verb + "'",
               "expected one of ADD, DEL, CHECK, VERSION, GC, STATUS");
}

namespace {

Error env_error(const std::string& what) {
  return Error(ErrorCode::kInvalidEnvironment, what);
}

}  // namespace

Result<CniEnv> parse_cni_env(GetEnv getenv_fn) {
  CniEnv env;
  auto verb = getenv_fn("CNI_COMMAND");
  if (!verb || verb->empty()) return env_error("CNI_COMMAND is not set");
  auto cmd = parse_cni_command(*verb);
  if (!cmd) return cmd.take_error();
  env.command = *cmd;
  env.args = getenv_fn("CNI_ARGS");
  env.sys_path = getenv_fn("PATH");
  if (env.command == CniCommand::kVersion) return env;

  if (auto p = getenv_fn("CNI_PATH"); p) {
    size_t start = 0;
    while (start <= p->size()) {
      size_t end = p->find(':', start);
      if (end == std::string::npos) end = p->size();
      std::string dir = p->substr(start, end - start);
      if (!dir.empty()) env.path.push_back(dir);
      start = end + 1;
    }
  }
  // GC and STATUS concern the network, not one container.
  if (env.command == CniCommand::kGc || env.command == CniCommand::kStatus) return env;

  auto id = getenv_fn("CNI_CONTAINERID");
  if (!id || id->empty()) return env_error("CNI_CONTAINERID is not set");
  if (!valid_container_id(*id)) {
    return Error(ErrorCode::kInvalidEnvironment, "CNI_CONTAINERID is not a valid container ID",
                 "a container ID is 1-200 characters of letters, digits, '_', '.' and '-', "
                 "starting with a letter or digit");
  }
  env.container_id = *id;

  auto ifname = getenv_fn("CNI_IFNAME");
  if (!ifname || ifname->empty()) return env_error("CNI_IFNAME is not set");
  if (!valid_ifname(*ifname)) return env_error("CNI_IFNAME is not a valid interface name");
  env.ifname = *ifname;

  auto netns = getenv_fn("CNI_NETNS");
  if (netns && !netns->empty()) env.netns = *netns;
  // DEL may come after the namespace is gone; ADD and CHECK need it.
  if (!env.netns && (env.command == CniCommand::kAdd || env.command == CniCommand::kCheck)) {
    return env_error("CNI_NETNS is not set");
  }
  if (env.netns && (*env.netns)[0] != '/') return env_error("CNI_NETNS is not an absolute path");
  return env;
}

}  // namespace nftpm
