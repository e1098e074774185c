// The Nftables interface over a netfilter netlink socket, with libmnl for the socket and
// libnftnl for the nf_tables message formats. Every libnftnl/libmnl object is owned by a
// unique_ptr with its own deleter.
//
// Design notes:
// - A batch is processed by the kernel synchronously inside sendmsg(), so when sendto() returns
//   every ack and error is already queued on our socket; we drain it without blocking (as nft
//   does). NETLINK_CAP_ACK keeps error messages small; NETLINK_EXT_ACK adds the kernel's words.
// - The batch-begin message carries NFNL_BATCH_GENID when the caller read the ruleset first: the
//   kernel refuses the whole batch with ERESTART if another process committed in between.
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string_view>
#include <vector>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nftnl_handles.h"
#include "nftpm/deferred_close.h"
#include "nftpm/layout.h"
#include "nftpm/nft.h"

namespace nftpm {
namespace {

constexpr uint16_t kFamily = NFPROTO_INET;
constexpr uint32_t kTypeInetProto = 12, kTypeInetService = 13, kTypeIpv4 = 7, kTypeIpv6 = 8, kTypeIfname = 41;
constexpr uint32_t kTypeBits = 6;  // nft's concatenated type ids: (a << 6) | b
constexpr uint32_t kRegVerdict = NFT_REG_VERDICT, kReg1 = NFT_REG_1, kReg2 = NFT_REG_2, kReg32_01 = NFT_REG32_01;

// The error of a netlink ack or error message (0: an ack); EPROTO for one too short to hold it,
// whose bytes past its end are not its own.
int ack_error(const nlmsghdr* m) {
  if (m->nlmsg_len < NLMSG_LENGTH(sizeof(int))) return EPROTO;
  return -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(m))->error;
}

Error nft_error(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  std::string details;
  if (err == EPERM || err == EACCES) {
    details = "programming nftables needs CAP_NET_ADMIN in the network namespace";
  } else if (err == EOPNOTSUPP || err == EAFNOSUPPORT || err == EPROTONOSUPPORT) {
    details =
        "the kernel lacks an nftables feature this plugin needs (inet NAT needs Linux 5.2 or later, "
        "with nf_tables, nft_nat, nft_fib_inet, nft_chain_nat)";
  }
  return Error(ErrorCode::kNftablesFailure, msg, details);
}

// --- building messages -----------------------------------------------------------------------

void set_elem_comment(nftnl_set_elem* e, const std::string& comment) {
  if (comment.empty()) return;
  UdataPtr buf(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
  nftnl_udata_put_strz(buf.get(), NFTNL_UDATA_SET_ELEM_COMMENT, comment.c_str());
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(buf.get()), nftnl_udata_buf_len(buf.get()));
}

SetPtr make_set_ref(const std::string& table, const std::string& name) {
  SetPtr s(nftnl_set_alloc());
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, name.c_str());
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, kFamily);
  return s;
}

void add_elem(nftnl_set* s, const NftElement& el, bool with_value) {
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, el.key.data(), el.key.size());
  if (with_value) {
    if (!el.data.empty()) {
      nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, el.data.data(), el.data.size());
    }
    set_elem_comment(e, el.comment);
  }
  nftnl_set_elem_add(s, e);
}

nftnl_expr* expr_meta(uint32_t key, uint32_t dreg) {
  nftnl_expr* e = nftnl_expr_alloc("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
  return e;
}

nftnl_expr* expr_cmp_eq(uint32_t sreg, const void* data, uint32_t len) {
  nftnl_expr* e = nftnl_expr_alloc("cmp");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
  nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
  return e;
}

nftnl_expr* expr_payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg) {
  nftnl_expr* p = nftnl_expr_alloc("payload");
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_BASE, base);
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_LEN, len);
  nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_DREG, dreg);
  return p;
}

nftnl_expr* expr_lookup(const std::string& set, uint32_t sreg, std::optional<uint32_t> dreg) {
  nftnl_expr* e = nftnl_expr_alloc("lookup");
  nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.c_str());
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
  if (dreg) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, *dreg);
  return e;
}

nftnl_expr* expr_verdict(int verdict) {
  nftnl_expr* imm = nftnl_expr_alloc("immediate");
  nftnl_expr_set_u32(imm, NFTNL_EXPR_IMM_DREG, kRegVerdict);
  nftnl_expr_set_u32(imm, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(verdict));
  return imm;
}

// Register layout of the concatenated keys, as nft lays them out: each field starts on a 32-bit
// register; NFT_REG_1 spans the first 16 bytes.
enum class KeyShape { kProtoPort, kAddr4ProtoPort, kAddr6ProtoPort };

void add_key(nftnl_rule* r, KeyShape shape) {
  switch (shape) {
    case KeyShape::kProtoPort:  // l4proto: reg 1; dport: reg32_01
      nftnl_rule_add_expr(r, expr_meta(NFT_META_L4PROTO, kReg1));
      nftnl_rule_add_expr(r, expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, kReg32_01));
      break;
    case KeyShape::kAddr4ProtoPort:  // ip daddr: reg 1; l4proto: reg32_01; dport: reg32_02
      nftnl_rule_add_expr(r, expr_payload(NFT_PAYLOAD_NETWORK_HEADER, 16, 4, kReg1));
      nftnl_rule_add_expr(r, expr_meta(NFT_META_L4PROTO, kReg32_01));
      nftnl_rule_add_expr(r, expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_02));
      break;
    case KeyShape::kAddr6ProtoPort:  // ip6 daddr: reg 1 (16 bytes); l4proto: reg 2; dport: reg32_05
      nftnl_rule_add_expr(r, expr_payload(NFT_PAYLOAD_NETWORK_HEADER, 24, 16, kReg1));
      nftnl_rule_add_expr(r, expr_meta(NFT_META_L4PROTO, kReg2));
      nftnl_rule_add_expr(r, expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_05));
      break;
  }
}

