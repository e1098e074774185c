#include "nftpm/owner_tag.h"

#include <gtest/gtest.h>

namespace nftpm {
namespace {

TEST(OwnerTag, EncodesReadably) {
  auto t = OwnerTag::make("port-mapper-test", "8e1c-4f.child", "eth1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode(), "net=port-mapper-test id=8e1c-4f.child if=eth1");
}

TEST(OwnerTag, RoundTrips) {
  auto t = OwnerTag::make("n", "abc", "eth0");
  ASSERT_TRUE(t);
  auto back = OwnerTag::decode(t->encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, *t);
}

TEST(OwnerTag, DecodeRejectsForeignComments) {
  EXPECT_FALSE(OwnerTag::decode(""));
  EXPECT_FALSE(OwnerTag::decode("container_id: abc"));
  EXPECT_FALSE(OwnerTag::decode("net=a id=b"));
  EXPECT_FALSE(OwnerTag::decode("net=a id=b if=eth0 extra=1"));
  EXPECT_FALSE(OwnerTag::decode("id=b net=a if=eth0"));
  EXPECT_FALSE(OwnerTag::decode("net=a id=b;rm if=eth0"));
  EXPECT_FALSE(OwnerTag::decode("net=a id= if=eth0"));
}

TEST(OwnerTag, RejectsTooLong) {
  std::string id(200, 'a');
  auto t = OwnerTag::make(std::string(64, 'n'), id, "eth0");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ErrorCode::kInvalidEnvironment);
}

TEST(OwnerTag, RejectsBadParts) {
  EXPECT_FALSE(OwnerTag::make("a b", "c", "eth0"));
  EXPECT_FALSE(OwnerTag::make("a", "c d", "eth0"));
  EXPECT_FALSE(OwnerTag::make("a", "c", "eth/0"));
}

}  // namespace
}  // namespace nftpm
