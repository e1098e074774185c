#include <gtest/gtest.h>

#include "nftpm/cni.h"

namespace nftpm {
namespace {

using nlohmann::json;

const json kLegacy = json::parse(R"({"cniVersion":"0.2.0",
  "ip4":{"ip":"10.1.0.5/16","gateway":"10.1.0.1","routes":[{"dst":"0.0.0.0/0"}]},
  "ip6":{"ip":"fd00::5/64","gateway":"fd00::1","routes":[{"dst":"::/0","gw":"fd00::1"}]},
  "dns":{"nameservers":["10.1.0.1"]}})");
const json kModern = json::parse(R"({"cniVersion":"1.0.0",
  "interfaces":[{"name":"cni0","mac":"aa:bb:cc:dd:ee:ff"},{"name":"veth1"},{"name":"eth0","sandbox":"/var/run/netns/x","mtu":1500}],
  "ips":[{"address":"10.88.0.7/16","gateway":"10.88.0.1","interface":2},{"address":"fd88::7/64","interface":2}],
  "routes":[{"dst":"0.0.0.0/0"}],"dns":{}})");

TEST(CniVersion, CompareAndSupport) {
  EXPECT_LT(compare_versions("0.3.1", "0.4.0"), 0);
  EXPECT_EQ(compare_versions("1.0.0", "1.0.0"), 0);
  EXPECT_GT(compare_versions("1.1.0", "1.0.0"), 0);
  EXPECT_GT(compare_versions("0.10.0", "0.9.0"), 0);
  EXPECT_TRUE(is_supported_version("0.1.0"));
  EXPECT_TRUE(is_supported_version("1.1.0"));
  EXPECT_FALSE(is_supported_version("1.2.0"));
  EXPECT_FALSE(is_supported_version(""));
  // Found by fuzz_cni_result: a long digit run overflowed (undefined behaviour). Now saturated.
  EXPECT_LT(compare_versions("0.4", "0.46000000000000000000000000000000"), 0);
  EXPECT_EQ(compare_versions("99999999999999999999999.0", "99999999999999999999998.0"), 0);
  EXPECT_TRUE(is_legacy_result_version("0.2.0"));
  EXPECT_FALSE(is_legacy_result_version("0.3.0"));
}

TEST(CniResult, LegacyToModern) {
  auto r = parse_cni_result(kLegacy, "0.2.0");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->ips.size(), 2u);
  EXPECT_EQ(r->ips[0].family, 4);
  EXPECT_EQ(r->ips[1].family, 6);
  json out = cni_result_to_json(*r, "1.0.0");
  EXPECT_EQ(out["cniVersion"], "1.0.0");
  EXPECT_EQ(out["ips"][0]["address"], "10.1.0.5/16");
  EXPECT_EQ(out["ips"][0]["gateway"], "10.1.0.1");
  EXPECT_FALSE(out["ips"][0].contains("version"));
  EXPECT_EQ(out["routes"].size(), 2u);
  EXPECT_EQ(out["dns"]["nameservers"][0], "10.1.0.1");
  json v04 = cni_result_to_json(*r, "0.4.0");
  EXPECT_EQ(v04["ips"][1]["version"], "6");
}

TEST(CniResult, ModernToLegacySplitsRoutesByFamily) {
  auto r = parse_cni_result(kModern, "1.0.0");
  ASSERT_TRUE(r);
  json out = cni_result_to_json(*r, "0.2.0");
  EXPECT_EQ(out["ip4"]["ip"], "10.88.0.7/16");
  EXPECT_EQ(out["ip4"]["routes"][0]["dst"], "0.0.0.0/0");
  EXPECT_EQ(out["ip6"]["ip"], "fd88::7/64");
  EXPECT_FALSE(out["ip6"].contains("routes"));
  EXPECT_FALSE(out.contains("ips"));
  EXPECT_FALSE(out.contains("interfaces"));
}

TEST(CniResult, RoundTripKeepsInterfaces) {
  auto r = parse_cni_result(kModern, "1.0.0");
  ASSERT_TRUE(r);
  json back = cni_result_to_json(*r, "1.0.0");
  EXPECT_EQ(back["interfaces"][2]["sandbox"], "/var/run/netns/x");
  EXPECT_EQ(back["interfaces"][2]["mtu"], 1500);
  EXPECT_EQ(back["ips"][0]["interface"], 2);
}

TEST(CniResult, ContainerIpsAreThoseOnTheInterface) {
  auto r = parse_cni_result(kModern, "1.0.0");
  ASSERT_TRUE(r);
  EXPECT_EQ(container_ips(*r, "eth0").size(), 2u);
  EXPECT_EQ(container_ips(*r, "eth1").size(), 0u);
  auto legacy = parse_cni_result(kLegacy, "0.2.0");
  EXPECT_EQ(container_ips(*legacy, "eth0").size(), 2u);  // no interface index: taken
}

TEST(CniResult, BadResultsAreErrors) {
  EXPECT_FALSE(parse_cni_result(json::parse(R"({"cniVersion":"1.0.0","ips":{}})"), "1.0.0"));
  EXPECT_FALSE(parse_cni_result(json::parse(R"({"cniVersion":"1.0.0","ips":[{"address":"nope"}]})"), "1.0.0"));
  EXPECT_FALSE(parse_cni_result(json::parse(R"({"cniVersion":"1.0.0","ips":[{"address":"10.0.0.1/8","interface":3}]})"),
                                "1.0.0"));
  EXPECT_FALSE(parse_cni_result(json::parse(R"({"ip4":{"ip":"fd00::1/64"}})"), "0.2.0"));
  EXPECT_FALSE(parse_cni_result(json::parse("[]"), "1.0.0"));
}

TEST(CniError, Document) {
  json j = cni_error_to_json(Error(ErrorCode::kPortConflict, "taken", "by c1"), "1.0.0");
  EXPECT_EQ(j["code"], 105);
  EXPECT_EQ(j["msg"], "taken");
  EXPECT_EQ(j["details"], "by c1");
  EXPECT_EQ(cni_error_to_json(Error(ErrorCode::kIoFailure, "x"), "")["cniVersion"], "0.1.0");
  EXPECT_EQ(json_text(json(std::string("\xff"))), "\"\xEF\xBF\xBD\"");  // replaced, never thrown
}

}  // namespace
}  // namespace nftpm
