// fleet-demo: submits a mixed batch to an in-process fleet manager on a SQLite file,
// prints progress until the batch ends, then its results and the coordinator's summary.
// Usage: fleet-demo [DB_PATH]   (default var/demo.db)

#include "actors/builtin_workers.hpp"
#include "actors/fleet_manager.hpp"
#include "fleetd/interfaces.hpp"
#include "fleetd/error.hpp"
#include "fleet/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <thread>

using namespace fleet;

namespace {

constexpr auto timeout = std::chrono::seconds(10);

template <class T, class Handle, class... Ts>
caf::expected<T> ask(caf::scoped_actor& self, const Handle& dest, Ts&&... xs) {
  caf::expected<T> out{caf::make_error(errc::unreachable, "no reply")};
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& value) { out = std::move(value); }, [&](caf::error& err) { out = std::move(err); });
  return out;
}

std::vector<task> demo_batch() {
  return {
    {"greet", "echo", R"({"message": "hello from fleetd"})", 5},
    {"nap-1", "sleep", R"({"ms": 300})", 0},
    {"nap-2", "sleep", R"({"ms": 600})", 0},
    {"flaky", "fail", R"({"times": 1, "error": "transient glitch"})", 1},
    {"uname", "exec", R"({"argv": ["uname", "-sr"], "timeout_ms": 5000})", 3},
    {"broken", "exec", R"({"argv": ["sh", "-c", "echo 'no such file' >&2; exit 2"]})", 0},
  };
}

} // namespace

int main(int argc, char** argv) {
  std::string db_path = argc > 1 ? argv[1] : "var/demo.db";
  if (auto err = init_logging("info")) {
    fmt::print(stderr, "fleet-demo: {}\n", error_text(err));
    return 1;
  }
  if (auto dir = std::filesystem::path(db_path).parent_path(); !dir.empty())
    std::filesystem::create_directories(dir);
  auto store = fleet_store::open({db_path, "full"});
  if (!store) {
    fmt::print(stderr, "fleet-demo: {}\n", error_text(store.error()));
    return 1;
  }
  caf::actor_system_config cfg;
  register_fleet_types(cfg);
  caf::actor_system sys{cfg};
  auto registry = std::make_shared<worker_registry>();
  add_builtin_workers(*registry);
  fleet_manager_options opts;
  opts.store = std::move(*store);
  opts.registry = registry;
  opts.initial_config.backoff_base_ms = 200; // keeps the demo's retry short
  opts.initial_config.backoff_cap_ms = 2000;
  auto manager = spawn_fleet_manager(sys, std::move(opts));
  int rc = 0;
  {
    caf::scoped_actor self{sys};
    auto id = ask<std::string>(self, manager, submit_atom::value, demo_batch());
    if (!id) {
      fmt::print(stderr, "fleet-demo: submit failed: {}\n", error_text(id.error()));
      caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
      return 1;
    }
    fmt::print("submitted {} to {}\n", *id, db_path);
    for (;;) {
      auto st = ask<batch_status>(self, manager, status_atom::value, *id);
      if (!st) {
        fmt::print(stderr, "fleet-demo: {}\n", error_text(st.error()));
        rc = 1;
        break;
      }
      fmt::print("  {:<10} {:5.1f}%  succeeded {}  failed {}  of {}\n", to_string(st->status),
                 st->progress * 100, st->completed, st->failed, st->total);
      if (st->finished_at != 0)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    auto rs = ask<std::vector<task_result>>(self, manager, results_atom::value, *id);
    if (rs) {
      fmt::print("results:\n");
      for (auto& r : *rs)
        fmt::print("  {:<7} {:<4} attempts={} {}ms  {}\n", r.task_id, r.success ? "ok" : "FAIL",
                   r.attempts, r.duration_ms, r.success ? r.result : r.error);
    }
    auto coord = ask<coordinator_actor>(self, manager, coordinator_atom::value);
    if (coord) {
      auto summary = ask<result_summary>(self, *coord, summary_atom::value);
      if (summary)
        fmt::print("coordinator: {} results, success rate {:.1f}%, average {:.0f} ms\n",
                   summary->total_results, summary->success_rate * 100, summary->average_duration_ms);
    }
  }
  caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
  return rc;
}
