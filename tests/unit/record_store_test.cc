// Attachment records: their JSON form, what a reader refuses, and the store's layout, ordering and
// distrust over the in-memory file system (fake_state_fs.h).
#include "nftpm/record_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "fake_state_fs.h"
#include "test_values.h"

namespace nftpm {
namespace {

using nlohmann::json;
using Kind = FileInfo::Kind;

// Every field a record has, with every kind of mapping.
AttachmentRecord full_record() {
  AttachmentRecord r;
  r.owner = owner("c1");
  r.chain = "NET1";
  r.exclude_devices = {"mesos-cni0", "eth9"};
  r.options = {/*hairpin=*/false, /*masq_all=*/true};
  r.addrs = {v4("10.1.0.5"), v6("fd00::5")};
  r.mappings = {
      {8080, 80, Protocol::kTcp, "", AF_UNSPEC},            // both families
      {5353, 53, Protocol::kUdp, "", AF_INET},              // hostIP 0.0.0.0
      {8443, 443, Protocol::kTcp, "", AF_INET6},            // hostIP ::
      {9090, 90, Protocol::kTcp, "192.0.2.10", AF_UNSPEC},  // bound to a host IPv4
      {7000, 7000, Protocol::kSctp, "2001:db8::10", AF_UNSPEC},
  };
  r.created_ns = 123456789;
  return r;
}

AttachmentRecord small_record(const std::string& id, const std::string& net = "net1", uint16_t port = 8080) {
  AttachmentRecord r;
  r.owner = owner(id, net);
  r.chain = net == "net1" ? "NET1" : "NET2";
  r.addrs = {v4("10.1.0.5"), std::nullopt};
  r.mappings = {{port, 80, Protocol::kTcp, "", AF_UNSPEC}};
  return r;
}

void expect_same(const AttachmentRecord& got, const AttachmentRecord& want) {
  EXPECT_EQ(got.owner, want.owner);
  EXPECT_EQ(got.chain, want.chain);
  EXPECT_EQ(got.exclude_devices, want.exclude_devices);
  EXPECT_EQ(got.options.hairpin, want.options.hairpin);
  EXPECT_EQ(got.options.masq_all, want.options.masq_all);
  ASSERT_EQ(got.addrs.v4.has_value(), want.addrs.v4.has_value());
  if (want.addrs.v4) {
    EXPECT_EQ(got.addrs.v4->s_addr, want.addrs.v4->s_addr);
  }
  ASSERT_EQ(got.addrs.v6.has_value(), want.addrs.v6.has_value());
  if (want.addrs.v6) {
    EXPECT_EQ(std::memcmp(&*got.addrs.v6, &*want.addrs.v6, 16), 0);
  }
  EXPECT_EQ(got.mappings, want.mappings);
}

std::vector<std::string> owners_of(const std::vector<AttachmentRecord>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.owner.network + "/" + r.owner.container_id + ":" + r.owner.ifname);
  return out;
}

// --- JSON ----------------------------------------------------------------------------------------

TEST(RecordJsonTest, EveryFieldRoundTrips) {
  AttachmentRecord r = full_record();
  std::string text = record_to_json(r, kId);
  EXPECT_EQ(text.back(), '\n');
  auto back = record_from_json(text, kId);
  ASSERT_TRUE(back) << back.error().msg;
  expect_same(*back, r);
  EXPECT_EQ(back->created_ns, 123456789u);

  // The document itself: what an operator reads in the state directory.
  json j = json::parse(text);
  EXPECT_EQ(j["format"], "nft-port-mapper/attachment-record");
  EXPECT_EQ(j["version"], kRecordFormatVersion);
  EXPECT_EQ(j["bootID"], kBoot);
  EXPECT_EQ(j["netnsCookie"], 4242u);
  EXPECT_EQ(j["network"], "net1");
  EXPECT_EQ(j["containerID"], "c1");
  EXPECT_EQ(j["ifname"], "eth0");
  EXPECT_EQ(j["chain"], "NET1");
  EXPECT_EQ(j["excludeDevices"], json::parse(R"(["mesos-cni0","eth9"])"));
  EXPECT_EQ(j["snat"], false);
  EXPECT_EQ(j["masqAll"], true);
  EXPECT_EQ(j["addresses"], json::parse(R"({"ipv4":"10.1.0.5","ipv6":"fd00::5"})"));
  ASSERT_EQ(j["mappings"].size(), 5u);
  EXPECT_EQ(j["mappings"][0],
            json::parse(R"({"protocol":"tcp","hostPort":8080,"containerPort":80,"hostIP":"","hostFamily":"any"})"));
  EXPECT_EQ(j["mappings"][1]["hostFamily"], "ipv4");
  EXPECT_EQ(j["mappings"][2]["hostFamily"], "ipv6");
  EXPECT_EQ(j["mappings"][3]["hostIP"], "192.0.2.10");
  EXPECT_EQ(j["mappings"][4]["protocol"], "sctp");
  EXPECT_EQ(j["mappings"][4]["hostIP"], "2001:db8::10");
}

TEST(RecordJsonTest, OneFamilyAndTheOtherOptionsRoundTrip) {
  AttachmentRecord r = small_record("c2");
  r.options = {/*hairpin=*/true, /*masq_all=*/false};
  std::string text = record_to_json(r, kId);
  json j = json::parse(text);
  EXPECT_EQ(j["addresses"], json::parse(R"({"ipv4":"10.1.0.5"})"));
  EXPECT_EQ(j["excludeDevices"], json::array());
  auto back = record_from_json(text, kId);
  ASSERT_TRUE(back) << back.error().msg;
  expect_same(*back, r);

  r.addrs = {std::nullopt, v6("fd00::9")};
  back = record_from_json(record_to_json(r, kId), kId);
  ASSERT_TRUE(back) << back.error().msg;
  expect_same(*back, r);
}

// The record is written out by hand; its text is what nlohmann::json prints for the same document
// (so records written before and after read the same, byte for byte).
TEST(RecordJsonTest, TheTextIsWhatTheJsonLibraryPrints) {
  auto as_library_prints = [](const std::string& text) {
    return json::parse(text).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  };
  AttachmentRecord r = full_record();
  std::string text = record_to_json(r, kId);
  EXPECT_EQ(text, as_library_prints(text));
  // Strings that need escaping, and one family only, no exclusions, no mappings.
  r.chain =
      "odd\"chain\\with\x01"
      "controls\tand \xc3\xa9";
  r.exclude_devices.clear();
  r.addrs.v6.reset();
  r.mappings.clear();
  text = record_to_json(r, kId);
  EXPECT_EQ(text, as_library_prints(text));
  EXPECT_NE(text.find("odd\\\"chain\\\\with\\u0001controls\\tand \xc3\xa9"), std::string::npos) << text;
  r.addrs.v4.reset();
  r.addrs.v6 = full_record().addrs.v6;
  r.exclude_devices = {"a", "b"};
  text = record_to_json(r, kId);
  EXPECT_EQ(text, as_library_prints(text));
}

// The whole, valid document with one change.
std::string mutated(const std::function<void(json&)>& change) {
  json j = json::parse(record_to_json(full_record(), kId));
  change(j);
  return j.dump();
}

// Why `text` is refused ("(accepted)" if it is not).
std::string refusal(const std::string& text, const NodeIdentity& id = kId) {
  auto r = record_from_json(text, id);
  if (r) return "(accepted)";
  EXPECT_EQ(r.error().code, ErrorCode::kDecodeFailure) << r.error().msg;
  return r.error().msg;
}

TEST(RecordJsonTest, TheUnchangedDocumentIsAccepted) {
  // The refusals below change one thing each in this document.
  EXPECT_EQ(refusal(mutated([](json&) {})), "(accepted)");
}

TEST(RecordJsonTest, RefusesWhatIsNotAWholeJsonRecord) {
  std::string text = record_to_json(full_record(), kId);
  EXPECT_TRUE(has(refusal(text.substr(0, text.size() / 2)), "not valid JSON"));
  EXPECT_TRUE(has(refusal(text.substr(0, text.size() - 3)), "not valid JSON"));  // the last brace gone
  EXPECT_TRUE(has(refusal(""), "not valid JSON"));
  EXPECT_TRUE(has(refusal("hello"), "not valid JSON"));
  EXPECT_TRUE(has(refusal("[1,2]"), "not a JSON object"));
  EXPECT_TRUE(has(refusal("{}"), "not an nft-port-mapper record"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["format"] = "something-else"; })), "not an nft-port-mapper record"));
}