void add_nfproto(nftnl_rule* r, uint8_t nfproto) {
  nftnl_rule_add_expr(r, expr_meta(NFT_META_NFPROTO, kReg1));
  nftnl_rule_add_expr(r, expr_cmp_eq(kReg1, &nfproto, sizeof nfproto));
}

void add_fib_daddr_local(nftnl_rule* r) {
  nftnl_expr* fib = nftnl_expr_alloc("fib");
  nftnl_expr_set_u32(fib, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
  nftnl_expr_set_u32(fib, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
  nftnl_expr_set_u32(fib, NFTNL_EXPR_FIB_DREG, kReg1);
  nftnl_rule_add_expr(r, fib);
  uint32_t local = 2;  // RTN_LOCAL
  nftnl_rule_add_expr(r, expr_cmp_eq(kReg1, &local, sizeof local));
}

// ct status & dnat != 0
void add_ct_status_dnat(nftnl_rule* r) {
  nftnl_expr* ct = nftnl_expr_alloc("ct");
  nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_KEY, NFT_CT_STATUS);
  nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_DREG, kReg1);
  nftnl_rule_add_expr(r, ct);
  uint32_t mask = IPS_DST_NAT, zero = 0;
  nftnl_expr* b = nftnl_expr_alloc("bitwise");
  nftnl_expr_set_u32(b, NFTNL_EXPR_BITWISE_SREG, kReg1);
  nftnl_expr_set_u32(b, NFTNL_EXPR_BITWISE_DREG, kReg1);
  nftnl_expr_set_u32(b, NFTNL_EXPR_BITWISE_LEN, sizeof mask);
  nftnl_expr_set(b, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof mask);
  nftnl_expr_set(b, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof zero);
  nftnl_rule_add_expr(r, b);
  nftnl_expr* c = nftnl_expr_alloc("cmp");
  nftnl_expr_set_u32(c, NFTNL_EXPR_CMP_SREG, kReg1);
  nftnl_expr_set_u32(c, NFTNL_EXPR_CMP_OP, NFT_CMP_NEQ);
  nftnl_expr_set(c, NFTNL_EXPR_CMP_DATA, &zero, sizeof zero);
  nftnl_rule_add_expr(r, c);
}

// meta iifname/oifname != "lo"
void add_not_loopback(nftnl_rule* r, uint32_t meta_key) {
  nftnl_rule_add_expr(r, expr_meta(meta_key, kReg1));
  char lo[IFNAMSIZ] = "lo";
  nftnl_expr* c = nftnl_expr_alloc("cmp");
  nftnl_expr_set_u32(c, NFTNL_EXPR_CMP_SREG, kReg1);
  nftnl_expr_set_u32(c, NFTNL_EXPR_CMP_OP, NFT_CMP_NEQ);
  nftnl_expr_set(c, NFTNL_EXPR_CMP_DATA, lo, sizeof lo);
  nftnl_rule_add_expr(r, c);
}

// ip saddr/daddr (offset 12/16) or ip6 saddr/daddr (offset 8/24) in @set
void add_addr_in_set(nftnl_rule* r, bool v6, bool source, const std::string& set) {
  uint32_t off = v6 ? (source ? 8 : 24) : (source ? 12 : 16);
  nftnl_rule_add_expr(r, expr_payload(NFT_PAYLOAD_NETWORK_HEADER, off, v6 ? 16 : 4, kReg1));
  nftnl_rule_add_expr(r, expr_lookup(set, kReg1, std::nullopt));
}

// first byte of ip saddr/daddr == 127
void add_ip_loopback_net(nftnl_rule* r, bool source) {
  nftnl_rule_add_expr(r, expr_payload(NFT_PAYLOAD_NETWORK_HEADER, source ? 12 : 16, 1, kReg1));
  uint8_t net = 127;
  nftnl_rule_add_expr(r, expr_cmp_eq(kReg1, &net, sizeof net));
}

void add_dnat(nftnl_rule* r, bool v6, const std::string& map, KeyShape key) {
  add_nfproto(r, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
  add_key(r, key);
  nftnl_rule_add_expr(r, expr_lookup(map, kReg1, kReg1));
  nftnl_expr* nat = nftnl_expr_alloc("nat");
  nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
  nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_FAMILY, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
  nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_REG_ADDR_MIN, kReg1);
  // The port follows the address in the map's data: after 4 bytes (v4) or 16 (v6).
  nftnl_expr_set_u32(nat, NFTNL_EXPR_NAT_REG_PROTO_MIN, v6 ? kReg2 : kReg32_01);
  nftnl_rule_add_expr(r, nat);
}

