#include "fleetd/error.hpp"
#include "fleet/subprocess.hpp"

#include <doctest/doctest.h>

#include <csignal>

using namespace fleet;

TEST_CASE("a child's exit code and output tails are collected") {
  subprocess_spec spec;
  spec.argv = {"sh", "-c", "printf 'abcdefghij'; printf 'err' >&2; exit 7"};
  spec.tail_bytes = 4;
  auto r = run_subprocess(spec);
  REQUIRE(r);
  CHECK(r->exit_code == 7);
  CHECK(r->stdout_tail == "ghij");
  CHECK(r->stderr_tail == "err");
  CHECK_FALSE(r->timed_out);
}

TEST_CASE("a timeout kills the whole process group") {
  subprocess_spec spec;
  // The grandchild would keep the pipe open for 30 s if it survived.
  spec.argv = {"sh", "-c", "sleep 30 & sleep 30"};
  spec.timeout_ms = 100;
  auto r = run_subprocess(spec);
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(r->signal == SIGKILL);
}

TEST_CASE("kill() from outside stops the child") {
  subprocess_spec spec;
  spec.argv = {"sleep", "30"};
  auto child = child_process::start(spec);
  REQUIRE(child);
  (*child)->kill();
  auto r = (*child)->wait();
  CHECK(r.killed);
  CHECK(r.signal == SIGKILL);
}

TEST_CASE("an empty argv or a missing program is an error, not a crash") {
  CHECK(run_subprocess(subprocess_spec{}).error() == errc::invalid_task);
  subprocess_spec spec;
  spec.argv = {"/definitely/not/here"};
  auto r = run_subprocess(spec);
  REQUIRE_FALSE(r);
  CHECK(error_text(r.error()).find("No such file") != std::string::npos);
}

TEST_CASE("an output tail never begins inside a character, and says it was cut") {
  subprocess_spec spec;
  // 5 bytes of output, one write: keeping the last 4 would split the first é.
  spec.argv = {"sh", "-c", "printf 'a\\303\\251\\303\\251'"};
  spec.tail_bytes = 3;
  auto r = run_subprocess(spec);
  REQUIRE(r);
  CHECK(r->stdout_tail == "\xc3\xa9");
  CHECK(r->stdout_truncated);
  CHECK_FALSE(r->stderr_truncated);
  spec.tail_bytes = 16;
  r = run_subprocess(spec);
  REQUIRE(r);
  CHECK(r->stdout_tail == "a\xc3\xa9\xc3\xa9");
  CHECK_FALSE(r->stdout_truncated);
}

TEST_CASE("a spawn that can never succeed is told apart from one that may succeed later") {
  subprocess_spec missing;
  missing.argv = {"/definitely/not/here"};
  CHECK(run_subprocess(missing).error() == errc::invalid_task);
  subprocess_spec too_long;
  too_long.argv = {"true", std::string(200'000, 'x')}; // longer than MAX_ARG_STRLEN
  auto r = run_subprocess(too_long);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::invalid_task);
  CHECK(error_text(r.error()) == "exec: cannot start true: Argument list too long");
}