TEST(RecordJsonTest, RefusesAnotherFormatVersion) {
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["version"] = 2; })), "record format version 2"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["version"] = 0; })), "record format version 0"));
  EXPECT_NE(refusal(mutated([](json& j) { j["version"] = "1"; })), "(accepted)");
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j.erase("version"); })), "missing"));
}

// A "format" that is not a string is refused like any bad record. (It once made
// nlohmann::json::value() throw type_error.302, which nothing caught: one planted record file
// terminated restore, the watcher and every plugin call of that namespace.)
TEST(RecordJsonTest, FormatOfAnotherTypeIsRefusedNotThrown) {
  for (const char* text : {R"({"format":1})", R"({"format":null,"version":1})", R"({"format":["x"]})"}) {
    std::string why;
    EXPECT_NO_THROW(why = refusal(text)) << text;
    EXPECT_NE(why, "(accepted)") << text;
  }
}

TEST(RecordJsonTest, RefusesAnotherBootOrNetworkNamespace) {
  std::string text = record_to_json(full_record(), kId);
  EXPECT_TRUE(has(refusal(text, {"00000000-1111-2222-3333-444444444444", 4242}), "earlier boot"));
  EXPECT_TRUE(has(refusal(text, {kBoot, 4243}), "another network namespace"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["netnsCookie"] = "4242"; })), "another network namespace"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j.erase("netnsCookie"); })), "another network namespace"));
  EXPECT_NE(refusal(mutated([](json& j) { j.erase("bootID"); })), "(accepted)");
}

