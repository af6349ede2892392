// line_process runs real programs (sh, sleep): these tests wait for real, with deadlines that only
// matter if something hangs.

#include "fleet/line_process.hpp"

#include "fleetd/error.hpp"
#include "fleet/subprocess.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <signal.h>
#include <string>
#include <thread>
#include <vector>

using namespace fleet;

namespace {

/// Collects what a process reports.
struct recorder {
  std::mutex mtx;
  std::condition_variable changed;
  std::vector<std::string> lines;
  size_t batches = 0; ///< how many on_lines calls brought `lines`
  std::vector<std::string> errors;
  std::vector<std::string> logs;
  std::string exit;

  line_process_events events() {
    return {[this](std::vector<std::string> batch) {
              std::lock_guard<std::mutex> guard{mtx};
              CHECK(!batch.empty());
              ++batches;
              for (auto& line : batch)
                lines.push_back(std::move(line));
              changed.notify_all();
            },
            [this](caf::error why) {
              std::lock_guard<std::mutex> guard{mtx};
              errors.push_back(error_text(why));
              changed.notify_all();
            },
            [this](std::string line) {
              std::lock_guard<std::mutex> guard{mtx};
              logs.push_back(std::move(line));
              changed.notify_all();
            },
            [this](std::string how) {
              std::lock_guard<std::mutex> guard{mtx};
              exit = std::move(how);
              changed.notify_all();
            }};
  }

  template <class Predicate>
  bool wait(Predicate done) {
    std::unique_lock<std::mutex> guard{mtx};
    return changed.wait_for(guard, std::chrono::seconds(60), done);
  }
};

std::unique_ptr<line_process> start(recorder& r, std::string script, size_t max_line = 16u << 20) {
  line_process_spec spec;
  spec.argv = {"sh", "-c", std::move(script)};
  spec.max_line = max_line;
  auto p = line_process::start(spec, r.events());
  REQUIRE(p);
  return std::move(*p);
}

bool gone(pid_t pid) {
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close_paren = text.rfind(')');
  return text.empty() || (close_paren != std::string::npos && text.substr(close_paren + 2, 1) == "Z");
}

} // namespace

TEST_CASE("a line process answers line by line on stdout, logs on stderr, and reports its end") {
  recorder r;
  auto p = start(r, R"(while IFS= read -r l; do printf '%s\n' "got $l"; echo "log $l" >&2; done; exit 3)");
  p->write("one\n");
  p->write("two\n");
  REQUIRE(r.wait([&] { return r.lines.size() == 2 && r.logs.size() == 2; }));
  CHECK(r.lines == std::vector<std::string>{"got one", "got two"});
  CHECK(r.logs == std::vector<std::string>{"log one", "log two"});
  // Many lines at once, and one bigger than a pipe's buffer, arrive whole and in order.
  std::string big(200'000, 'b');
  p->write("three\n" + big + "\nfour\n");
  REQUIRE(r.wait([&] { return r.lines.size() == 5; }));
  CHECK(r.lines[2] == "got three");
  CHECK(r.lines[3] == "got " + big);
  CHECK(r.lines[4] == "got four");
  p->kill();
  REQUIRE(r.wait([&] { return !r.exit.empty(); }));
  CHECK(r.exit == "killed by signal 9");
}

TEST_CASE("the lines of one write arrive as one batch, in order") {
  recorder r;
  // printf writes its whole output at once: one pipe write of less than PIPE_BUF, read whole.
  auto p = start(r, R"(read -r l; printf 'a\nb\nc\n'; read -r l)");
  p->write("go\n");
  REQUIRE(r.wait([&] { return r.lines.size() == 3; }));
  CHECK(r.lines == std::vector<std::string>{"a", "b", "c"});
  CHECK(r.batches == 1);
  p->kill();
  REQUIRE(r.wait([&] { return !r.exit.empty(); }));
}

TEST_CASE("a line process that exits reports its code, its last line without a line break included") {
  recorder r;
  auto p = start(r, "printf 'first\\nlast'; exit 3");
  REQUIRE(r.wait([&] { return !r.exit.empty(); }));
  CHECK(r.exit == "exited with code 3");
  CHECK(r.lines == std::vector<std::string>{"first", "last"});
}

TEST_CASE("a child that closes its stdin or stops reading never blocks or kills its parent") {
  recorder closed;
  auto p = start(closed, "exec 0<&-; echo ready; sleep 300");
  REQUIRE(closed.wait([&] { return closed.lines.size() == 1; }));
  for (int i = 0; i < 10; ++i)
    p->write(std::string(100'000, 'x') + "\n"); // EPIPE, not SIGPIPE: this test process survives
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  recorder deaf;
  auto q = start(deaf, "sleep 300");
  q->write(std::string(4u << 20, 'y') + "\n"); // returns at once: the writer thread waits, not us
  auto begin = std::chrono::steady_clock::now();
  p.reset();
  q.reset(); // kills and joins, although its writer is stuck in a full pipe
  CHECK(std::chrono::steady_clock::now() - begin < std::chrono::seconds(30));
  CHECK(closed.exit == "killed by signal 9");
  CHECK(deaf.exit == "killed by signal 9");
}

TEST_CASE("an over-long stdout line is an error once, a long log line is cut") {
  recorder r;
  auto p = start(r, "head -c 5000 /dev/zero | tr '\\0' 'x'; head -c 100000 /dev/zero | tr '\\0' 'e' >&2; echo >&2; sleep 300", 1000);
  REQUIRE(r.wait([&] { return !r.errors.empty() && !r.logs.empty(); }));
  CHECK(r.errors.size() == 1);
  CHECK(r.errors[0].find("a line of more than 1000 bytes") != std::string::npos);
  CHECK(r.lines.empty());
  for (const auto& log : r.logs)
    CHECK(log.size() <= 4096 + 3);
}

TEST_CASE("destroying a line process kills its whole process group") {
  recorder r;
  auto p = start(r, "sleep 300 & echo $!; wait");
  REQUIRE(r.wait([&] { return r.lines.size() == 1; }));
  auto grandchild = static_cast<pid_t>(std::stol(r.lines[0]));
  CHECK_FALSE(gone(grandchild));
  p.reset();
  bool dead = false;
  for (int i = 0; i < 6000 && !dead; ++i) {
    dead = gone(grandchild);
    if (!dead)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(dead);
}

TEST_CASE("a program that cannot start is refused as for exec") {
  line_process_spec spec;
  spec.argv = {"/nonexistent/worker"};
  recorder r;
  auto p = line_process::start(spec, r.events());
  REQUIRE_FALSE(p);
  CHECK(p.error() == errc::invalid_task);
  spec.argv = {};
  CHECK_FALSE(line_process::start(spec, r.events()));
}
