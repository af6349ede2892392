// What fleetd's programs get (`[exec]`, `[pool.NAME]`): a minimal environment unless the operator
// passes more, a directory, resource limits and, as root, a user of their own.

#include "fleetd_process.hpp"

#include <cstdlib>
#include <sys/stat.h>
#include <unistd.h>

using namespace fleet::test;

namespace {

/// A pool worker that answers every request with what its process sees.
const char* introspecting_worker_sh = R"SH(
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed 's/.*"id":"\([^"]*\)".*/\1/')
  printf '{"id":"%s","ok":true,"result":{"files":%s,"uid":%s,"secret":"%s","cwd":"%s","home":"%s"}}\n' \
    "$id" "$(ulimit -n)" "$(id -u)" "${FLEET_E2E_SECRET:-none}" "$(pwd)" "${HOME:-none}"
done
)SH";

/// Sets a variable in this process (and so in the fleetd it starts) while it lives.
struct scoped_env {
  std::string name;
  scoped_env(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~scoped_env() { ::unsetenv(name.c_str()); }
};

} // namespace

TEST_CASE("exec programs and pool processes get only what the operator gives them") {
  scoped_env secret{"FLEET_E2E_SECRET", "fleetd-only"};
  scoped_env passed{"FLEET_E2E_PASSED", "handed-on"};
  temp_dir work;
  ::chmod(work.path().c_str(), 0755); // the pool's user must reach its script
  auto script = work.file("worker.sh");
  write_file(script, introspecting_worker_sh);
  auto as_root = ::geteuid() == 0;
  fleetd_process d{"[exec]\npass-env=[\"FLEET_E2E_PASSED\"]\nenv=[\"GREETING=hi\"]\ncwd=\"" + work.path().string()
                   + "\"\nmax-files=40\n[pool.seen]\nargv=[\"sh\", \"" + script
                   + "\"]\ntypes=[\"introspect\"]\nsize=1\nmax-files=24\ncwd=\"/\"\n"
                   + (as_root ? "user=\"nobody\"\n" : "")};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks,
             R"J({"id": "e", "type": "exec", "data": {"argv": ["sh", "-c", "echo ${FLEET_E2E_SECRET:-none} $FLEET_E2E_PASSED $GREETING $TASK_VAR $(pwd) $(ulimit -n)"], "env": {"TASK_VAR": "own"}}})J" "\n"
             R"({"id": "p", "type": "introspect", "data": {}})" "\n");
  auto id = d.submit(tasks);
  REQUIRE(d.ctl({"wait", id}).exit_code == 0);
  auto results = d.results_by_task(id);
  REQUIRE_MESSAGE(results.at("e").at("success").get<bool>(), results.at("e").dump());
  const auto& exec_out = results.at("e").at("result");
  CHECK(exec_out.at("stdout") == "none handed-on hi own " + work.path().string() + " 40\n");
  REQUIRE_MESSAGE(results.at("p").at("success").get<bool>(), results.at("p").dump());
  const auto& pool_out = results.at("p").at("result");
  CHECK(pool_out.at("files") == 24);
  CHECK(pool_out.at("secret") == "none");
  CHECK(pool_out.at("cwd") == "/");
  if (as_root) {
    CHECK(pool_out.at("uid") == 65534);
    CHECK(pool_out.at("home") == "/nonexistent");
  } else {
    CHECK(pool_out.at("home") == "none");
  }
  // What programs get is in fleetd's log and in its start event.
  CHECK_MESSAGE(d.log().find("exec: env: PATH +FLEET_E2E_PASSED GREETING=, cwd " + work.path().string()
                             + ", max-files 40") != std::string::npos,
                d.log());
  CHECK(d.query_text("SELECT json_extract(detail, '$.options.exec') FROM events WHERE kind = 'fleetd_started'")
        == "env: PATH +FLEET_E2E_PASSED GREETING=, cwd " + work.path().string() + ", max-files 40");
  CHECK(d.terminate() == 0);
}