void build_rule_exprs(nftnl_rule* r, const NftRule& rule) {
  switch (rule.kind) {
    case RuleKind::kJump: {
      add_fib_daddr_local(r);
      nftnl_expr* imm = nftnl_expr_alloc("immediate");
      nftnl_expr_set_u32(imm, NFTNL_EXPR_IMM_DREG, kRegVerdict);
      nftnl_expr_set_u32(imm, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(NFT_JUMP));
      nftnl_expr_set_str(imm, NFTNL_EXPR_IMM_CHAIN, rule.target.c_str());
      nftnl_rule_add_expr(r, imm);
      break;
    }
    case RuleKind::kExclude:
      nftnl_rule_add_expr(r, expr_meta(NFT_META_IIFNAME, kReg1));
      nftnl_rule_add_expr(r, expr_lookup(rule.set, kReg1, std::nullopt));
      nftnl_rule_add_expr(r, expr_verdict(NFT_RETURN));
      break;
    case RuleKind::kSkipLoopback6: {
      add_nfproto(r, NFPROTO_IPV6);
      nftnl_rule_add_expr(r, expr_payload(NFT_PAYLOAD_NETWORK_HEADER, 24, 16, kReg1));  // ip6 daddr
      in6_addr loopback = IN6ADDR_LOOPBACK_INIT;
      nftnl_rule_add_expr(r, expr_cmp_eq(kReg1, &loopback, sizeof loopback));
      nftnl_rule_add_expr(r, expr_verdict(NFT_RETURN));
      break;
    }
    case RuleKind::kDnatV4: add_dnat(r, false, rule.set, KeyShape::kProtoPort); break;
    case RuleKind::kDnatV6: add_dnat(r, true, rule.set, KeyShape::kProtoPort); break;
    case RuleKind::kDnatV4Bound: add_dnat(r, false, rule.set, KeyShape::kAddr4ProtoPort); break;
    case RuleKind::kDnatV6Bound: add_dnat(r, true, rule.set, KeyShape::kAddr6ProtoPort); break;
    case RuleKind::kHairpin4:
    case RuleKind::kHairpin6:
    case RuleKind::kMasqAll4:
    case RuleKind::kMasqAll6: {
      bool v6 = rule.kind == RuleKind::kHairpin6 || rule.kind == RuleKind::kMasqAll6;
      bool hairpin = rule.kind == RuleKind::kHairpin4 || rule.kind == RuleKind::kHairpin6;
      add_ct_status_dnat(r);
      add_nfproto(r, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
      if (hairpin) add_addr_in_set(r, v6, /*source=*/true, rule.set);
      add_addr_in_set(r, v6, /*source=*/false, rule.set);
      nftnl_rule_add_expr(r, nftnl_expr_alloc("masq"));
      break;
    }
    case RuleKind::kMasqLocalhost:
      add_not_loopback(r, NFT_META_OIFNAME);
      add_ct_status_dnat(r);
      add_nfproto(r, NFPROTO_IPV4);
      add_ip_loopback_net(r, /*source=*/true);
      nftnl_rule_add_expr(r, nftnl_expr_alloc("masq"));
      break;
    case RuleKind::kLocalnetGuard:
      add_not_loopback(r, NFT_META_IIFNAME);
      add_nfproto(r, NFPROTO_IPV4);
      add_ip_loopback_net(r, /*source=*/false);
      nftnl_rule_add_expr(r, expr_verdict(NF_DROP));
      break;
  }
}

void set_set_kind(nftnl_set* s, SetKind kind) {
  auto concat = [](std::initializer_list<uint32_t> types) {
    uint32_t t = 0;
    for (uint32_t x : types) t = (t << kTypeBits) | x;
    return t;
  };
  struct Shape {
    uint32_t key_type, key_len, data_type, data_len;
    bool map;
  };
  const uint32_t proto_port = concat({kTypeInetProto, kTypeInetService});
  const uint32_t v4_proto_port = concat({kTypeIpv4, kTypeInetProto, kTypeInetService});
  const uint32_t v6_proto_port = concat({kTypeIpv6, kTypeInetProto, kTypeInetService});
  const uint32_t v4_target = concat({kTypeIpv4, kTypeInetService});
  const uint32_t v6_target = concat({kTypeIpv6, kTypeInetService});
  Shape sh{};
  switch (kind) {
    case SetKind::kPortSet: sh = {proto_port, 8, 0, 0, false}; break;
    case SetKind::kPortSet4: sh = {v4_proto_port, 12, 0, 0, false}; break;
    case SetKind::kPortSet6: sh = {v6_proto_port, 24, 0, 0, false}; break;
    case SetKind::kIfnameSet: sh = {kTypeIfname, IFNAMSIZ, 0, 0, false}; break;
    case SetKind::kMapV4: sh = {proto_port, 8, v4_target, 8, true}; break;
    case SetKind::kMapV6: sh = {proto_port, 8, v6_target, 20, true}; break;
    case SetKind::kMapV4Bound: sh = {v4_proto_port, 12, v4_target, 8, true}; break;
    case SetKind::kMapV6Bound: sh = {v6_proto_port, 24, v6_target, 20, true}; break;
    case SetKind::kAddrSet4: sh = {kTypeIpv4, 4, 0, 0, false}; break;
    case SetKind::kAddrSet6: sh = {kTypeIpv6, 16, 0, 0, false}; break;
  }
  if (kind == SetKind::kIfnameSet) {
    // nft prints a key in the byte order the set's userdata names; an interface name is a
    // host-order string (BYTEORDER_HOST_ENDIAN = 1), else `nft list` shows "" for every device.
    UdataPtr ud(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    nftnl_udata_put_u32(ud.get(), NFTNL_UDATA_SET_KEYBYTEORDER, 1);
    nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud.get()), nftnl_udata_buf_len(ud.get()));
  }
  nftnl_set_set_u32(s, NFTNL_SET_FLAGS, sh.map ? NFT_SET_MAP : 0);
  nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, sh.key_type);
  nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, sh.key_len);
  if (sh.map) {
    nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, sh.data_type);
    nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, sh.data_len);
  }
}

