#include "fleet/end_process.hpp"
#include "fleet/log.hpp"

#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <fcntl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

TEST_CASE("end_process ends with its code while other threads go on logging") {
  // fleetd steps down, and ends after a drain, while its actors may still log: the log must stay
  // usable to the last moment. Each round's child has three threads logging without pause when
  // its main thread ends it.
  for (int round = 0; round < 20; ++round) {
    auto pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto null = ::open("/dev/null", O_WRONLY);
      if (null < 0 || ::dup2(null, 2) < 0 || fleet::init_logging("info"))
        std::_Exit(90);
      std::atomic<int> lines{0};
      for (int t = 0; t < 3; ++t)
        std::thread{[&lines] {
          for (;;) {
            spdlog::info("line {}", lines.load());
            lines.fetch_add(1);
          }
        }}.detach();
      while (lines.load() < 1000)
        std::this_thread::yield();
      fleet::end_process(7);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CAPTURE(round);
    CHECK_MESSAGE(WIFEXITED(status), "ended by signal " << WTERMSIG(status));
    CHECK(WEXITSTATUS(status) == 7);
  }
}