TEST(RecordJsonTest, RefusesInvalidNames) {
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["network"] = "bad/net"; })), "invalid network"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["network"] = ""; })), "invalid network"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["containerID"] = "-c1"; })), "invalid network"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["containerID"] = "c1/../x"; })), "invalid network"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["ifname"] = "eth:0"; })), "invalid network"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["ifname"] = "an-ifname-too-long"; })), "invalid network"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["chain"] = "prerouting"; })), "invalid chain name"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["chain"] = "NET1-hostip"; })), "invalid chain name"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["chain"] = "bad chain"; })), "invalid chain name"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["excludeDevices"] = {"eth0", "bad/dev"}; })), "excluded device"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["excludeDevices"] = {7}; })), "excluded device"));
  // Network name and container ID too long together for an owner tag.
  EXPECT_NE(refusal(mutated([](json& j) {
              j["network"] = std::string(64, 'n');
              j["containerID"] = std::string(200, 'a');
            })),
            "(accepted)");
}

TEST(RecordJsonTest, RefusesPortsOutOfRange) {
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["mappings"][0]["hostPort"] = 0; })), "\"hostPort\" is not a port"));
  EXPECT_TRUE(
      has(refusal(mutated([](json& j) { j["mappings"][1]["containerPort"] = 0; })), "\"containerPort\" is not a port"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["mappings"][0]["hostPort"] = 65536; })), "is not a port"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["mappings"][0]["hostPort"] = -80; })), "is not a port"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["mappings"][0]["hostPort"] = "8080"; })), "is not a port"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["mappings"][0]["hostPort"] = 80.5; })), "is not a port"));
}

TEST(RecordJsonTest, RefusesAnUnknownProtocol) {
  EXPECT_TRUE(
      has(refusal(mutated([](json& j) { j["mappings"][2]["protocol"] = "icmp"; })), "unknown protocol \"icmp\""));
  EXPECT_NE(refusal(mutated([](json& j) { j["mappings"][2]["protocol"] = 6; })), "(accepted)");
  EXPECT_NE(refusal(mutated([](json& j) { j["mappings"][2].erase("protocol"); })), "(accepted)");
}

TEST(RecordJsonTest, RefusesDuplicateHostPorts) {
  // The same port and protocol twice.
  EXPECT_TRUE(has(refusal(mutated([](json& j) {
                    json again = j["mappings"][0];
                    again["containerPort"] = 81;
                    j["mappings"].push_back(again);
                  })),
                  "requested twice"));
  // 0.0.0.0:5353 is there: an unbound 5353 asks for IPv4 again.
  EXPECT_TRUE(has(refusal(mutated([](json& j) {
                    j["mappings"].push_back(json::parse(
                        R"({"protocol":"udp","hostPort":5353,"containerPort":54,"hostIP":"","hostFamily":"any"})"));
                  })),
                  "requested twice"));
  // While [::]:5353 beside 0.0.0.0:5353, and tcp/8080 bound to an address, are not duplicates.
  EXPECT_EQ(refusal(mutated([](json& j) {
              j["mappings"].push_back(json::parse(
                  R"({"protocol":"udp","hostPort":5353,"containerPort":54,"hostIP":"","hostFamily":"ipv6"})"));
              j["mappings"].push_back(json::parse(
                  R"({"protocol":"tcp","hostPort":8080,"containerPort":80,"hostIP":"192.0.2.1","hostFamily":"any"})"));
            })),
            "(accepted)");
}

TEST(RecordJsonTest, RefusesOtherDefects) {
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["addresses"] = json::object(); })), "no container address"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["addresses"]["ipv4"] = "300.1.1.1"; })), "invalid ipv4"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["addresses"]["ipv6"] = "10.1.0.5"; })), "invalid ipv6"));
  EXPECT_TRUE(
      has(refusal(mutated([](json& j) { j["mappings"] = json::array(); })), "\"mappings\" is missing or empty"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j.erase("mappings"); })), "\"mappings\" is missing or empty"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["mappings"][3]["hostIP"] = "not-an-ip"; })), "is not an IP address"));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["mappings"][0]["hostFamily"] = "ipv5"; })), "\"hostFamily\""));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["snat"] = "yes"; })), "\"snat\""));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j.erase("masqAll"); })), "\"masqAll\""));
  EXPECT_TRUE(has(refusal(mutated([](json& j) { j["createdNs"] = -1; })), "\"createdNs\""));
  EXPECT_NE(refusal(mutated([](json& j) { j["mappings"][0] = "tcp/8080"; })), "(accepted)");
}