// --- reading messages --------------------------------------------------------------------------

struct UdataComment {
  const char* value = nullptr;
};

int udata_cb(const nftnl_udata* attr, void* data) {
  if (nftnl_udata_type(attr) == NFTNL_UDATA_SET_ELEM_COMMENT) {
    const char* v = static_cast<const char*>(nftnl_udata_get(attr));
    uint8_t len = nftnl_udata_len(attr);
    if (len > 0 && v[len - 1] == '\0') static_cast<UdataComment*>(data)->value = v;
  }
  return MNL_CB_OK;
}

NftElement element_from(nftnl_set_elem* e, const std::string& set) {
  NftElement out;
  out.set = set;
  uint32_t len = 0;
  if (const void* k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len); k && len) {
    out.key.assign(static_cast<const uint8_t*>(k), static_cast<const uint8_t*>(k) + len);
  }
  if (const void* d = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &len); d && len) {
    out.data.assign(static_cast<const uint8_t*>(d), static_cast<const uint8_t*>(d) + len);
  }
  if (const void* u = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len); u && len) {
    UdataComment c;
    nftnl_udata_parse(u, len, udata_cb, &c);
    if (c.value) out.comment = c.value;
  }
  return out;
}

// One message of a batch per operation, built at `at` with sequence number `seq`.

void build_table_message(char* at, const std::string& table, uint32_t seq) {
  TablePtr t(nftnl_table_alloc());
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, table.c_str());
  nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, 0);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, NFT_MSG_NEWTABLE, kFamily, NLM_F_CREATE | NLM_F_ACK, seq);
  nftnl_table_nlmsg_build_payload(nlh, t.get());
}

void build_delete_table_message(char* at, const std::string& table, uint32_t seq) {
  TablePtr t(nftnl_table_alloc());
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, table.c_str());
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, NFT_MSG_DELTABLE, kFamily, NLM_F_ACK, seq);
  nftnl_table_nlmsg_build_payload(nlh, t.get());
}

void build_chain_message(char* at, const std::string& table, const NftTransaction::Op& op, uint32_t seq) {
  ChainPtr c(nftnl_chain_alloc());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, op.chain.name.c_str());
  if (op.chain.hook) {
    uint32_t hook = *op.chain.hook == Hook::kPrerouting ? NF_INET_PRE_ROUTING
                    : *op.chain.hook == Hook::kOutput   ? NF_INET_LOCAL_OUT
                                                        : NF_INET_POST_ROUTING;
    nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, hook);
    nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, op.chain.priority);
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, op.chain.filter ? "filter" : "nat");
    nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
  }
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, NFT_MSG_NEWCHAIN, kFamily, NLM_F_CREATE | NLM_F_ACK, seq);
  nftnl_chain_nlmsg_build_payload(nlh, c.get());
}

void build_set_message(char* at, const std::string& table, const NftTransaction::Op& op, uint32_t seq,
                       uint32_t set_id) {
  SetPtr s = make_set_ref(table, op.set.name);
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, set_id);
  set_set_kind(s.get(), op.set.kind);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, NFT_MSG_NEWSET, kFamily, NLM_F_CREATE | NLM_F_ACK, seq);
  nftnl_set_nlmsg_build_payload(nlh, s.get());
}

void build_flush_chain_message(char* at, const std::string& table, const NftTransaction::Op& op, uint32_t seq) {
  RulePtr r(nftnl_rule_alloc());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, op.chain.name.c_str());
  nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, kFamily);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, NFT_MSG_DELRULE, kFamily, NLM_F_ACK, seq);
  nftnl_rule_nlmsg_build_payload(nlh, r.get());
}

void build_rule_message(char* at, const std::string& table, const NftTransaction::Op& op, uint32_t seq) {
  RulePtr r(nftnl_rule_alloc());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, op.rule.chain.c_str());
  nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, kFamily);
  build_rule_exprs(r.get(), op.rule);
  // Without NLM_F_APPEND (and no position) the kernel inserts the rule at the chain's head.
  uint16_t where = op.rule.at_head ? 0 : NLM_F_APPEND;
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, NFT_MSG_NEWRULE, kFamily, NLM_F_CREATE | where | NLM_F_ACK, seq);
  nftnl_rule_nlmsg_build_payload(nlh, r.get());
}

void build_elements_message(char* at, const std::string& table, const NftTransaction::Op& op, uint32_t seq) {
  bool del = op.type == NftTransaction::OpType::kDeleteElements;
  SetPtr s = make_set_ref(table, op.elements.front().set);
  for (const auto& e : op.elements) add_elem(s.get(), e, !del);
  uint16_t flags = NLM_F_ACK;
  if (!del) flags |= NLM_F_CREATE;
  if (op.type == NftTransaction::OpType::kCreateElements) flags |= NLM_F_EXCL;
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(at, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM, kFamily, flags, seq);
  nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
}

