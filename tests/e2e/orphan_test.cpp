// Programs fleetd started outlive a kill -9 of fleetd (each runs in its own process group): the
// restarted fleetd stops them before their attempts run again, so that never two copies run,
// and a cancel stops the one that does.

#include "fleetd_process.hpp"
#include "protocol_worker.hpp"

#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <random>

using namespace fleet::test;

namespace {

/// The pids of the processes whose command line is exactly `argv` (a fork's child for the moment
/// before it runs another program not counted).
std::vector<pid_t> running(const std::vector<std::string>& argv) {
  std::string wanted;
  for (const auto& a : argv)
    wanted += a + '\0';
  std::vector<std::pair<pid_t, pid_t>> found; // pid, parent
  auto* dir = ::opendir("/proc");
  REQUIRE(dir != nullptr);
  while (auto* d = ::readdir(dir)) {
    if (!std::isdigit(static_cast<unsigned char>(d->d_name[0])))
      continue;
    auto stat = read_proc_file(std::string{"/proc/"} + d->d_name + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] == 'Z')
      continue; // gone, or a zombie: ended
    if (read_proc_file(std::string{"/proc/"} + d->d_name + "/cmdline") == wanted)
      found.emplace_back(static_cast<pid_t>(std::stol(d->d_name)),
                         static_cast<pid_t>(std::atol(stat.c_str() + close + 4))); // after ") S "
  }
  ::closedir(dir);
  // A shell script forks itself for each $(...) and before each program it runs: such a child has
  // its parent's command line for a moment. It is the same program, not another one.
  std::vector<pid_t> out;
  for (const auto& [pid, parent] : found)
    if (std::none_of(found.begin(), found.end(), [&](const auto& other) { return other.first == parent; }))
      out.push_back(pid);
  return out;
}

/// Kills what a failed test would leave behind.
struct kill_on_exit {
  std::vector<std::string> argv;
  ~kill_on_exit() {
    for (auto pid : running(argv))
      ::kill(pid, SIGKILL);
  }
};

/// A sleep no other process on this machine runs.
std::vector<std::string> unique_sleep() {
  std::random_device rd;
  return {"sleep", std::to_string(3000 + rd() % 1000) + "." + std::to_string(rd() % 100000)};
}

} // namespace

TEST_CASE("kill -9 during an exec task: the restart stops the old program first, one copy runs, cancel stops it") {
  auto argv = unique_sleep();
  kill_on_exit cleanup{argv};
  fleetd_process d{"max-workers=2\norphan-grace=5000\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, R"({"id": "t", "type": "exec", "data": {"argv": [")" + argv[0] + R"(", ")" + argv[1] + "\"]}}\n");
  auto id = d.submit(tasks);
  REQUIRE(eventually([&] { return running(argv).size() == 1; }));
  auto first = running(argv).at(0);
  d.kill_hard();
  REQUIRE(eventually([&] { return !d.alive(); }));
  // What the issue found: the program outlives fleetd.
  CHECK(running(argv) == std::vector<pid_t>{first});
  REQUIRE_MESSAGE(d.start(), d.log());
  // Stopped before fleetd listened, so before its attempt could run again.
  auto after_start = running(argv);
  CHECK(std::find(after_start.begin(), after_start.end(), first) == after_start.end());
  CHECK_MESSAGE(d.log().find("was still running: stopped with SIGTERM") != std::string::npos, d.log());
  REQUIRE(eventually([&] { return running(argv).size() == 1; }));
  CHECK(running(argv).at(0) != first);
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'orphan_stopped' AND task_id = 't'"
                    " AND json_extract(detail, '$.signal') = 'SIGTERM'"
                    " AND json_extract(detail, '$.pid') = " + std::to_string(first)) == 1);
  CHECK_MESSAGE(d.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'"
                            " AND error LIKE '%process group " + std::to_string(first) + ") was still running%'") == 1,
                d.query_text("SELECT group_concat(attempt || ' ' || ifnull(outcome, '-') || ' ' || ifnull(error, '-'), '; ') FROM attempts"));
  // Cancel stops the one copy there is.
  CHECK(d.ctl({"cancel", id}).exit_code == 0);
  CHECK(eventually([&] { return running(argv).empty(); }));
  CHECK(d.terminate() == 0);
  // A clean stop leaves nothing for the next start to stop.
  REQUIRE_MESSAGE(d.start(), d.log());
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'orphan_stopped'") == 1);
  CHECK(d.terminate() == 0);
  // fleetd's own story: three starts, the kill -9 found at the next start, two clean stops.
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'fleetd_started'"
                    " AND json_extract(detail, '$.config.max-workers') = 2"
                    " AND json_extract(detail, '$.options.exec-allow') = 'uname,sh,true,false,sleep'") == 3);
  CHECK(d.query_text("SELECT group_concat(json_extract(detail, '$.clean'), ',') FROM"
                     " (SELECT detail FROM events WHERE kind = 'fleetd_stopped' ORDER BY id)") == "0,1,1");
  CHECK(d.query_int("SELECT count(*) FROM fleetd_runs WHERE found_dead_at IS NOT NULL") == 1);
  CHECK(d.query_int("SELECT count(*) FROM fleetd_runs WHERE stopped_at IS NOT NULL") == 2);
}

