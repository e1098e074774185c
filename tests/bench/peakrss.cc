// Peak RSS of one command, for the benchmarks: `nftpm-peakrss CMD [ARGS...]` runs it (stdin,
// stdout and environment inherited) and prints its peak resident set size in KiB on stderr.
// Linux counts the pre-exec image of a forked child in its peak, so the parent is kept tiny
// (this program); run it on /bin/true to see that baseline.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: nftpm-peakrss CMD [ARGS...]\n");
    return 2;
  }
  pid_t pid = fork();
  if (pid == 0) {
    execvp(argv[1], argv + 1);
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  if (wait4(pid, &status, 0, &ru) != pid) return 1;
  std::fprintf(stderr, "peak_rss_kib %ld\n", ru.ru_maxrss);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