// --- the store -----------------------------------------------------------------------------------

class RecordStoreTest : public ::testing::Test {
 protected:
  std::string path_of(const std::string& net, const std::string& name) const { return kNs + "/" + net + "/" + name; }
  // A record's text as the store would write it, for planting by hand.
  static std::string text_of(const AttachmentRecord& r) { return record_to_json(r, kId); }

  FakeStateFs fs;
  RecordStore store{fs, kStateDir, kId};
};

TEST_F(RecordStoreTest, PathsFollowTheLayout) {
  EXPECT_EQ(store.state_dir(), kStateDir);
  EXPECT_EQ(store.namespace_dir(), "/run/cni/nft-port-mapper/6f1e2a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b/netns-4242");
  EXPECT_EQ(store.record_path(owner("c1", "net1", "eth0")), kNs + "/net1/c1:eth0");
  EXPECT_EQ(store.deleting_path(owner("c1", "net1", "eth0")), kNs + "/net1/c1:eth0.deleting");
  EXPECT_EQ(store.record_path(owner("abc.def", "mesos-net", "net1")), kNs + "/mesos-net/abc.def:net1");
}

TEST_F(RecordStoreTest, PutWritesAPrivateRecordThatGetReadsBack) {
  AttachmentRecord r = full_record();
  ASSERT_TRUE(store.put(r));
  std::string path = store.record_path(r.owner);
  auto n = fs.node(path);
  ASSERT_TRUE(n) << fs.dump();
  EXPECT_EQ(n->kind, Kind::kFile);
  EXPECT_EQ(n->mode, 0600u);
  EXPECT_EQ(n->uid, 0u);
  EXPECT_EQ(n->contents, text_of(r));
  auto dir = fs.node(kNs + "/net1");
  ASSERT_TRUE(dir);
  EXPECT_EQ(dir->kind, Kind::kDir);
  EXPECT_EQ(dir->mode, 0700u);

  auto found = store.get(r.owner);
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->record);
  EXPECT_FALSE(found->deleting);
  EXPECT_FALSE(found->bad);
  expect_same(*found->record, r);
  // Nobody else's.
  auto other = store.get(owner("c2"));
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->record);
  EXPECT_FALSE(other->bad);
}

TEST_F(RecordStoreTest, PutWithoutALockFirstStillMakesEveryLevelPrivate) {
  // adopt and tests may put before any lock: the levels above the network are made private too,
  // not 0755 as a mkdir -p of the parents would make them (which the next lock would refuse).
  ASSERT_TRUE(store.put(small_record("c1")));
  for (const auto& d : {kStateDir, kStateDir + "/" + kBoot, kNs, kNs + "/net1"}) {
    auto n = fs.node(d);
    ASSERT_TRUE(n) << d;
    EXPECT_EQ(n->kind, Kind::kDir) << d;
    EXPECT_EQ(n->mode, 0700u) << d;
  }
  EXPECT_EQ(fs.node("/run/cni")->mode, 0755u);  // above the state directory: not ours to judge
  auto l = store.lock_shared();
  EXPECT_TRUE(l) << l.error().msg;
}

TEST_F(RecordStoreTest, PutStampsTheCreationTimeWhenNoneIsGiven) {
  AttachmentRecord r = small_record("c1");
  ASSERT_EQ(r.created_ns, 0u);
  ASSERT_TRUE(store.put(r));
  auto found = store.get(r.owner);
  ASSERT_TRUE(found && found->record);
  EXPECT_GT(found->record->created_ns, 0u);
  // A given one is kept (adopt and restore rewrite records without making them younger).
  r.created_ns = 42;
  ASSERT_TRUE(store.put(r));
  found = store.get(r.owner);
  ASSERT_TRUE(found && found->record);
  EXPECT_EQ(found->record->created_ns, 42u);
}

TEST_F(RecordStoreTest, PutReplacesALinkAtTheRecordsPathWithoutFollowingIt) {
  AttachmentRecord r = small_record("c1");
  std::string path = store.record_path(r.owner);
  fs.put_symlink(path, "/etc/shadow");
  ASSERT_TRUE(store.put(r));
  EXPECT_EQ(fs.kind(path), Kind::kFile);
  EXPECT_FALSE(fs.exists("/etc/shadow"));
  auto found = store.get(r.owner);
  ASSERT_TRUE(found && found->record);
}

