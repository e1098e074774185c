// Finding and running the delegate plugin, over a fake ProcessRunner: which file is run, with
// exactly which environment, argv and stdin, and how its exit is turned into a CNI error.
#include <gtest/gtest.h>

#include "fake_process_runner.h"
#include "nftpm/delegate.h"

namespace nftpm {
namespace {

CniEnv add_env() {
  CniEnv env;
  env.command = CniCommand::kAdd;
  env.container_id = "c1";
  env.netns = "/var/run/netns/x";
  env.ifname = "eth0";
  env.path = {"relative/bin", "/opt/cni/bin", "/usr/lib/cni/"};
  env.args = "IgnoreUnknown=1;K8S_POD_NAME=p";
  env.sys_path = "/usr/sbin:/usr/bin";
  return env;
}

class DelegatePluginTest : public ::testing::Test {
 protected:
  Result<std::string> run(CniCommand command = CniCommand::kAdd, const CniEnv& env = add_env()) {
    return delegate.run("bridge", command, env, R"({"type":"bridge"})", 7);
  }
  FakeProcessRunner processes;
  ProcessDelegateRunner delegate{processes};
};

TEST_F(DelegatePluginTest, FindsThePluginInTheFirstAbsoluteDirectoryThatHasIt) {
  processes.install("/usr/lib/cni/bridge");
  processes.install("relative/bin/bridge");  // never looked at: relative
  auto p = find_plugin("bridge", add_env().path, processes);
  ASSERT_TRUE(p) << p.error().msg;
  EXPECT_EQ(*p, "/usr/lib/cni/bridge");
  EXPECT_EQ(processes.inspected, (std::vector<std::string>{"/opt/cni/bin/bridge", "/usr/lib/cni/bridge"}));
  processes.install("/opt/cni/bin/bridge");
  EXPECT_EQ(*find_plugin("bridge", add_env().path, processes), "/opt/cni/bin/bridge");
}

TEST_F(DelegatePluginTest, SaysWhyAFileFoundIsNotRun) {
  processes.files["/opt/cni/bin/bridge"] = ProgramFile::kNotExecutable;
  processes.files["/usr/lib/cni/bridge"] = ProgramFile::kNotRegular;
  auto p = find_plugin("bridge", {"/opt/cni/bin"}, processes);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kDelegateFailure);
  EXPECT_EQ(p.error().details, "/opt/cni/bin/bridge is not executable");
  p = find_plugin("bridge", {"/usr/lib/cni"}, processes);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().details, "/usr/lib/cni/bridge is not a regular file");
  p = find_plugin("bridge", {"/nowhere", "/else"}, processes);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().msg, "delegate plugin 'bridge' not found on CNI_PATH");
  EXPECT_EQ(p.error().details, "searched /nowhere:/else");
}

TEST_F(DelegatePluginTest, RefusesATypeThatIsNotAPlainName) {
  processes.install("/opt/cni/bin/bridge");
  for (const char* type : {"../bin/bridge", "/opt/cni/bin/bridge", ".", "..", "", "a\nb"}) {
    auto p = find_plugin(type, {"/opt/cni/bin"}, processes);
    EXPECT_FALSE(p) << type;
  }
  EXPECT_TRUE(processes.inspected.empty());
  EXPECT_FALSE(find_plugin("bridge", {}, processes));
}

TEST_F(DelegatePluginTest, RunsThePluginWithExactlyTheCniEnvironment) {
  processes.install("/opt/cni/bin/bridge");
  processes.exits("/opt/cni/bin/bridge", 0, R"({"cniVersion":"0.2.0"})");
  auto out = run();
  ASSERT_TRUE(out) << out.error().msg;
  EXPECT_EQ(*out, R"({"cniVersion":"0.2.0"})");
  ASSERT_EQ(processes.runs.size(), 1u);
  const ProcessSpec& s = processes.runs[0];
  EXPECT_EQ(s.path, "/opt/cni/bin/bridge");
  EXPECT_EQ(s.argv, (std::vector<std::string>{"/opt/cni/bin/bridge"}));
  EXPECT_EQ(s.env,
            (std::vector<std::string>{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_IFNAME=eth0",
                                      "CNI_PATH=relative/bin:/opt/cni/bin:/usr/lib/cni/", "CNI_NETNS=/var/run/netns/x",
                                      "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=p", "PATH=/usr/sbin:/usr/bin"}));
  EXPECT_EQ(s.input, R"({"type":"bridge"})");
  EXPECT_EQ(s.timeout_seconds, 7);
  EXPECT_EQ(s.max_output, ProcessDelegateRunner::kMaxOutput);
}

TEST_F(DelegatePluginTest, LeavesOutWhatTheCallerDidNotSet) {
  processes.install("/opt/cni/bin/bridge");
  CniEnv env = add_env();
  env.netns.reset();
  env.args.reset();
  env.sys_path.reset();
  ASSERT_TRUE(run(CniCommand::kDel, env));
  EXPECT_EQ(processes.runs[0].env,
            (std::vector<std::string>{"CNI_COMMAND=DEL", "CNI_CONTAINERID=c1", "CNI_IFNAME=eth0",
                                      "CNI_PATH=relative/bin:/opt/cni/bin:/usr/lib/cni/",
                                      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
}

TEST_F(DelegatePluginTest, ANotFoundPluginIsNeverRun) {
  auto out = run();
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, ErrorCode::kDelegateFailure);
  EXPECT_TRUE(processes.runs.empty());
}

TEST_F(DelegatePluginTest, AnExitStatusCarriesTheDelegatesOwnError) {
  processes.install("/opt/cni/bin/bridge");
  processes.exits("/opt/cni/bin/bridge", 1, R"({"code":11,"msg":"no IP addresses left","details":"range full"})");
  auto out = run();
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, ErrorCode::kDelegateFailure);
  EXPECT_EQ(out.error().msg, "delegate bridge ADD failed with exit status 1: no IP addresses left");
  EXPECT_EQ(out.error().details, "range full");

  processes.exits("/opt/cni/bin/bridge", 2, "not json at all");
  out = run();
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().msg, "delegate bridge ADD failed with exit status 2");
  EXPECT_EQ(out.error().details, "not json at all");
}

TEST_F(DelegatePluginTest, TimeoutSignalSizeAndSpawnFailuresAreDelegateFailures) {
  processes.install("/opt/cni/bin/bridge");
  const std::string p = "/opt/cni/bin/bridge";
  processes.answer(p, ProcessResult{"", -1, 0, true, false});
  processes.answer(p, ProcessResult{"", -1, 9, false, false});
  processes.answer(p, ProcessResult{"", -1, 0, false, true});
  processes.answer(p, Error(ErrorCode::kIoFailure, "cannot execute " + p + ": Permission denied"));
  std::vector<std::string> want = {
      "delegate bridge ADD timed out after 7s and was killed",
      "delegate bridge ADD was killed by signal 9",
      "delegate bridge printed more than 1 MiB",
      "cannot execute delegate /opt/cni/bin/bridge: cannot execute /opt/cni/bin/bridge: Permission denied",
  };
  for (const auto& msg : want) {
    auto out = run();
    ASSERT_FALSE(out) << msg;
    EXPECT_EQ(out.error().code, ErrorCode::kDelegateFailure);
    EXPECT_EQ(out.error().msg, msg);
  }
}

}  // namespace
}  // namespace nftpm
