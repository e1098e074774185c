// New-TCP-connection rate, for the data-plane benchmark.
//   nftpm-connrate serve PORT            accept and close connections until killed
//   nftpm-connrate connect ADDR PORT SECONDS
//       opens and closes connections one after another for SECONDS and prints the rate per
//       second. The client closes with RST (SO_LINGER 0) so no TIME_WAIT piles up on its ports.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int serve(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(s, 4096) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  for (;;) {
    int c = accept(s, nullptr, nullptr);
    if (c >= 0) close(c);
  }
}

int connect_loop(const char* addr, int port, double seconds) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) return 2;
  linger lg{1, 0};
  long ok = 0, failed = 0;
  auto start = std::chrono::steady_clock::now();
  auto end = start + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      ++ok;
    } else {
      ++failed;
    }
    close(s);
  }
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%.0f %ld %ld\n", ok / took, ok, failed);
  return ok > 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "serve") == 0) return serve(std::atoi(argv[2]));
  if (argc == 5 && std::strcmp(argv[1], "connect") == 0)
    return connect_loop(argv[2], std::atoi(argv[3]), std::atof(argv[4]));
  std::fprintf(stderr, "usage: nftpm-connrate serve PORT | connect ADDR PORT SECONDS\n");
  return 2;
}