TEST_F(RecordStoreTest, PutFailsWhenTheWriteFails) {
  AttachmentRecord r = small_record("c1");
  fs.fail_writes.insert(store.record_path(r.owner));
  auto s = store.put(r);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIoFailure);
  EXPECT_FALSE(fs.exists(store.record_path(r.owner)));
}

TEST_F(RecordStoreTest, MarkDeletingRenamesAndEraseRemovesBoth) {
  AttachmentRecord r = small_record("c1");
  ASSERT_TRUE(store.put(r));
  std::string live = store.record_path(r.owner), deleting = store.deleting_path(r.owner);
  std::string text = *fs.contents(live);

  ASSERT_TRUE(store.mark_deleting(r.owner));
  EXPECT_FALSE(fs.exists(live));
  EXPECT_EQ(fs.contents(deleting), text);
  auto found = store.get(r.owner);
  ASSERT_TRUE(found && found->record);
  EXPECT_TRUE(found->deleting);
  expect_same(*found->record, r);

  // Nothing live any more: a no-op, the .deleting record stays as it is.
  ASSERT_TRUE(store.mark_deleting(r.owner));
  EXPECT_EQ(fs.contents(deleting), text);

  ASSERT_TRUE(store.erase(r.owner));
  EXPECT_FALSE(fs.exists(live));
  EXPECT_FALSE(fs.exists(deleting));
  found = store.get(r.owner);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->record);
  EXPECT_FALSE(found->bad);
  // Erasing nothing is fine.
  EXPECT_TRUE(store.erase(r.owner));
}

TEST_F(RecordStoreTest, MarkDeletingWithoutARecordCreatesNothing) {
  ASSERT_TRUE(store.mark_deleting(owner("c1")));
  EXPECT_FALSE(fs.exists(store.record_path(owner("c1"))));
  EXPECT_FALSE(fs.exists(store.deleting_path(owner("c1"))));
}

TEST_F(RecordStoreTest, EraseRemovesWhateverIsAtBothPaths) {
  AttachmentRecord r = small_record("c1");
  fs.put_file(store.record_path(r.owner), text_of(r));
  fs.put_file(store.deleting_path(r.owner), text_of(r));
  ASSERT_TRUE(store.erase(r.owner));
  EXPECT_FALSE(fs.exists(store.record_path(r.owner)));
  EXPECT_FALSE(fs.exists(store.deleting_path(r.owner)));
  // A planted directory or link goes too (the link itself, not its target).
  fs.put_file("/etc/shadow", "secret");
  fs.put_symlink(store.record_path(r.owner), "/etc/shadow");
  fs.put_dir(store.deleting_path(r.owner));
  fs.put_file(store.deleting_path(r.owner) + "/inner", "x");
  ASSERT_TRUE(store.erase(r.owner));
  EXPECT_EQ(fs.paths_under(kNs + "/net1"), std::vector<std::string>{kNs + "/net1"}) << fs.dump();
  EXPECT_EQ(fs.contents("/etc/shadow"), "secret");
}

TEST_F(RecordStoreTest, GetWithALiveAndADeletingRecordPrefersTheLiveOne) {
  AttachmentRecord r = small_record("c1");
  AttachmentRecord older = r;
  older.mappings = {{7070, 70, Protocol::kUdp, "", AF_UNSPEC}};
  fs.put_file(store.deleting_path(r.owner), text_of(older));
  fs.put_file(store.record_path(r.owner), text_of(r));
  auto found = store.get(r.owner);
  ASSERT_TRUE(found && found->record);
  EXPECT_FALSE(found->deleting);
  EXPECT_EQ(found->record->mappings, r.mappings);
}

TEST_F(RecordStoreTest, LoadSortsLiveAndDeletingRecordsByPath) {
  // Written out of order; the fake lists directories in reverse, so only sorting gives the order.
  for (const auto& [id, net] : std::vector<std::pair<std::string, std::string>>{
           {"c3", "net1"}, {"c1", "net2"}, {"c1", "net1"}, {"c10", "net1"}, {"c2", "net1"}, {"c0", "net2"}}) {
    ASSERT_TRUE(store.put(small_record(id, net)));
  }
  ASSERT_TRUE(store.mark_deleting(owner("c2", "net1")));
  ASSERT_TRUE(store.mark_deleting(owner("c0", "net2")));
  // A write in progress (or a crashed one) is no record, good or bad.
  fs.put_file(kNs + "/net1/.c4:eth0.tmp.99", "{\"truncat");

  auto all = store.load();
  ASSERT_TRUE(all) << all.error().msg;
  // By path: "c10:eth0" sorts before "c1:eth0" (':' is after the digits).
  EXPECT_EQ(owners_of(all->live),
            (std::vector<std::string>{"net1/c10:eth0", "net1/c1:eth0", "net1/c3:eth0", "net2/c1:eth0"}));
  EXPECT_EQ(owners_of(all->deleting), (std::vector<std::string>{"net1/c2:eth0", "net2/c0:eth0"}));
  EXPECT_TRUE(all->bad.empty()) << all->bad[0].path << ": " << all->bad[0].why;

  auto net2 = store.load("net2");
  ASSERT_TRUE(net2);
  EXPECT_EQ(owners_of(net2->live), std::vector<std::string>{"net2/c1:eth0"});
  EXPECT_EQ(owners_of(net2->deleting), std::vector<std::string>{"net2/c0:eth0"});
  auto none = store.load("net9");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->live.empty() && none->deleting.empty() && none->bad.empty());
}