// `set_id` numbers the sets a batch adds (each needs its own).
void build_message(char* at, const std::string& table, const NftTransaction::Op& op, uint32_t seq, uint32_t* set_id) {
  switch (op.type) {
    case NftTransaction::OpType::kAddTable: return build_table_message(at, table, seq);
    case NftTransaction::OpType::kDeleteTable: return build_delete_table_message(at, table, seq);
    case NftTransaction::OpType::kAddChain: return build_chain_message(at, table, op, seq);
    case NftTransaction::OpType::kAddSet: return build_set_message(at, table, op, seq, ++*set_id);
    case NftTransaction::OpType::kFlushChain: return build_flush_chain_message(at, table, op, seq);
    case NftTransaction::OpType::kAddRule: return build_rule_message(at, table, op, seq);
    case NftTransaction::OpType::kCreateElements:
    case NftTransaction::OpType::kAddElements:
    case NftTransaction::OpType::kDeleteElements: return build_elements_message(at, table, op, seq);
  }
}

// Room for one element in a message: key, data, comment and their headers.
constexpr size_t kMaxElementBytes = 300;
// Element lookups (NetlinkNftables::get_elements): keys to a datagram, and room for an answer.
constexpr size_t kLookupChunk = 64;
constexpr size_t kLookupAnswerBytes = 2048;  // one element (well under 1 KiB) or a capped error

// GETSETELEM requests for keys of one set: indexes into the caller's refs.
struct LookupAsk {
  std::vector<size_t> keys;
  size_t answered = 0;
  bool done = false;
};

// A lookup's buffers, set up once per get_elements: requests, and one answer a datagram, which
// recvmmsg takes a chunk's worth at a time. Left uninitialised: only what is written is touched
// (peak RSS is a budget); a truncated answer is refused.
struct LookupBuffers {
  std::unique_ptr<char[]> tx = std::make_unique_for_overwrite<char[]>(kLookupChunk * (512 + kMaxElementBytes));
  std::unique_ptr<char[]> rx = std::make_unique_for_overwrite<char[]>(kLookupChunk * kLookupAnswerBytes);
  std::vector<mmsghdr> msgs = std::vector<mmsghdr>(kLookupChunk);
  std::vector<iovec> iovs = std::vector<iovec>(kLookupChunk);
  std::vector<sockaddr_nl> senders = std::vector<sockaddr_nl>(kLookupChunk);

  LookupBuffers() {
    for (size_t i = 0; i < kLookupChunk; ++i) {
      iovs[i] = {rx.get() + i * kLookupAnswerBytes, kLookupAnswerBytes};
      msgs[i].msg_hdr = msghdr{};
      msgs[i].msg_hdr.msg_name = &senders[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_nl);
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }
  LookupBuffers(const LookupBuffers&) = delete;
  LookupBuffers& operator=(const LookupBuffers&) = delete;
};

class NetlinkNftables : public Nftables {
 public:
  explicit NetlinkNftables(SocketPtr sock) : sock_(std::move(sock)), portid_(mnl_socket_get_portid(sock_.get())) {}

  Result<uint32_t> generation() override {
    uint32_t gen = 0;
    auto s = request(
        NFT_MSG_GETGEN, 0, [](nlmsghdr*) {},
        [&](const nlmsghdr* nlh) {
          GenPtr g(nftnl_gen_alloc());
          if (nftnl_gen_nlmsg_parse(nlh, g.get()) == 0) gen = nftnl_gen_get_u32(g.get(), NFTNL_GEN_ID);
        },
        AF_UNSPEC);
    if (!s.first) return nft_error("reading the nftables generation", s.second);
    return gen;
  }

