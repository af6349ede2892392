#include "fleet/builtin_checks.hpp"
#include "fleetd/error.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace fleet;
using json = nlohmann::json;

namespace {

std::string message_of(const caf::error& err) {
  return err ? error_text(err) : std::string{};
}

} // namespace

TEST_CASE("sleep takes 0 to one week of ms, nothing else") {
  CHECK_FALSE(check_sleep_data(json{{"ms", 0}}));
  CHECK_FALSE(check_sleep_data(json{{"ms", 604'800'000}}));
  CHECK(check_sleep_data(json{{"ms", 604'800'001}}));
  CHECK(check_sleep_data(json{{"ms", -1}}));
  CHECK(check_sleep_data(json::parse("{\"ms\": 18446744073709551615}"))); // unsigned, above int64
  CHECK(check_sleep_data(json{{"ms", 1.5}}));
  CHECK(check_sleep_data(json::array()));
  CHECK(message_of(check_sleep_data(json{{"ms", "soon"}})).find("sleep needs") != std::string::npos);
}

TEST_CASE("fail takes an optional count and an optional error text") {
  CHECK_FALSE(check_fail_data(json::object()));
  CHECK_FALSE(check_fail_data(json{{"times", 2}, {"error", "boom"}}));
  CHECK(check_fail_data(json{{"times", -1}}));
  CHECK(check_fail_data(json::parse("{\"times\": 9223372036854775808}")));
  CHECK(check_fail_data(json{{"error", 3}}));
  CHECK(check_fail_data(json("text")));
}

TEST_CASE("exec needs a program, strings without NUL bytes, and a program on the allow-list") {
  auto any = std::optional<std::vector<std::string>>{};
  CHECK_FALSE(check_exec_data(json{{"argv", {"uname", "-s"}}}, any));
  CHECK(check_exec_data(json{{"argv", json::array()}}, any));
  CHECK(check_exec_data(json{{"argv", {""}}}, any));
  CHECK(check_exec_data(json{{"argv", {"uname", 3}}}, any));
  CHECK(check_exec_data(json{{"argv", {std::string("un\0ame", 6)}}}, any));
  CHECK(check_exec_data(json{{"argv", {"uname"}}, {"env", {{"A=B", "c"}}}}, any));
  CHECK(check_exec_data(json{{"argv", {"uname"}}, {"env", {{"A", std::string("c\0d", 3)}}}}, any));
  CHECK(check_exec_data(json{{"argv", {"uname"}}, {"timeout_ms", -5}}, any));
  CHECK_FALSE(check_exec_data(json{{"argv", {"uname"}}, {"timeout_ms", 5}, {"env", {{"A", "b"}}}}, any));
  std::vector<std::string> allow{"uname", "/usr/bin/date"};
  CHECK_FALSE(check_exec_data(json{{"argv", {"/usr/bin/date"}}}, allow));
  // Exactly as written: another spelling of the same program is not on the list.
  CHECK(message_of(check_exec_data(json{{"argv", {"date"}}}, allow)).find("date is not in fleetd's fleet.exec-allow")
        != std::string::npos);
  CHECK(message_of(check_exec_data(json{{"argv", {"uname"}}}, std::vector<std::string>{})).find("exec is off")
        != std::string::npos);
}

TEST_CASE("exec env may not set what changes the program that runs, unless the operator allows it") {
  auto any = std::optional<std::vector<std::string>>{};
  auto with_env = [](const std::string& name) { return json{{"argv", {"uname"}}, {"env", {{name, "/tmp/x"}}}}; };
  for (const char* name : {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "LD_ANYTHING", "DYLD_INSERT_LIBRARIES",
                           "GCONV_PATH", "GLIBC_TUNABLES", "MALLOC_CHECK_", "PATH", "HOME", "BASH_ENV", "ENV",
                           "BASH_FUNC_ls%%", "IFS", "PYTHONPATH", "PYTHONSTARTUP", "PERL5OPT", "RUBYOPT",
                           "NODE_OPTIONS", "JAVA_TOOL_OPTIONS", "GIT_SSH_COMMAND", "TMPDIR", "OPENSSL_CONF"}) {
    CAPTURE(name);
    CHECK(changes_what_runs(name));
    auto err = check_exec_data(with_env(name), any);
    REQUIRE(err);
    CHECK(message_of(err).find(std::string{"exec: a task may not set "} + name + " in \"env\"") == 0);
    CHECK_FALSE(check_exec_data(with_env(name), any, {name}));
  }
  for (const char* name : {"API_TOKEN", "LANG", "FLEET_GREETING", "XLD_PRELOAD"})
    CHECK_FALSE(check_exec_data(with_env(name), any));
  // The refusal echoes a name made printable.
  CHECK(message_of(check_exec_data(with_env("LD_\x1b[2J"), any)).find("LD_\\x1b[2J") != std::string::npos);
}
