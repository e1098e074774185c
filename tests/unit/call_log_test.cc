// The per-call log: levels, one line per step with its subject and duration, appended to the
// config's logFile (or stderr), never a byte on stdout, which carries the CNI result.
#include "nftpm/call_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "fake_nftables.h"
#include "nftpm/plugin.h"
#include "test_values.h"

namespace nftpm {
namespace {

using nlohmann::json;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class CallLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = make_temp_dir("nftpm-call-log");
    ASSERT_FALSE(dir.empty());
    file = dir + "/calls.log";
  }
  void TearDown() override {
    unlink(file.c_str());
    rmdir(dir.c_str());
  }
  std::string contents() const {
    std::ifstream f(file);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::string dir, file;
};

TEST_F(CallLogTest, ParsesLevels) {
  LogLevel l = LogLevel::kError;
  EXPECT_TRUE(parse_log_level("debug", &l));
  EXPECT_EQ(l, LogLevel::kDebug);
  EXPECT_TRUE(parse_log_level("warning", &l));
  EXPECT_EQ(l, LogLevel::kWarn);
  EXPECT_TRUE(parse_log_level("info", &l));
  EXPECT_EQ(l, LogLevel::kInfo);
  EXPECT_TRUE(parse_log_level("error", &l));
  EXPECT_EQ(l, LogLevel::kError);
  EXPECT_FALSE(parse_log_level("INFO", &l));
  EXPECT_FALSE(parse_log_level("", &l));
  EXPECT_EQ(l, LogLevel::kError);  // untouched
}

TEST_F(CallLogTest, DropsLinesAboveItsLevel) {
  {
    CallLog log(file, LogLevel::kInfo);
    EXPECT_TRUE(log.enabled(LogLevel::kError));
    EXPECT_TRUE(log.enabled(LogLevel::kInfo));
    EXPECT_FALSE(log.enabled(LogLevel::kDebug));
    log.log(LogLevel::kDebug, "not this");
    log.step(LogLevel::kDebug, "nor this", std::chrono::steady_clock::now());
    log.log(LogLevel::kInfo, "this");
    log.log(LogLevel::kError, "and this");
  }
  auto lines = lines_of(contents());
  ASSERT_EQ(lines.size(), 2u) << contents();
  EXPECT_NE(lines[0].find(" info this"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(" error and this"), std::string::npos) << lines[1];
}

TEST_F(CallLogTest, OneLinePerStepWithSubjectAndDuration) {
  {
    CallLog log(file, LogLevel::kDebug);
    log.set_subject("ADD net=mesos id=c1 if=eth0");
    log.step(LogLevel::kInfo, "added tcp/8080 -> 10.1.0.5:80", std::chrono::steady_clock::now());
    log.log(LogLevel::kWarn, "two\nlines\r\nin one");
  }
  auto lines = lines_of(contents());
  ASSERT_EQ(lines.size(), 2u) << contents();
  std::regex step(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z nft-port-mapper\[)" + std::to_string(getpid()) +
                  R"(\] info ADD net=mesos id=c1 if=eth0: added tcp/8080 -> 10\.1\.0\.5:80 \(\d+\.\d ms\))");
  EXPECT_TRUE(std::regex_match(lines[0], step)) << lines[0];
  EXPECT_NE(lines[1].find("warn ADD net=mesos id=c1 if=eth0: two lines  in one"), std::string::npos) << lines[1];
}

TEST_F(CallLogTest, AppendsToTheFile) {
  {
    std::ofstream f(file);
    f << "an earlier line\n";
  }
  CallLog(file, LogLevel::kInfo).log(LogLevel::kInfo, "first");
  CallLog(file, LogLevel::kInfo).log(LogLevel::kInfo, "second");
  auto lines = lines_of(contents());
  ASSERT_EQ(lines.size(), 3u) << contents();
  EXPECT_EQ(lines[0], "an earlier line");
  EXPECT_NE(lines[1].find("first"), std::string::npos);
  EXPECT_NE(lines[2].find("second"), std::string::npos);
}

TEST_F(CallLogTest, WithoutAFileLogsToStderrNeverStdout) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  {
    CallLog log;  // stderr, warn
    log.log(LogLevel::kInfo, "dropped");
    log.log(LogLevel::kWarn, "kept");
  }
  std::string err = ::testing::internal::GetCapturedStderr();
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "");
  auto lines = lines_of(err);
  ASSERT_EQ(lines.size(), 1u) << err;
  EXPECT_NE(lines[0].find("warn kept"), std::string::npos) << err;
}

TEST_F(CallLogTest, AnUnwritableFileFallsBackToStderr) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  {
    CallLog log(dir + "/no/such/dir/calls.log", LogLevel::kInfo);
    log.log(LogLevel::kInfo, "still said");
  }
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "");
  auto lines = lines_of(err);
  ASSERT_EQ(lines.size(), 2u) << err;
  EXPECT_NE(lines[0].find("cannot open logFile " + dir + "/no/such/dir/calls.log"), std::string::npos) << err;
  EXPECT_NE(lines[1].find("info still said"), std::string::npos) << err;
}

// The plugin's own use of it: logFile and logLevel from the config, the call as the subject.
std::map<std::string, std::string>& g_env = test_cni_env();

class NoDelegate : public DelegateRunner {
 public:
  Result<std::string> run(const std::string&, CniCommand, const CniEnv&, const std::string&, int) override {
    return Error(ErrorCode::kDelegateFailure, "no delegate here");
  }
};

TEST_F(CallLogTest, APluginCallLogsEachStepToItsLogFile) {
  reset_test_cni_env();
  json cfg = json::parse(R"({"cniVersion":"1.0.0","name":"podman","type":"nft-port-mapper",
    "runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]},
    "prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],
                  "ips":[{"address":"10.88.0.7/16","interface":0}]}})");
  cfg["logFile"] = file;
  FakeNftables nft;
  NoDelegate delegate;
  NftablesFactory factory = shared_fake_factory(nft);
  ::testing::internal::CaptureStdout();
  auto out = run_plugin(test_getenv, cfg.dump(), factory, delegate);
  g_env["CNI_CONTAINERID"] = "c2";  // the same port: refused, and logged as an error
  auto refused = run_plugin(test_getenv, cfg.dump(), factory, delegate);
  cfg["logLevel"] = "error";
  g_env["CNI_COMMAND"] = "DEL";
  g_env["CNI_CONTAINERID"] = "c1";
  auto del = run_plugin(test_getenv, cfg.dump(), factory, delegate);
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "");
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  ASSERT_EQ(refused.exit_code, 1) << refused.stdout_text;
  ASSERT_EQ(del.exit_code, 0) << del.stdout_text;

  auto lines = lines_of(contents());
  ASSERT_EQ(lines.size(), 3u) << contents();  // the DEL logs at error level only: nothing
  std::regex added(R"(.* info ADD net=podman id=c1 if=eth0: added tcp/8080 -> 10\.88\.0\.7:80 \(\d+\.\d ms\))");
  std::regex done(R"(.* info ADD net=podman id=c1 if=eth0: done \(\d+\.\d ms\))");
  std::regex failed(R"(.* error ADD net=podman id=c2 if=eth0: failed with code 105: .*c1.* \(\d+\.\d ms\))");
  EXPECT_TRUE(std::regex_match(lines[0], added)) << lines[0];
  EXPECT_TRUE(std::regex_match(lines[1], done)) << lines[1];
  EXPECT_TRUE(std::regex_match(lines[2], failed)) << lines[2];
}

}  // namespace
}  // namespace nftpm
