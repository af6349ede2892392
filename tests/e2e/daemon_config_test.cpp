#include "fleetd_process.hpp"

#include <filesystem>

using namespace fleet::test;

namespace {

/// fleetd with `config` as its file: the exit code and the one line it printed.
run_result fleetd_with(const std::string& config, std::vector<std::string> args = {}) {
  temp_dir dir;
  auto path = dir.file("fleetd.ini");
  write_file(path, config);
  std::vector<std::string> argv{bin("fleetd"), "--config-file=" + path, "--fleet.plaintext-loopback=true"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

void check_refused(const std::string& config, const std::string& expected,
                   std::vector<std::string> args = {}) {
  CAPTURE(config);
  auto r = fleetd_with(config, args);
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
  auto last = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
  CHECK(last.rfind("fleetd: ", 0) == 0);
}

} // namespace

TEST_CASE("bad config files and options are refused with one line naming the problem") {
  check_refused("[fleet]\nport=\"abc\"\n", "fleet.port must be an integer (got \"abc\")");
  // PostgreSQL (issue 24): the store's name, its connection string, the failover timeout.
  check_refused("[fleet]\nstore=\"mysql\"\n", "fleet.store must be sqlite or postgres (got \"mysql\")");
  check_refused("[fleet]\nstore=\"postgres\"\npostgres=\"host=x\"\nfailover-timeout=\"1s\"\n",
                "fleet.failover-timeout must be between 3000 and 600000 ms (got 1000)");
  check_refused("[fleet]\nstore=\"postgres\"\npostgres=\"host=x\"\nmax-db-size=10\n", "fleet.max-db-size bounds the SQLite file");
  check_refused("[fleet]\nstore=\"postgres\"\npostgres=\"host=x\"\nfailover-timeout=\"soon\"\n", "fleet.failover-timeout");
  check_refused("[fleet]\nbogus=1\n", "unknown option fleet.bogus");
  check_refused("[fleet]\nmax-workers=0\n", "fleet.max-workers must be between 1 and 100000 (got 0)");
  check_refused("[fleet]\nport=70000\n", "fleet.port must be between 0 and 65535 (got 70000)");
  check_refused("[fleet]\nnode-start-delay=-1\n", "fleet.node-start-delay must be between 0 and 10000 ms (got -1)");
  check_refused("[fleet]\nmax-task-result=1000000000\n",
                "fleet.max-task-result must be between 1024 and 536870912 bytes (got 1000000000)");
  check_refused("[fleet]\n", "fleet.max-task-result must be between 1024", {"--fleet.max-task-result=10"});
  check_refused("[fleet]\nmax-dependency-results=134217729\n",
                "fleet.max-dependency-results must be between 1024 and 134217728 bytes (got 134217729)");
  check_refused("[fleet]\n", "fleet.max-dependency-results must be between 1024",
                {"--fleet.max-dependency-results=0"});
  check_refused("[fleet]\nsynchronous=\"sometimes\"\n", "synchronous must be off, normal or full");
  check_refused("[fleet]\nbackoff-base=500\nbackoff-cap=100\n", "fleet.backoff-cap must be between 500");
  check_refused("[fleet]\nretry-failed-tasks=\"yes\"\n", "fleet.retry-failed-tasks must be true or false");
  check_refused("[fleet]\ndb=unquoted\n", "line 2, column 5: unexpected character (strings must be quoted)");
  check_refused("[fleet]\n", "unknown option --fleet.nope", {"--fleet.nope=1"});
  check_refused("[fleet]\n[pool.p]\nargv=\"sh\"\ntypes=[\"t\"]\n", "pool.p.argv must be a list of strings");
  check_refused("[fleet]\n[pool.p]\nargv=[\"sh\", 3]\ntypes=[\"t\"]\n", "pool.p.argv must be a list of strings (got 3)");
  check_refused("[fleet]\n[pool.p]\nargv=[\"sh\"]\ntypes=[\"t\"]\ncolour=1\n", "unknown option pool.p.colour");
  check_refused("[fleet]\n[pool.p]\nargv=[\"sh\"]\ntypes=[\"t\"]\nsize=0\n", "pool.p.size must be a whole number from 1 to 1000");
  check_refused("[fleet]\n[pool.p]\nargv=[\"sh\"]\ntypes=[\"t\"]\nin-flight=65\n",
                "pool.p.in-flight must be a whole number from 1 to 64");
  check_refused("[fleet]\n[pool.p]\ntypes=[\"t\"]\n", "pool.p.argv must name a program");
  check_refused("[fleet]\n[pool.p]\nargv=[\"sh\"]\n", "pool.p.types must name 1 to 100 task types");
  check_refused("[fleet]\n[pool.p]\nargv=[\"sh\"]\ntypes=[\"t\"]\n[pool.q]\nargv=[\"sh\"]\ntypes=[\"t\"]\n",
                "task type \"t\" belongs to another pool too");
  check_refused("[fleet]\n", "--fleet.max-retries must be an integer", {"--fleet.max-retries=many"});
  check_refused("[fleet]\n", "--fleet.retry-failed-tasks must be true or false", {"--fleet.retry-failed-tasks=maybe"});
  check_refused("[fleet]\nautoscale-min=5\nautoscale-max=4\n", "fleet.autoscale-max must be between 5 and 100000");
  check_refused("[fleet]\nautoscale=true\nautoscale-up-ratio=0\n", "fleet.autoscale-up-ratio must be between 0.1 and 1000");
  check_refused("[fleet]\nautoscale-up-step=-5\n", "fleet.autoscale-up-step must be between 0 and 100000");
  check_refused("[fleet]\nautoscale=true\nautoscale-down-ratio=3\n", "autoscale-down-ratio must be at least 0 and below autoscale-up-ratio");
  check_refused("[fleet]\nmax-task-data=1\n", "fleet.max-task-data must be between 2 and 67108864 bytes (got 1)");
  check_refused("[fleet]\nmax-pending-batches=0\n", "fleet.max-pending-batches must be between 1 and");
  check_refused("[fleet]\nmax-id-length=5000\n", "fleet.max-id-length must be between 1 and 4096 bytes");
  check_refused("[fleet]\nmax-batch-tasks=-1\n", "fleet.max-batch-tasks must be between 1 and");
  check_refused("[fleet]\nmax-delay=\"soon\"\n", "fleet.max-delay must be a duration such as \"30s\"");
  check_refused("[fleet]\nmax-delay=\"-5d\"\n", "fleet.max-delay must be a duration");
  check_refused("[fleet]\nmax-delay=\"11y\"\n", "fleet.max-delay must be a duration");
  check_refused("[fleet]\nmax-delay=\"3651d\"\n", "fleet.max-delay must be between 1000 and 315360000000 ms");
  check_refused("[fleet]\n", "--fleet.max-delay must be a duration", {"--fleet.max-delay=soon"});
  check_refused("[fleet]\nretain-finished=\"30s\"\n", "fleet.retain-finished must be between 60000 and");
  check_refused("[fleet]\nretain-events=\"forever\"\n", "fleet.retain-events must be a duration");
  check_refused("[fleet]\n", "fleet.max-delay must be between 1000 and 315360000000 ms (got 10)",
                {"--fleet.max-delay=10"}); // a bare integer is ms
  check_refused("[fleet]\nexec-allow=\"sh -c\"\n", "fleet.exec-allow names programs separated by commas");
  check_refused("[fleet]\n[exec]\ncolour=1\n", "unknown option exec.colour (known: env, pass-env,");
  check_refused("[fleet]\n[exec]\nenv=[\"JUSTANAME\"]\n", "exec.env: \"JUSTANAME\" is not NAME=VALUE");
  check_refused("[fleet]\n[exec]\nuser=\"no-such-user-fleetd\"\n", "exec.user: there is no user");
  check_refused("[fleet]\n[exec]\ncwd=\"relative/dir\"\n", "exec.cwd must be an absolute path");
  check_refused("[fleet]\n[exec]\nmax-files=-3\n", "exec.max-files must be a whole number from 0");
  check_refused("[fleet]\n[pool.p]\nargv=[\"sh\"]\ntypes=[\"t\"]\nmax-memory=4\n",
                "pool.p.max-memory: 4 MiB is too little");
  check_refused("[fleet]\n[pool.p]\nargv=[\"sh\"]\ntypes=[\"t\"]\ncwd=\"/etc/hostname\"\n",
                "pool.p.cwd: \"/etc/hostname\" is not a directory");
  check_refused("[fleet]\ndb=\"/proc/fleetd-test/x.db\"\n", "cannot create the database directory /proc/fleetd-test");
  temp_dir dir;
  check_refused("[fleet]\ndb=\"" + dir.file("a.db") + "\"\narchive-dir=\"/proc/fleetd-archive\"\n",
                "fleet.archive-dir: cannot create /proc/fleetd-archive");
  auto missing = run({bin("fleetd"), "--config-file=/nonexistent/fleetd.ini"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err == "fleetd: cannot read config file /nonexistent/fleetd.ini\n");
}

TEST_CASE("fleetd refuses a database from a newer fleetd, a foreign file, a used port and a second instance") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  CHECK(d.ctl({"stats"}).exit_code == 0);

  SUBCASE("a second fleetd on the same database") {
    auto r = run({bin("fleetd"), "--config-file=" + d.config_file(), "--fleet.port=0"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("another fleetd (pid") != std::string::npos);
  }
  SUBCASE("a second fleetd through a symlink or a hard link to the database") {
    auto expected = "fleetd: another fleetd (pid " + std::to_string(d.pid()) + ") is running on ";
    temp_dir other;
    auto symlink = other.file("alias.db");
    auto hard_link = d.file("hard.db");
    std::filesystem::create_symlink(d.db(), symlink);
    std::filesystem::create_hard_link(d.db(), hard_link);
    for (const auto& alias : {symlink, hard_link}) {
      auto r = run({bin("fleetd"), "--config-file=" + d.config_file(), "--fleet.port=0", "--fleet.db=" + alias});
      CHECK(r.exit_code == 1);
      CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
    }
    CHECK(d.ctl({"stats"}).exit_code == 0);
  }
  SUBCASE("the port is in use") {
    temp_dir other;
    auto r = run({bin("fleetd"), "--fleet.plaintext-loopback=true", "--fleet.db=" + other.file("x.db"), "--fleet.port=" + std::to_string(d.port())});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("cannot listen on 127.0.0.1:" + std::to_string(d.port())) != std::string::npos);
  }
  SUBCASE("a newer schema, left untouched") {
    CHECK(d.terminate() == 0);
    {
      auto db = fleet::sqlite::database::open(d.db(), false);
      REQUIRE(db);
      REQUIRE_FALSE(db->exec("PRAGMA user_version = 999"));
    }
    auto r = run({bin("fleetd"), "--config-file=" + d.config_file()});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("is newer than this fleetd") != std::string::npos);
    CHECK(d.query_int("PRAGMA user_version") == 999);
  }
  SUBCASE("a file that is not a fleetd database") {
    temp_dir other;
    auto path = other.file("notes.db");
    write_file(path, "these are not the tables you are looking for");
    auto r = run({bin("fleetd"), "--fleet.plaintext-loopback=true", "--fleet.db=" + path, "--fleet.port=0"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("database " + path) != std::string::npos);
    CHECK(read_file(path) == "these are not the tables you are looking for");
  }
}

TEST_CASE("a client over a configured limit is told which one, and nothing is stored") {
  fleetd_process d("max-batch-tasks=3\nmax-task-data=24\nmax-id-length=4\nmax-pending-batches=1\n"
                   "max-workers=1\nmax-delay=\"1h\"\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  auto refused = [&](const std::string& jsonl, const std::string& expected) {
    auto file = d.file("tasks.jsonl");
    write_file(file, jsonl);
    auto r = d.ctl({"submit", file});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
  };
  refused("{\"id\":\"a\",\"type\":\"echo\"}\n{\"id\":\"b\",\"type\":\"echo\"}\n{\"id\":\"c\",\"type\":\"echo\"}\n"
          "{\"id\":\"d\",\"type\":\"echo\"}\n",
          "more than the limit of 3 (fleet.max-batch-tasks)");
  refused("{\"id\":\"a\",\"type\":\"echo\",\"data\":{\"text\":\"far too long for the limit\"}}\n",
          "more than the limit of 24 (fleet.max-task-data)");
  refused("{\"id\":\"abcde\",\"type\":\"echo\"}\n", "longer than 4 bytes (fleet.max-id-length)");
  refused("{\"id\":\"d\",\"type\":\"echo\",\"delay_ms\":3600001}\n", "longer than fleet.max-delay (1h)");
  refused("{\"id\":\"x\",\"type\":\"exec\",\"data\":{\"argv\":[\"ls\"]}}\n", "ls is not in fleetd's fleet.exec-allow");
  CHECK(d.query_int("SELECT count(*) FROM batches") == 0);
  // One unfinished batch is the limit: a long sleep holds it open, the next submit is refused.
  auto file = d.file("one.jsonl");
  write_file(file, "{\"id\":\"s\",\"type\":\"sleep\",\"data\":{\"ms\":60000}}\n");
  auto first = d.submit(file);
  refused("{\"id\":\"e\",\"type\":\"echo\"}\n", "the limit (fleet.max-pending-batches) is 1");
  CHECK(d.query_int("SELECT count(*) FROM batches") == 1);
  // Once it is cancelled (finished), there is room again.
  CHECK(d.ctl({"cancel", first}).exit_code == 0);
  write_file(file, "{\"id\":\"e\",\"type\":\"echo\"}\n");
  d.submit(file);
  CHECK(d.query_int("SELECT count(*) FROM batches") == 2);
}

TEST_CASE("with exec-allow empty, exec is off") {
  fleetd_process d("");
  REQUIRE_MESSAGE(d.start({"--fleet.exec-allow="}), d.log());
  auto file = d.file("tasks.jsonl");
  write_file(file, "{\"id\":\"x\",\"type\":\"exec\",\"data\":{\"argv\":[\"uname\"]}}\n");
  auto r = d.ctl({"submit", file});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("exec is off") != std::string::npos, r.err);
}
