// The child journal and the stop of programs a killed fleetd left running: real processes, each
// in its own process group, as fleetd starts them.
#include "fleetd/error.hpp"
#include "fleet/child_journal.hpp"
#include "fleet/orphans.hpp"
#include "fleet/subprocess.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

using namespace fleet;
using fleet::test::temp_dir;

namespace {

/// Installs `j` for spawn_child while it lives.
struct installed {
  explicit installed(child_journal* j) { child_journal::install(j); }
  ~installed() { child_journal::install(nullptr); }
};

std::shared_ptr<child_process> start(std::vector<std::string> argv, std::string label) {
  subprocess_spec spec;
  spec.argv = std::move(argv);
  spec.label = std::move(label);
  auto child = child_process::start(spec);
  REQUIRE(child);
  return *child;
}

bool alive(pid_t pid) {
  auto st = read_process_stat(pid);
  return st.has_value();
}

/// Waits (bounded) until `pid` has started what it execs: a process group member is only seen
/// once it runs.
bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 500 && !done(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}

} // namespace

TEST_CASE("the journal names the children a run left unreaped, and forgets those it reaped") {
  temp_dir dir;
  auto path = dir.file("fleet.db-children");
  auto first = child_journal::open(path);
  REQUIRE(first);
  CHECK((*first)->previous_run().empty());
  installed guard{first->get()};
  auto running = start({"sleep", "30"}, "worker-a-1");
  auto done = start({"true"}, "worker-a-2");
  CHECK(done->wait().exit_code == 0); // reaped: forgotten
  // The next run, as after a kill -9: the process that wrote the journal never cleared its entry.
  auto second = child_journal::open(path);
  REQUIRE(second);
  const auto& left = (*second)->previous_run();
  REQUIRE(left.size() == 1);
  CHECK(left[0].name() == "worker-a-1");
  CHECK(left[0].pid == running->pid());
  CHECK(left[0].start_ticks == read_process_stat(running->pid())->start_ticks);
  CHECK(left[0].started_at > 0);
  // A run killed before it dealt with them leaves them to the next.
  auto third = child_journal::open(path);
  REQUIRE(third);
  REQUIRE((*third)->previous_run().size() == 1);
  CHECK((*third)->previous_run()[0].name() == "worker-a-1");
  (*third)->forget_previous();
  CHECK((*third)->previous_run().empty());
  running->kill();
  // Once dealt with, they are gone for good.
  auto fourth = child_journal::open(path);
  REQUIRE(fourth);
  CHECK((*fourth)->previous_run().empty());
}

TEST_CASE("a program left running gets SIGTERM, its whole group goes, and the stop says so") {
  temp_dir dir;
  auto path = dir.file("fleet.db-children");
  auto first = child_journal::open(path);
  REQUIRE(first);
  installed guard{first->get()};
  // The program started a child of its own and ended: only the group is left.
  auto leader = start({"sh", "-c", "sleep 30 & echo $! > " + dir.file("grandchild") + "; exit 0"}, "worker-b-1");
  auto plain = start({"sleep", "30"}, "worker-b-2");
  REQUIRE(eventually([&] { return std::ifstream{dir.file("grandchild")}.peek() != EOF; }));
  pid_t grandchild = 0;
  std::ifstream{dir.file("grandchild")} >> grandchild;
  REQUIRE(grandchild > 0);
  REQUIRE(eventually([&] { return !alive(leader->pid()); })); // a zombie: ended, not reaped
  auto next = child_journal::open(path);
  REQUIRE(next);
  REQUIRE((*next)->previous_run().size() == 2);
  auto stops = stop_orphans((*next)->previous_run(), std::chrono::seconds(10));
  REQUIRE(stops.size() == 2);
  for (const auto& s : stops)
    CHECK(s.how == "SIGTERM");
  CHECK_FALSE(alive(grandchild));
  CHECK_FALSE(alive(plain->pid()));
  CHECK(group_members(leader->pid(), 0).empty());
}

TEST_CASE("a child that ended before it was noted is noted all the same: its group may live on") {
  // spawn_child notes a child after posix_spawn returns; on a loaded machine a short leader has
  // ended by then (the CI failure of this suite's SIGTERM case).
  temp_dir dir;
  auto journal = child_journal::open(dir.file("fleet.db-children"));
  REQUIRE(journal);
  auto ended = start({"true"}, "not-noted"); // no journal installed: noted by hand below
  REQUIRE(eventually([&] {
    auto st = read_process_stat(ended->pid(), zombies::include);
    return st && st->state == 'Z';
  }));
  CHECK_FALSE(read_process_stat(ended->pid()).has_value());
  auto slot = (*journal)->note(ended->pid(), "worker-z-1", 1);
  CHECK(slot != child_journal::npos);
  auto next = child_journal::open(dir.file("fleet.db-children"));
  REQUIRE(next);
  REQUIRE((*next)->previous_run().size() == 1);
  CHECK((*next)->previous_run()[0].pid == ended->pid());
  CHECK((*next)->previous_run()[0].start_ticks > 0);
}

