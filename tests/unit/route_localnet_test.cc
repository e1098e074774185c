// route_localnet over a /proc/sys of the test's own: the right file gets "1", an odd device name
// never becomes a path.
#include "nftpm/route_localnet.h"
#include "test_values.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace nftpm {
namespace {

class RouteLocalnetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sys = make_temp_dir("nftpm-sys");
    ASSERT_FALSE(sys.empty());
    for (const char* dev : {"cni0", "mesos-cni0"}) {
      ASSERT_TRUE(std::filesystem::create_directories(sys + "/net/ipv4/conf/" + dev));
      put(dev, "0\n");
    }
  }
  void TearDown() override { std::filesystem::remove_all(sys); }
  std::string file(const std::string& dev) const { return sys + "/net/ipv4/conf/" + dev + "/route_localnet"; }
  void put(const std::string& dev, const std::string& text) const { std::ofstream(file(dev)) << text; }
  std::string get(const std::string& dev) const {
    std::ifstream f(file(dev));
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::string sys;
};

TEST_F(RouteLocalnetTest, SetsOneForTheDeviceOnly) {
  auto s = enable_route_localnet("mesos-cni0", sys);
  ASSERT_TRUE(s) << s.error().msg;
  EXPECT_EQ(get("mesos-cni0"), "1\n");
  EXPECT_EQ(get("cni0"), "0\n");
}

TEST_F(RouteLocalnetTest, LeavesItAloneWhenAlreadyOn) {
  put("cni0", "1\n");
  ASSERT_TRUE(enable_route_localnet("cni0", sys));
  EXPECT_EQ(get("cni0"), "1\n");
}

TEST_F(RouteLocalnetTest, AMissingDeviceIsAnError) {
  auto s = enable_route_localnet("eth7", sys);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIoFailure);
  EXPECT_NE(s.error().msg.find(file("eth7")), std::string::npos) << s.error().msg;
}

TEST_F(RouteLocalnetTest, RefusesWhatIsNoInterfaceName) {
  // "../../conf/cni0" would reach another device's file; the others are no names the kernel gives.
  ASSERT_TRUE(std::filesystem::create_directories(sys + "/net/ipv4/conf/all"));
  for (const char* odd : {"..", ".", "", "../cni0", "a/b", "cni0 ", "sixteen-chars-xx", "eth0:1", "tab\tx"}) {
    auto s = enable_route_localnet(odd, sys);
    ASSERT_FALSE(s) << "'" << odd << "'";
    EXPECT_NE(s.error().msg.find("is not an interface name"), std::string::npos) << s.error().msg;
  }
  EXPECT_EQ(get("cni0"), "0\n");
}

}  // namespace
}  // namespace nftpm