  Result<std::optional<TableContents>> list_table(const std::string& table) override {
    auto t = request(
        NFT_MSG_GETTABLE, 0,
        [&](nlmsghdr* nlh) {
          TablePtr tb(nftnl_table_alloc());
          nftnl_table_set_str(tb.get(), NFTNL_TABLE_NAME, table.c_str());
          nftnl_table_nlmsg_build_payload(nlh, tb.get());
        },
        [](const nlmsghdr*) {});
    if (!t.first && t.second == ENOENT) return std::optional<TableContents>();
    if (!t.first) return nft_error("reading table " + table, t.second);

    TableContents c;
    auto chains = request(
        NFT_MSG_GETCHAIN, NLM_F_DUMP,
        [&](nlmsghdr* nlh) {
          ChainPtr ch(nftnl_chain_alloc());
          nftnl_chain_set_str(ch.get(), NFTNL_CHAIN_TABLE, table.c_str());
          nftnl_chain_nlmsg_build_payload(nlh, ch.get());
        },
        [&](const nlmsghdr* nlh) {
          ChainPtr ch(nftnl_chain_alloc());
          if (nftnl_chain_nlmsg_parse(nlh, ch.get()) < 0) return;
          if (table == nftnl_chain_get_str(ch.get(), NFTNL_CHAIN_TABLE))
            c.chains.insert(nftnl_chain_get_str(ch.get(), NFTNL_CHAIN_NAME));
        });
    if (!chains.first) return nft_error("listing the chains of " + table, chains.second);
    auto sets = request(
        NFT_MSG_GETSET, NLM_F_DUMP,
        [&](nlmsghdr* nlh) {
          SetPtr s = make_set_ref(table, "");
          nftnl_set_unset(s.get(), NFTNL_SET_NAME);
          nftnl_set_nlmsg_build_payload(nlh, s.get());
        },
        [&](const nlmsghdr* nlh) {
          SetPtr s(nftnl_set_alloc());
          if (nftnl_set_nlmsg_parse(nlh, s.get()) < 0) return;
          if (table == nftnl_set_get_str(s.get(), NFTNL_SET_TABLE))
            c.sets.insert(nftnl_set_get_str(s.get(), NFTNL_SET_NAME));
        });
    if (!sets.first) return nft_error("listing the sets of " + table, sets.second);
    // How many rules each chain holds: a chain someone flushed is whole again only with its rules.
    auto rules = request(
        NFT_MSG_GETRULE, NLM_F_DUMP,
        [&](nlmsghdr* nlh) {
          RulePtr r(nftnl_rule_alloc());
          nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
          nftnl_rule_nlmsg_build_payload(nlh, r.get());
        },
        [&](const nlmsghdr* nlh) {
          // Only the names are read (with libmnl): the expressions are not ours to parse.
          std::string in_table, ch;
          const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
          for (auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)));
               mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr)));
               attr = mnl_attr_next(attr)) {
            auto type = mnl_attr_get_type(attr);
            if ((type != NFTA_RULE_TABLE && type != NFTA_RULE_CHAIN) ||
                mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
              continue;
            (type == NFTA_RULE_TABLE ? in_table : ch) = mnl_attr_get_str(attr);
          }
          if (in_table == table && !ch.empty()) ++c.rules[ch];
        });
    if (!rules.first) return nft_error("listing the rules of " + table, rules.second);
    return std::optional<TableContents>(c);
  }

  Result<std::optional<NftElement>> get_element(const std::string& table, const std::string& set,
                                                const Bytes& key) override {
    std::optional<NftElement> found;
    NftElement probe{set, key, {}, {}};
    auto r = request(
        NFT_MSG_GETSETELEM, 0,
        [&](nlmsghdr* nlh) {
          SetPtr s = make_set_ref(table, set);
          add_elem(s.get(), probe, false);
          nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
        },
        [&](const nlmsghdr* nlh) { collect_elements(nlh, set, [&](NftElement e) { found = std::move(e); }); });
    if (!r.first && r.second == ENOENT) return std::optional<NftElement>();
    if (!r.first) return nft_error("reading an element of " + set, r.second);
    return found;
  }

  Result<std::vector<std::optional<NftElement>>> get_elements(const std::string& table,
                                                              const std::vector<NftElement>& refs) override {
    // A GETSETELEM may list many keys of one set: the kernel answers each with a message of its
    // own, in order, and stops at the first key it does not find with one error (ENOENT), without
    // looking at the keys after it. So the keys of a set go many to a message; after a miss, the
    // rest of that message's keys are asked again one to a message (misses are rare on DEL, where
    // this matters, and the work stays linear when they are not).
    LookupBuffers io;
    std::vector<std::optional<NftElement>> out(refs.size());
    std::vector<size_t> rest;  // keys after a miss
    std::vector<LookupAsk> asks;
    for (size_t from = 0; from < refs.size(); from += kLookupChunk) {
      // The chunk's keys by set, each set's in their order.
      asks.clear();
      std::map<std::string_view, size_t> ask_of_set;
      for (size_t i = from; i < std::min(from + kLookupChunk, refs.size()); ++i) {
        auto [it, fresh] = ask_of_set.try_emplace(refs[i].set, asks.size());
        if (fresh) asks.emplace_back();
        asks[it->second].keys.push_back(i);
      }
      NFTPM_TRY(ask_elements(table, refs, asks, io, out, rest));
    }
    std::vector<size_t> none;  // a one-key message has no keys after its miss
    for (size_t from = 0; from < rest.size(); from += kLookupChunk) {
      asks.clear();
      for (size_t i = from; i < std::min(from + kLookupChunk, rest.size()); ++i) asks.push_back(LookupAsk{{rest[i]}});
      NFTPM_TRY(ask_elements(table, refs, asks, io, out, none));
    }
    return out;
  }

  Result<std::vector<NftElement>> list_elements(const std::string& table, const std::string& set) override {
    std::vector<NftElement> out;
    auto r = request(
        NFT_MSG_GETSETELEM, NLM_F_DUMP,
        [&](nlmsghdr* nlh) {
          SetPtr s = make_set_ref(table, set);
          nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
        },
        [&](const nlmsghdr* nlh) { collect_elements(nlh, set, [&](NftElement e) { out.push_back(std::move(e)); }); });
    if (!r.first && r.second == ENOENT) return std::vector<NftElement>();
    if (!r.first) return nft_error("listing the elements of " + set, r.second);
    return out;
  }

  Result<CommitOutcome> commit(const NftTransaction& tx, std::optional<uint32_t> genid) override {
    return send_batch(tx, genid, /*end=*/true);
  }
  Result<CommitOutcome> dry_run(const NftTransaction& tx) override {
    // A batch without its END message is checked message by message and then aborted.
    return send_batch(tx, std::nullopt, /*end=*/false);
  }

 private:
  // One datagram holding a GETSETELEM per ask (kLookupChunk keys at most: the kernel queues every
  // answer before sendto() returns, and that many fit the receive buffer), and its answers into
  // `out`. Requests carry no NLM_F_ACK, so an ask is done when each of its keys is answered or its
  // error arrives; the keys after a missing one go to `rest`.
  Status ask_elements(const std::string& table, const std::vector<NftElement>& refs, std::vector<LookupAsk>& asks,
                      LookupBuffers& io, std::vector<std::optional<NftElement>>& out, std::vector<size_t>& rest) {
    uint32_t first = seq_ + 1;
    size_t len = 0;
    for (const LookupAsk& a : asks) {
      auto* nlh = nftnl_nlmsg_build_hdr(io.tx.get() + len, NFT_MSG_GETSETELEM, kFamily, 0, ++seq_);
      SetPtr s = make_set_ref(table, refs[a.keys.front()].set);
      for (size_t k : a.keys) add_elem(s.get(), NftElement{refs[k].set, refs[k].key, {}, {}}, false);
      nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
      len += NLMSG_ALIGN(nlh->nlmsg_len);
    }
    if (mnl_socket_sendto(sock_.get(), io.tx.get(), len) < 0) return nft_error("looking up elements", errno);
    int fd = mnl_socket_get_fd(sock_.get());
    for (size_t open = asks.size(); open > 0;) {
      int count = recvmmsg(fd, io.msgs.data(), static_cast<unsigned>(kLookupChunk), MSG_WAITFORONE, nullptr);
      if (count < 0 && errno == EINTR) continue;
      if (count < 0) return nft_error("looking up elements", errno);
      for (int d = 0; d < count; ++d) {
        io.msgs[d].msg_hdr.msg_namelen = sizeof(sockaddr_nl);  // (recvmmsg wrote it; reset for the next call)
        if (io.senders[d].nl_pid != 0) continue;               // the kernel's answers only
        if (io.msgs[d].msg_hdr.msg_flags & MSG_TRUNC) return nft_error("looking up elements", EMSGSIZE);
        int left = static_cast<int>(io.msgs[d].msg_len);
        for (auto* m = reinterpret_cast<nlmsghdr*>(io.iovs[d].iov_base); mnl_nlmsg_ok(m, left);
             m = mnl_nlmsg_next(m, &left)) {
          if (m->nlmsg_pid != portid_ || m->nlmsg_seq < first || m->nlmsg_seq >= first + asks.size()) continue;
          LookupAsk& a = asks[m->nlmsg_seq - first];
          if (a.done) continue;
          const std::string& set = refs[a.keys.front()].set;
          if (m->nlmsg_type == NLMSG_ERROR) {
            int error = ack_error(m);
            if (error != ENOENT || a.answered >= a.keys.size()) {
              return nft_error("reading an element of " + set, error != 0 && error != ENOENT ? error : EPROTO);
            }
            // keys[answered] is missing; the kernel did not look at the ones after it.
            rest.insert(rest.end(), a.keys.begin() + static_cast<std::ptrdiff_t>(a.answered) + 1, a.keys.end());
            a.done = true;
          } else if (m->nlmsg_type >= NLMSG_MIN_TYPE) {
            bool stray = false;
            collect_elements(m, set, [&](NftElement e) {
              // Answers come in the order asked: one that is not the next key is not ours to take.
              if (a.answered >= a.keys.size() || e.key != refs[a.keys[a.answered]].key) {
                stray = true;
                return;
              }
              out[a.keys[a.answered++]] = std::move(e);
            });
            if (stray) return nft_error("reading the elements of " + set, EPROTO);
            a.done = a.answered == a.keys.size();
          } else {
            continue;
          }
          if (a.done) --open;
        }
      }
    }
    return ok_status();
  }

  // Sends one request and feeds every answer to `on_msg`; returns {ok, errno}. A dump that the
  // kernel marks interrupted (NLM_F_DUMP_INTR: the ruleset changed while it was being read) is
  // drained to its end and asked again, so callers only ever see a consistent answer; the answers
  // are held back until the request completes uninterrupted.
  std::pair<bool, int> request(uint16_t type, uint16_t flags, const std::function<void(nlmsghdr*)>& build,
                               const std::function<void(const nlmsghdr*)>& on_msg, uint16_t family = kFamily) {
    constexpr int kMaxDumpAttempts = 20;
    for (int attempt = 0; attempt < kMaxDumpAttempts; ++attempt) {
      std::vector<std::vector<char>> answers;
      auto [ok, err, interrupted] = request_once(type, flags, build, family, answers);
      if (interrupted) continue;
      if (!ok) return {false, err};
      for (const auto& a : answers) on_msg(reinterpret_cast<const nlmsghdr*>(a.data()));
      return {true, 0};
    }
    return {false, EINTR};
  }

  struct Outcome {
    bool ok;
    int err;
    bool interrupted;
  };

  Outcome request_once(uint16_t type, uint16_t flags, const std::function<void(nlmsghdr*)>& build, uint16_t family,
                       std::vector<std::vector<char>>& answers) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    uint32_t seq = ++seq_;
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), type, family, flags | NLM_F_ACK, seq);
    build(nlh);
    if (mnl_socket_sendto(sock_.get(), nlh, nlh->nlmsg_len) < 0) return {false, errno, false};
    auto rx = receive_buffer();
    bool interrupted = false;
    for (;;) {
      ssize_t n = mnl_socket_recvfrom(sock_.get(), rx.get(), kReceiveBytes);
      if (n < 0) return {false, errno, false};
      int left = static_cast<int>(n);
      for (auto* m = reinterpret_cast<nlmsghdr*>(rx.get()); mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) {
        if (m->nlmsg_seq != seq || m->nlmsg_pid != portid_) continue;  // a leftover of an earlier request
        if (m->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
        if (m->nlmsg_type == NLMSG_DONE) return {!interrupted, 0, interrupted};
        if (m->nlmsg_type == NLMSG_ERROR) {
          int error = ack_error(m);
          return {error == 0 && !interrupted, error, interrupted};
        }
        if (m->nlmsg_type >= NLMSG_MIN_TYPE) {
          answers.emplace_back(reinterpret_cast<const char*>(m), reinterpret_cast<const char*>(m) + m->nlmsg_len);
        }
      }
    }
  }

  // Builds one batch of `tx` (with its end message when `end`; without, the kernel checks and
  // aborts it), sends it and reads its acks.
  Result<CommitOutcome> send_batch(const NftTransaction& tx, std::optional<uint32_t> genid, bool end);
  Result<CommitOutcome> read_acks(uint32_t first_seq, const std::map<uint32_t, size_t>& op_of_seq);

  static void collect_elements(const nlmsghdr* nlh, const std::string& set, const std::function<void(NftElement)>& f) {
    SetPtr s(nftnl_set_alloc());
    if (nftnl_set_elems_nlmsg_parse(nlh, s.get()) < 0) return;
    IterPtr it(nftnl_set_elems_iter_create(s.get()));
    if (!it) return;
    // nftnl_set_elems_iter_next() returns the current element, then advances.
    for (nftnl_set_elem* e; (e = nftnl_set_elems_iter_next(it.get())) != nullptr;) f(element_from(e, set));
  }

  SocketPtr sock_;
  uint32_t portid_;
  uint32_t seq_ = 0;
};

