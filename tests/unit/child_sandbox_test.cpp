// What a program fleetd starts gets: environment, directory, user and resource limits
// (`[exec]`, `[pool.NAME]`), with real processes.
#include "fleetd/error.hpp"
#include "fleet/sandbox_config.hpp"
#include "fleet/subprocess.hpp"
#include "temp_dir.hpp"

#include <caf/config_value.hpp>
#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace fleet;
using fleet::test::temp_dir;

namespace {

caf::expected<subprocess_result> run_in(child_sandbox sandbox, std::vector<std::string> argv,
                                        std::map<std::string, std::string> env = {}) {
  subprocess_spec spec;
  spec.argv = std::move(argv);
  spec.env = std::move(env);
  spec.sandbox = std::make_shared<const child_sandbox>(std::move(sandbox));
  return run_subprocess(spec);
}

caf::config_value strings(std::vector<std::string> xs) {
  caf::config_value::list out;
  for (auto& x : xs)
    out.emplace_back(std::move(x));
  return caf::config_value{std::move(out)};
}

caf::error read_key(child_sandbox& sb, const std::string& key, caf::config_value value) {
  bool known = false;
  auto err = read_sandbox_key(key, value, "exec." + key, sb, known);
  CHECK(known);
  return err;
}

} // namespace

TEST_CASE("by default a program gets PATH and its task's env, nothing of fleetd's environment") {
  ::setenv("FLEET_SANDBOX_SECRET", "fleetd-only", 1);
  auto r = run_in({}, {"env"}, {{"TASK_VAR", "mine"}});
  REQUIRE(r);
  CHECK(r->stdout_tail == std::string{"PATH="} + default_child_path + "\nTASK_VAR=mine\n");
  // Without a sandbox (the raw primitive) the whole environment passes, as before.
  subprocess_spec raw;
  raw.argv = {"env"};
  auto all = run_subprocess(raw);
  REQUIRE(all);
  CHECK(all->stdout_tail.find("FLEET_SANDBOX_SECRET=fleetd-only") != std::string::npos);
  child_sandbox inherit;
  inherit.inherit_env = true;
  auto inherited = run_in(inherit, {"env"});
  REQUIRE(inherited);
  CHECK(inherited->stdout_tail.find("FLEET_SANDBOX_SECRET=fleetd-only") != std::string::npos);
  ::unsetenv("FLEET_SANDBOX_SECRET");
}

TEST_CASE("the operator passes variables on, sets others, and the task's env wins over both") {
  ::setenv("FLEET_SANDBOX_PASSED", "from-fleetd", 1);
  child_sandbox sb;
  sb.pass_env = {"FLEET_SANDBOX_PASSED", "FLEET_SANDBOX_ABSENT"};
  sb.env = {{"LANG", "C.UTF-8"}, {"PATH", "/bin"}, {"OVERRIDDEN", "operator"}};
  auto env = sb.environment({{"OVERRIDDEN", "task"}});
  CHECK(env == std::vector<std::string>{"FLEET_SANDBOX_PASSED=from-fleetd", "LANG=C.UTF-8", "OVERRIDDEN=task",
                                        "PATH=/bin"});
  CHECK(sb.describe() == "env: PATH +FLEET_SANDBOX_PASSED +FLEET_SANDBOX_ABSENT LANG= OVERRIDDEN= PATH=");
  ::unsetenv("FLEET_SANDBOX_PASSED");
}

TEST_CASE("a program runs in the configured directory") {
  temp_dir dir;
  child_sandbox sb;
  sb.cwd = dir.path().string();
  auto r = run_in(sb, {"pwd"});
  REQUIRE(r);
  CHECK(r->stdout_tail == dir.path().string() + "\n");
  sb.max_files = 64; // the fork path too
  r = run_in(sb, {"pwd"});
  REQUIRE(r);
  CHECK(r->stdout_tail == dir.path().string() + "\n");
}