TEST_CASE("a program that ignores SIGTERM is killed after the grace period") {
  temp_dir dir;
  auto path = dir.file("fleet.db-children");
  auto first = child_journal::open(path);
  REQUIRE(first);
  installed guard{first->get()};
  auto stubborn = start({"sh", "-c", "trap '' TERM; touch " + dir.file("ready") + "; sleep 30; sleep 30"}, "worker-c-1");
  REQUIRE(eventually([&] { return std::ifstream{dir.file("ready")}.good(); }));
  auto next = child_journal::open(path);
  REQUIRE(next);
  auto stops = stop_orphans((*next)->previous_run(), std::chrono::milliseconds(200));
  REQUIRE(stops.size() == 1);
  CHECK(stops[0].how == "SIGKILL");
  CHECK(stops[0].label == "worker-c-1");
  CHECK(group_members(stubborn->pid(), 0).empty());
}

TEST_CASE("a pid now held by another process is never signalled") {
  temp_dir dir;
  auto path = dir.file("fleet.db-children");
  auto bystander = start({"sleep", "30"}, "not-noted"); // no journal installed: not noted
  // An entry for the bystander's pid, but with another start time: as if the recorded child had
  // ended and the system had given its pid to this process.
  {
    auto first = child_journal::open(path);
    REQUIRE(first);
    installed guard{first->get()};
    auto noted = start({"sleep", "30"}, "worker-d-1");
    auto next = child_journal::open(path);
    REQUIRE(next);
    auto entry = (*next)->previous_run().at(0);
    noted->kill();
    entry.pid = bystander->pid();
    // Recorded a clock tick before the bystander started (processes started within one tick
    // share a start time: the journal cannot tell those apart, and the system would not reuse a
    // pid that fast).
    entry.start_ticks = read_process_stat(bystander->pid())->start_ticks - 1;
    auto stops = stop_orphans({entry}, std::chrono::milliseconds(200));
    REQUIRE(stops.size() == 1);
    CHECK(stops[0].how == "gone");
  }
  CHECK(alive(bystander->pid()));
  bystander->kill();
}

TEST_CASE("a damaged, foreign or other-writable journal file is handled without harm") {
  temp_dir dir;
  auto path = dir.file("fleet.db-children");
  {
    std::ofstream out{path, std::ios::binary};
    out << std::string(5000, '\xff');
  }
  ::chmod(path.c_str(), 0600);
  auto damaged = child_journal::open(path);
  REQUIRE(damaged);
  CHECK((*damaged)->previous_run().empty()); // a bad header names no process
  damaged->reset();
  // Whoever may write it could name any process to be killed: refused, with the reason.
  ::chmod(path.c_str(), 0622);
  auto open_to_others = child_journal::open(path);
  REQUIRE_FALSE(open_to_others);
  CHECK(error_text(open_to_others.error()).find("only it may write") != std::string::npos);
  ::chmod(path.c_str(), 0600);
  ::symlink(path.c_str(), dir.file("link").c_str());
  CHECK_FALSE(child_journal::open(dir.file("link")));
}

TEST_CASE("a full journal leaves the next child unnoted rather than overwriting one") {
  temp_dir dir;
  auto j = child_journal::open(dir.file("j"), 2);
  REQUIRE(j);
  auto self = ::getpid();
  auto a = (*j)->note(self, "a", 1);
  auto b = (*j)->note(self, "b", 1);
  CHECK(a != child_journal::npos);
  CHECK(b != child_journal::npos);
  CHECK((*j)->note(self, "c", 1) == child_journal::npos);
  (*j)->clear(a);
  CHECK((*j)->note(self, "d", 1) == a);
  // A label longer than an entry holds is cut, still terminated.
  auto next = child_journal::open(dir.file("j"), 2);
  REQUIRE(next);
  CHECK((*next)->previous_run().size() == 2);
  (*j)->clear(b);
  auto long_label = std::string(200, 'x');
  auto more = child_journal::open(dir.file("j2"), 2);
  REQUIRE(more);
  (*more)->note(self, long_label, 1);
  auto reread = child_journal::open(dir.file("j2"), 2);
  REQUIRE(reread);
  REQUIRE((*reread)->previous_run().size() == 1);
  CHECK((*reread)->previous_run()[0].name() == std::string(71, 'x'));
}