Result<CommitOutcome> NetlinkNftables::send_batch(const NftTransaction& tx, std::optional<uint32_t> genid, bool end) {
  // Size: a fixed part per message plus room per element; a few KiB for small batches.
  size_t size = 4096;
  for (const auto& op : tx.ops()) size += 512 + op.elements.size() * (64 + kMaxElementBytes);
  // Left uninitialised: the size is a bound, and a restore's bound is tens of MB of which only
  // what is written gets touched (zeroing it all cost a 100,000-mapping restore 0.1 s).
  auto buf = std::make_unique_for_overwrite<char[]>(size);
  mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buf.get(), size);
  std::unique_ptr<mnl_nlmsg_batch, void (*)(mnl_nlmsg_batch*)> batch_owner(batch, mnl_nlmsg_batch_stop);

  uint32_t first_seq = seq_ + 1;
  nlmsghdr* begin = nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(batch)), ++seq_);
  if (genid) mnl_attr_put_u32(begin, NFNL_BATCH_GENID, htonl(*genid));
  mnl_nlmsg_batch_next(batch);

  std::map<uint32_t, size_t> op_of_seq;
  uint32_t set_id = 0;
  const auto& ops = tx.ops();
  for (size_t i = 0; i < ops.size(); ++i) {
    uint32_t seq = ++seq_;
    op_of_seq[seq] = i;
    build_message(static_cast<char*>(mnl_nlmsg_batch_current(batch)), tx.table(), ops[i], seq, &set_id);
    if (!mnl_nlmsg_batch_next(batch)) return Error(ErrorCode::kNftablesFailure, "nftables batch buffer overflow");
  }
  if (end) {
    nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(batch)), ++seq_);
    mnl_nlmsg_batch_next(batch);
  }

  size_t len = mnl_nlmsg_batch_size(batch);
  if (len > size_t{200} * 1024) {
    int fd = mnl_socket_get_fd(sock_.get());
    int sz = static_cast<int>(len * 2);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz);
  }
  if (mnl_socket_sendto(sock_.get(), mnl_nlmsg_batch_head(batch), len) < 0) {
    return nft_error("sending the nftables batch", errno);
  }
  return read_acks(first_seq, op_of_seq);
}