TEST_F(RecordStoreTest, LoadOfAnEmptyOrMissingDirectoryIsEmpty) {
  auto all = store.load();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->live.empty() && all->deleting.empty() && all->bad.empty());
  // The lock file beside the networks is not taken for one.
  auto lock = store.lock_shared();
  ASSERT_TRUE(lock);
  all = store.load();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->bad.empty()) << all->bad[0].path << ": " << all->bad[0].why;
}

TEST_F(RecordStoreTest, LoadReportsBadRecordsByPathAndStillLoadsTheGoodOnes) {
  ASSERT_TRUE(store.put(small_record("good1")));
  ASSERT_TRUE(store.put(small_record("good2")));
  ASSERT_TRUE(store.put(small_record("good3", "net2")));
  // A link where a record should be (to a valid record, even).
  fs.put_file("/tmp/planted", text_of(small_record("link")));
  fs.put_symlink(path_of("net1", "link:eth0"), "/tmp/planted");
  // Valid records, but not ours alone.
  fs.put_file(path_of("net1", "foreign:eth0"), text_of(small_record("foreign")), /*uid=*/1000, 0600);
  fs.put_file(path_of("net1", "open:eth0"), text_of(small_record("open")), FakeStateFs::kOurs, 0644);
  // A valid record of another attachment than its file name says, in its network and in another.
  fs.put_file(path_of("net1", "other:eth0"), text_of(small_record("good1")));
  fs.put_file(path_of("net2", "moved:eth0"), text_of(small_record("moved", "net1")));
  // A directory, and something else, where a record should be.
  fs.put_dir(path_of("net1", "dir:eth0"));
  fs.put_other(path_of("net1", "fifo:eth0.deleting"));
  // Not JSON at all, and of another boot.
  fs.put_file(path_of("net1", "junk:eth0"), "junk");
  fs.put_file(path_of("net1", "old:eth0"),
              record_to_json(small_record("old"), {"00000000-1111-2222-3333-444444444444", 4242}));
  // A link where a network's directory should be, and a directory no network may have.
  fs.put_dir("/tmp/elsewhere");
  fs.put_file("/tmp/elsewhere/x:eth0", text_of(small_record("x", "net3")));
  fs.put_symlink(kNs + "/net3", "/tmp/elsewhere");
  fs.put_dir(kNs + "/-bad");

  auto all = store.load();
  ASSERT_TRUE(all) << all.error().msg;
  EXPECT_EQ(owners_of(all->live), (std::vector<std::string>{"net1/good1:eth0", "net1/good2:eth0", "net2/good3:eth0"}));
  EXPECT_TRUE(all->deleting.empty());
  std::map<std::string, std::string> bad;
  for (const auto& b : all->bad) bad[b.path] = b.why;
  std::map<std::string, std::string> want = {
      {path_of("net1", "link:eth0"), "a symbolic link where a record should be"},
      {path_of("net1", "foreign:eth0"), "owned by uid 1000"},
      {path_of("net1", "open:eth0"), "mode 0644"},
      {path_of("net1", "other:eth0"), "names another attachment (net=net1 id=good1 if=eth0)"},
      {path_of("net2", "moved:eth0"), "names another attachment (net=net1 id=moved if=eth0)"},
      {path_of("net1", "dir:eth0"), "a directory where a record should be"},
      {path_of("net1", "fifo:eth0.deleting"), "where a record should be"},
      {path_of("net1", "junk:eth0"), "not valid JSON"},
      {path_of("net1", "old:eth0"), "earlier boot"},
      {kNs + "/net3", "a symbolic link"},
      {kNs + "/-bad", "not a network's directory"},
  };
  ASSERT_EQ(bad.size(), want.size()) << [&] {
    std::string s;
    for (const auto& [p, w] : bad) s += p + ": " + w + "\n";
    return s;
  }();
  for (const auto& [path, why] : want) {
    auto it = bad.find(path);
    ASSERT_NE(it, bad.end()) << path << " not reported";
    EXPECT_TRUE(has(it->second, why)) << path;
  }
  // Reported, never removed: an operator decides.
  EXPECT_EQ(fs.kind(path_of("net1", "foreign:eth0")), Kind::kFile);
  EXPECT_EQ(fs.kind(path_of("net1", "link:eth0")), Kind::kSymlink);
  EXPECT_EQ(fs.contents("/tmp/planted"), text_of(small_record("link")));
}