TEST_CASE("resource limits are in force from the program's first instruction") {
  child_sandbox sb;
  sb.max_files = 32;
  sb.max_memory_mib = 512;
  sb.max_cpu_seconds = 60;
  auto r = run_in(sb, {"sh", "-c", "ulimit -n; ulimit -v; ulimit -t; ulimit -H -t"});
  REQUIRE(r);
  CHECK(r->exit_code == 0);
  CHECK(r->stdout_tail == "32\n524288\n60\n61\n");
  // The process group and signal dispositions are as posix_spawn's: a group of its own.
  auto group = run_in(sb, {"sh", "-c", "cut -d' ' -f5 /proc/$$/stat; echo $$"});
  REQUIRE(group);
  auto lines = group->stdout_tail;
  auto nl = lines.find('\n');
  REQUIRE(nl != std::string::npos);
  CHECK(lines.substr(0, nl) == lines.substr(nl + 1, lines.size() - nl - 2));
}

TEST_CASE("a program over its CPU time is stopped by the kernel") {
  child_sandbox sb;
  sb.max_cpu_seconds = 1;
  auto r = run_in(sb, {"sh", "-c", "while :; do :; done"});
  REQUIRE(r);
  CHECK((r->signal == SIGXCPU || r->signal == SIGKILL));
}

TEST_CASE("a program too big for its memory limit fails, not fleetd") {
  child_sandbox sb;
  sb.max_memory_mib = 16;
  // 64 MiB of memory in one piece cannot be had under 16 MiB of address space.
  auto r = run_in(sb, {"sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}"});
  REQUIRE(r);
  CHECK(r->stdout_tail != "67108864\n");
}

TEST_CASE("as root, a program runs as the configured user with that user's home") {
  if (::geteuid() != 0) {
    MESSAGE("not root: switching users cannot be tried here (CI runs as root)");
    return;
  }
  child_sandbox sb;
  sb.user = "nobody";
  REQUIRE_FALSE(resolve(sb, "exec"));
  REQUIRE(sb.resolved_user);
  auto r = run_in(sb, {"sh", "-c", "id -u; id -g; echo $HOME $USER"});
  REQUIRE(r);
  CHECK(r->stdout_tail == "65534\n65534\n/nonexistent nobody\n");
  // With fleetd's whole environment too: the home and names are the user's, not fleetd's.
  sb.inherit_env = true;
  auto inherited = run_in(sb, {"sh", "-c", "echo $HOME $USER $LOGNAME"});
  REQUIRE(inherited);
  CHECK(inherited->stdout_tail == "/nonexistent nobody nobody\n");
  // Spelled as a uid, the same account.
  child_sandbox by_uid;
  by_uid.user = "65534";
  REQUIRE_FALSE(resolve(by_uid, "exec"));
  CHECK(by_uid.resolved_user->name == "nobody");
}

