// The real ProcessRunner against small programs of the base system (never a shell): argv, the
// environment, stdin and stdout, exit status, the deadline and the output limit.
#include "nftpm/process.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <chrono>

namespace nftpm {
namespace {

ProcessSpec spec(std::vector<std::string> argv, std::string input = "", int timeout = 10, size_t max = 1 << 20) {
  return {argv[0], std::move(argv), {"PATH=/usr/bin:/bin", "LC_ALL=C"}, std::move(input), timeout, max};
}

TEST(ProcessTest, PassesArgvAndCollectsStdout) {
  auto r = run_process(spec({"/bin/echo", "hello", "two words"}));
  ASSERT_TRUE(r) << r.error().msg;
  EXPECT_EQ(r->out, "hello two words\n");
  EXPECT_EQ(r->exit_status, 0);
  EXPECT_EQ(r->term_signal, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_FALSE(r->too_big);
}

TEST(ProcessTest, GivesExactlyTheEnvironmentAskedFor) {
  setenv("NFTPM_PROCESS_TEST_LEAK", "1", 1);
  auto r = run_process({"/usr/bin/env", {"/usr/bin/env"}, {"A=1", "CNI_COMMAND=ADD"}, "", 10, 4096});
  unsetenv("NFTPM_PROCESS_TEST_LEAK");
  ASSERT_TRUE(r) << r.error().msg;
  EXPECT_EQ(r->out, "A=1\nCNI_COMMAND=ADD\n");
}

TEST(ProcessTest, FeedsStdinWhileCollectingStdout) {
  // More than a pipe holds in both directions: feeding and reading must interleave.
  std::string big(3 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 1000) big[i] = '\n';
  auto r = run_process(spec({"/bin/cat"}, big, 20, 4 << 20));
  ASSERT_TRUE(r) << r.error().msg;
  EXPECT_EQ(r->exit_status, 0);
  EXPECT_FALSE(r->too_big);
  EXPECT_TRUE(r->out == big) << r->out.size() << " bytes back of " << big.size();
}

TEST(ProcessTest, ReportsTheExitStatus) {
  auto r = run_process(spec({"/bin/false"}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_status, 1);
  EXPECT_FALSE(r->timed_out);
}

TEST(ProcessTest, KillsAProgramPastItsDeadline) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_process(spec({"/bin/sleep", "30"}, "", 1));
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_status, -1);
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_GE(took, std::chrono::milliseconds(900));
}

TEST(ProcessTest, KillsAProgramThatPrintsTooMuch) {
  std::string input(200000, 'y');
  auto r = run_process(spec({"/bin/cat"}, input, 10, 1000));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->too_big);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->out.size(), 1000u);
}

TEST(ProcessTest, AProgramThatCannotStartIsAnError) {
  auto r = run_process(spec({"/nonexistent/program"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIoFailure);
  EXPECT_NE(r.error().msg.find("/nonexistent/program"), std::string::npos);
}

TEST(ProcessTest, AProgramThatIgnoresItsStdinDoesNotBlockUs) {
  auto r = run_process(spec({"/bin/true"}, std::string(1 << 20, 'z'), 10));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_status, 0);
  EXPECT_FALSE(r->timed_out);
}

TEST(ProcessTest, InspectSaysWhatIsAtAPath) {
  ProcessRunner& p = system_processes();
  EXPECT_EQ(p.inspect("/bin/cat"), ProgramFile::kExecutable);
  EXPECT_EQ(p.inspect("/"), ProgramFile::kNotRegular);
  EXPECT_EQ(p.inspect("/nonexistent/program"), ProgramFile::kMissing);
  EXPECT_EQ(p.inspect("/etc/passwd"), ProgramFile::kNotExecutable);  // no x bit: not even for root
}

}  // namespace
}  // namespace nftpm