TEST_F(RecordStoreTest, GetReportsABadRecordInsteadOfTrustingIt) {
  OwnerTag o = owner("c1");
  fs.put_file("/tmp/planted", text_of(small_record("c1")));
  fs.put_symlink(store.record_path(o), "/tmp/planted");
  auto found = store.get(o);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->record);
  ASSERT_TRUE(found->bad);
  EXPECT_EQ(found->bad->path, store.record_path(o));
  EXPECT_TRUE(has(found->bad->why, "symbolic link"));

  fs.put_file(store.record_path(o), text_of(small_record("c1")), /*uid=*/1000);
  found = store.get(o);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->record);
  ASSERT_TRUE(found->bad);
  EXPECT_TRUE(has(found->bad->why, "uid 1000"));

  fs.put_file(store.record_path(o), text_of(small_record("c2")));
  found = store.get(o);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->record);
  ASSERT_TRUE(found->bad);
  EXPECT_TRUE(has(found->bad->why, "another attachment"));

  // A bad live record does not hide a good .deleting one (DEL must still finish).
  fs.put_file(store.deleting_path(o), text_of(small_record("c1")));
  found = store.get(o);
  ASSERT_TRUE(found && found->record);
  EXPECT_TRUE(found->deleting);
  ASSERT_TRUE(found->bad);
  EXPECT_EQ(found->bad->path, store.record_path(o));
}

TEST_F(RecordStoreTest, StaleBootDirectoriesAreOtherBootsOnly) {
  const std::string old1 = kStateDir + "/00000000-1111-2222-3333-444444444444";
  const std::string old2 = kStateDir + "/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
  ASSERT_TRUE(store.put(small_record("c1")));
  fs.put_file(old1 + "/netns-1/net1/c1:eth0", "{}");
  fs.put_file(old1 + "/netns-1/.lock", "");
  fs.put_dir(old2);
  fs.put_dir(kStateDir + "/not-a-boot-id");
  fs.put_file(kStateDir + "/README", "mine");
  fs.put_dir(kStateDir + "/0000000011112222333344445555666677-8");  // 36 characters, one dash

  auto stale = store.stale_boot_dirs();
  ASSERT_TRUE(stale);
  std::set<std::string> got(stale->begin(), stale->end());
  EXPECT_EQ(got, (std::set<std::string>{old1, old2}));

  ASSERT_TRUE(store.remove_stale_boot_dirs());
  EXPECT_TRUE(fs.paths_under(old1).empty()) << fs.dump();
  EXPECT_FALSE(fs.exists(old2));
  EXPECT_TRUE(fs.exists(kStateDir + "/not-a-boot-id"));
  EXPECT_TRUE(fs.exists(kStateDir + "/README"));
  EXPECT_TRUE(fs.exists(kStateDir + "/0000000011112222333344445555666677-8"));
  EXPECT_TRUE(fs.exists(store.record_path(owner("c1"))));
  stale = store.stale_boot_dirs();
  ASSERT_TRUE(stale);
  EXPECT_TRUE(stale->empty());
}

TEST_F(RecordStoreTest, EraseAllKeepsOnlyTheLockFile) {
  {
    auto lock = store.lock_shared();
    ASSERT_TRUE(lock);
  }
  ASSERT_TRUE(store.put(small_record("c1")));
  ASSERT_TRUE(store.put(small_record("c2", "net2")));
  ASSERT_TRUE(store.mark_deleting(owner("c2", "net2")));
  fs.put_dir(kNs + "/-bad");
  // Another namespace's records are not this store's.
  fs.put_file(kStateDir + "/" + kBoot + "/netns-7/net1/c9:eth0", "{}");

  ASSERT_TRUE(store.erase_all());
  EXPECT_EQ(fs.names(kNs), std::vector<std::string>{".lock"}) << fs.dump();
  EXPECT_EQ(fs.kind(kNs + "/.lock"), Kind::kFile);
  EXPECT_TRUE(fs.exists(kStateDir + "/" + kBoot + "/netns-7/net1/c9:eth0"));
  auto all = store.load();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->live.empty() && all->deleting.empty() && all->bad.empty());
}