// Drains every ack of the batch whose first message is `first_seq`; the first error decides.
Result<CommitOutcome> NetlinkNftables::read_acks(uint32_t first_seq, const std::map<uint32_t, size_t>& op_of_seq) {
  int fd = mnl_socket_get_fd(sock_.get());
  CommitOutcome out;
  size_t acks = 0;
  auto rx = receive_buffer();
  for (;;) {
    ssize_t n = recv(fd, rx.get(), kReceiveBytes, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return nft_error("reading the nftables acks", errno);
    }
    int left = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(rx.get()); mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
      if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq < first_seq) continue;
      int error = ack_error(nlh);
      ++acks;
      if (error != 0 && out.error == 0) {
        out.error = error;
        auto it = op_of_seq.find(nlh->nlmsg_seq);
        out.failed_op = it == op_of_seq.end() ? 0 : it->second;
      }
    }
  }
  if (out.error == 0 && acks < op_of_seq.size()) {
    return Error(ErrorCode::kNftablesFailure, "the kernel acknowledged " + std::to_string(acks) + " of " +
                                                  std::to_string(op_of_seq.size()) + " nftables messages");
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Nftables>> open_netlink_nftables() {
  NetfilterSocketOptions options;
  options.ext_ack = true;
  auto sock = open_netfilter_socket(options, nft_error);
  if (!sock) return sock.take_error();
  return std::unique_ptr<Nftables>(new NetlinkNftables(std::move(*sock)));
}

}  // namespace nftpm