TEST_CASE("a program that cannot start is told apart on the fork path as on posix_spawn's") {
  child_sandbox sb;
  sb.max_files = 64;
  auto missing = run_in(sb, {"no-such-program-fleetd"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == errc::invalid_task);
  CHECK(error_text(missing.error()).find("No such file or directory") != std::string::npos);
  auto not_exec = run_in(sb, {"/etc/hostname"});
  REQUIRE_FALSE(not_exec);
  CHECK(not_exec.error() == errc::invalid_task);
  temp_dir dir;
  sb.cwd = dir.file("removed-since");
  auto gone = run_in(sb, {"true"});
  REQUIRE_FALSE(gone);
  CHECK(gone.error() == errc::worker_failed);
  CHECK(error_text(gone.error()).find("cannot change to " + dir.file("removed-since")) != std::string::npos);
}

TEST_CASE("bad [exec] keys and values are refused, naming the key") {
  child_sandbox sb;
  CHECK(error_text(read_key(sb, "env", strings({"NOEQUALS"}))).find("exec.env: \"NOEQUALS\" is not NAME=VALUE")
        != std::string::npos);
  CHECK(error_text(read_key(sb, "env", strings({"1X=y"}))).find("is not NAME=VALUE") != std::string::npos);
  CHECK(error_text(read_key(sb, "env", strings({"X=\xff"}))).find("is not UTF-8 text") != std::string::npos);
  CHECK(error_text(read_key(sb, "env", caf::config_value{std::string{"A=b"}})).find("must be a list of strings")
        != std::string::npos);
  CHECK(error_text(read_key(sb, "pass-env", strings({"HOME", "BAD NAME"}))).find("is not a variable name")
        != std::string::npos);
  CHECK(error_text(read_key(sb, "inherit-env", caf::config_value{std::string{"yes"}})).find("true or false")
        != std::string::npos);
  CHECK(error_text(read_key(sb, "max-files", caf::config_value{int64_t{-1}})).find("exec.max-files must be a whole number")
        != std::string::npos);
  CHECK(error_text(read_key(sb, "max-memory", caf::config_value{std::string{"1G"}})).find("whole number")
        != std::string::npos);
  CHECK_FALSE(read_key(sb, "env", strings({"LANG=C.UTF-8", "EMPTY="})));
  CHECK(sb.env == std::map<std::string, std::string>{{"LANG", "C.UTF-8"}, {"EMPTY", ""}});
  bool known = true;
  CHECK_FALSE(read_sandbox_key("colour", caf::config_value{int64_t{1}}, "exec.colour", sb, known));
  CHECK_FALSE(known);
  caf::settings section;
  section["colour"] = int64_t{1};
  CHECK(error_text(read_sandbox(section, "f.ini", "exec", sb)).find("unknown option exec.colour (known: env,")
        != std::string::npos);
}

TEST_CASE("resolve refuses a user, directory or limit this machine cannot give") {
  temp_dir dir;
  auto refused = [](child_sandbox sb) { return error_text(resolve(sb, "pool.p")); };
  child_sandbox unknown_user;
  unknown_user.user = "no-such-user-fleetd";
  CHECK(refused(unknown_user).find("pool.p.user: there is no user \"no-such-user-fleetd\"") != std::string::npos);
  child_sandbox relative;
  relative.cwd = "work";
  CHECK(refused(relative).find("pool.p.cwd must be an absolute path") != std::string::npos);
  child_sandbox file_cwd;
  file_cwd.cwd = "/etc/hostname";
  CHECK(refused(file_cwd).find("is not a directory") != std::string::npos);
  child_sandbox tiny;
  tiny.max_memory_mib = 1;
  CHECK(refused(tiny).find("at least 16") != std::string::npos);
  child_sandbox few;
  few.max_files = 2;
  CHECK(refused(few).find("at least 8") != std::string::npos);
  child_sandbox fine;
  fine.cwd = dir.path().string();
  fine.max_files = 64;
  CHECK_FALSE(resolve(fine, "pool.p"));
  CHECK_FALSE(fine.resolved_user);
}

TEST_CASE("a limit above fleetd's own hard limit is refused where fleetd could not set it (not root)") {
  // In a child process that lowers its hard limits and, as root, becomes nobody: what fleetd sees
  // when it runs as a service user with such limits.
  auto pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    rlimit memory{uint64_t{512} << 20, uint64_t{512} << 20};
    rlimit files{256, 256};
    if (::setrlimit(RLIMIT_AS, &memory) != 0 || ::setrlimit(RLIMIT_NOFILE, &files) != 0)
      ::_exit(10);
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0))
      ::_exit(11);
    child_sandbox memory_hog;
    memory_hog.max_memory_mib = 1024;
    auto memory_error = error_text(resolve(memory_hog, "exec"));
    if (memory_error.find("exec.max-memory: 1024 is more than fleetd's own hard limit (512)") == std::string::npos)
      ::_exit(12);
    child_sandbox many_files;
    many_files.max_files = 1024;
    if (error_text(resolve(many_files, "exec")).find("exec.max-files: 1024 is more than") == std::string::npos)
      ::_exit(13);
    child_sandbox within;
    within.max_memory_mib = 256;
    within.max_files = 128;
    ::_exit(resolve(within, "exec") ? 14 : 0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
