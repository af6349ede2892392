#include "fleet/error.hpp"
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