TEST_CASE("kill -9 while a pool process works: the restart stops it before the new pool starts") {
  temp_dir dir;
  auto script = dir.file("worker.sh");
  write_file(script, protocol_worker_sh);
  std::vector<std::string> pool_argv{"sh", script};
  kill_on_exit cleanup{pool_argv};
  // A short drain: the last stop does not wait 30 s for the task the new pool runs again.
  fleetd_process d{"drain-timeout=100\n[pool.shell]\nargv=[\"sh\", \"" + script + "\"]\ntypes=[\"slow\"]\nsize=1\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  // Never released: the process works on it until it is stopped.
  write_file(tasks, R"({"id": "s", "type": "slow", "data": {"release": ")" + dir.file("never") + "\"}}\n");
  d.submit(tasks);
  // Until its progress arrived: the process has written everything it writes before it waits, so
  // the kill cannot meet it in a write to the closed pipe (SIGPIPE would end it before the restart
  // could find it, and then there is no orphan to stop).
  REQUIRE(eventually([&] {
    for (const auto& w : d.ctl_json({"workers"}))
      if (w["task_id"] == "s" && w["status"] == "active" && w["progress"] == 0.25)
        return true;
    return false;
  }));
  auto old = running(pool_argv);
  REQUIRE(old.size() == 1);
  d.kill_hard();
  REQUIRE(eventually([&] { return !d.alive(); }));
  REQUIRE_MESSAGE(d.start(), d.log());
  auto now = running(pool_argv);
  CHECK(std::find(now.begin(), now.end(), old[0]) == now.end());
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'orphan_stopped' AND batch_id IS NULL"
                    " AND json_extract(detail, '$.label') = 'pool shell'") == 1);
  CHECK(d.terminate() == 0);
}

TEST_CASE("kill -9 of a fleet-node during an exec task: its restart stops the program before it rejoins") {
  auto argv = unique_sleep();
  kill_on_exit cleanup{argv};
  fleetd_process d{"max-workers=2\nlocal-workers=0\nnode-heartbeat=200\nnode-timeout=1000\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  node_process node{d.port(), "node-o", "exec", 1};
  node.add_args({"--node.exec-allow=sleep", "--node.orphan-grace=5000"});
  node.start();
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, R"({"id": "t", "type": "exec", "data": {"argv": [")" + argv[0] + R"(", ")" + argv[1] + "\"]}}\n");
  auto id = d.submit(tasks);
  REQUIRE_MESSAGE(eventually([&] { return running(argv).size() == 1; }), node.log());
  auto first = running(argv).at(0);
  node.kill_hard();
  CHECK(running(argv) == std::vector<pid_t>{first}); // outlives its node
  node.start();
  CHECK(eventually([&] { return node.log().find("was still running: stopped with SIGTERM") != std::string::npos; }));
  // fleetd's audit has it too, with the node, and the label leads to the attempt and its task.
  CHECK(eventually([&] {
    return d.query_int("SELECT count(*) FROM events WHERE kind = 'orphan_stopped'"
                       " AND json_extract(detail, '$.node') = 'node-o'"
                       " AND json_extract(detail, '$.pid') = " + std::to_string(first)
                       + " AND json_extract(detail, '$.signal') = 'SIGTERM'") == 1;
  }));
  CHECK(d.query_text("SELECT t.task_id FROM events e JOIN attempts a ON a.worker_id = json_extract(e.detail, '$.label')"
                     " JOIN tasks t ON t.seq = a.task_seq WHERE e.kind = 'orphan_stopped'")
        == "t");
  CHECK(eventually([&] {
    auto now = running(argv);
    return now.size() == 1 && now[0] != first;
  }));
  CHECK(d.ctl({"cancel", id}).exit_code == 0);
  CHECK(eventually([&] { return running(argv).empty(); }));
  CHECK(node.terminate() == 0);
  CHECK(d.terminate() == 0);
}

TEST_CASE("a second fleet-node of the same name on the same state directory is refused before it runs anything") {
  fleetd_process d{"local-workers=0\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  temp_dir state;
  node_process first{d.port(), "node-s", "echo", 1};
  first.add_args({"--node.state-dir=" + state.path().string()});
  first.start();
  REQUIRE(eventually([&] { return first.log().find("joined") != std::string::npos; }));
  node_process second{d.port(), "node-s", "echo", 1};
  second.add_args({"--node.state-dir=" + state.path().string()});
  second.start();
  CHECK(second.wait_exit() == 1);
  CHECK_MESSAGE(second.log().find("is in use by another process") != std::string::npos, second.log());
  CHECK(first.terminate() == 0);
  CHECK(d.terminate() == 0);
}