TEST_F(RecordStoreTest, SharedLocksExcludeAnExclusiveOne) {
  RecordStore other(fs, kStateDir, kId);  // another process, same directory
  auto a = store.lock_shared();
  ASSERT_TRUE(a) << a.error().msg;
  auto b = other.lock_shared();
  ASSERT_TRUE(b) << b.error().msg;
  const std::string lock = kNs + "/.lock";
  EXPECT_EQ(fs.shared_holders(lock), 2);
  auto x = other.lock_exclusive();
  ASSERT_FALSE(x);
  EXPECT_EQ(x.error().code, ErrorCode::kTryAgainLater);
  a->reset();
  EXPECT_FALSE(other.lock_exclusive());  // one shared holder is enough to exclude it
  b->reset();
  EXPECT_FALSE(fs.locked(lock));

  auto y = other.lock_exclusive();
  ASSERT_TRUE(y) << y.error().msg;
  EXPECT_TRUE(fs.exclusively_held(lock));
  auto c = store.lock_shared();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kTryAgainLater);
  EXPECT_FALSE(store.lock_exclusive());
  y->reset();
  EXPECT_TRUE(store.lock_shared());

  // Every request was for the one lock file, with a wait bounded in time.
  ASSERT_FALSE(fs.lock_requests.empty());
  for (const auto& r : fs.lock_requests) {
    EXPECT_EQ(r.path, lock);
    EXPECT_GT(r.timeout_ms, 0);
  }
  EXPECT_FALSE(fs.lock_requests[0].exclusive);
  EXPECT_TRUE(fs.lock_requests[2].exclusive);
}

TEST_F(RecordStoreTest, LockingMakesThePrivateDirectories) {
  auto l = store.lock_shared();
  ASSERT_TRUE(l) << l.error().msg;
  for (const auto& d : {kStateDir, kStateDir + "/" + kBoot, kNs}) {
    auto n = fs.node(d);
    ASSERT_TRUE(n) << d;
    EXPECT_EQ(n->kind, Kind::kDir) << d;
    EXPECT_EQ(n->mode, 0700u) << d;
  }
  EXPECT_EQ(fs.kind(kNs + "/.lock"), Kind::kFile);
}

TEST_F(RecordStoreTest, LockingRefusesAStateDirectoryThatIsNotOursAlone) {
  {
    FakeStateFs f;
    f.put_dir("/elsewhere");
    f.put_symlink(kStateDir, "/elsewhere");
    RecordStore s(f, kStateDir, kId);
    auto l = s.lock_shared();
    ASSERT_FALSE(l);
    EXPECT_EQ(l.error().code, ErrorCode::kIoFailure);
    EXPECT_TRUE(has(l.error().msg, "symbolic link"));
    EXPECT_TRUE(f.paths_under("/elsewhere") == std::vector<std::string>{"/elsewhere"}) << f.dump();
  }
  {
    FakeStateFs f;
    f.put_dir(kNs, FakeStateFs::kOurs, 0755);
    RecordStore s(f, kStateDir, kId);
    auto l = s.lock_exclusive();
    ASSERT_FALSE(l);
    EXPECT_TRUE(has(l.error().msg, "mode 0755"));
    EXPECT_FALSE(f.exists(kNs + "/.lock"));
  }
  {
    FakeStateFs f;
    f.put_dir(kStateDir + "/" + kBoot, /*uid=*/1000, 0700);
    RecordStore s(f, kStateDir, kId);
    auto l = s.lock_shared();
    ASSERT_FALSE(l);
    EXPECT_TRUE(has(l.error().msg, "uid 1000"));
  }
}

TEST_F(RecordStoreTest, PutRefusesALinkWhereTheNetworksDirectoryShouldBe) {
  fs.put_dir("/elsewhere");
  fs.put_symlink(kNs + "/net1", "/elsewhere");
  auto s = store.put(small_record("c1"));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIoFailure);
  EXPECT_EQ(fs.paths_under("/elsewhere"), std::vector<std::string>{"/elsewhere"});
}

// A network may be named "lock": the lock file is ".lock", a name no network can have. (When it
// was "lock", that network's directory and the lock file were the same path, and every ADD with
// mappings on it failed.)
TEST_F(RecordStoreTest, ANetworkNamedLockCanBeRecorded) {
  auto l = store.lock_shared();
  ASSERT_TRUE(l);
  AttachmentRecord r = small_record("c1");
  r.owner = owner("c1", "lock");
  auto s = store.put(r);
  EXPECT_TRUE(s) << s.error().msg;
  auto all = store.load();
  ASSERT_TRUE(all);
  EXPECT_EQ(owners_of(all->live), std::vector<std::string>{"lock/c1:eth0"});
}

}  // namespace
}  // namespace nftpm
