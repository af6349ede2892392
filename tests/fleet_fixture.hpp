#pragma once

// Deterministic actor tests: CAF's test coordinator runs every job on the test thread and
// only moves time when a test says so. No sleeps, no wall clock.

#include "actors/builtin_workers.hpp"
#include "actors/fleet_manager.hpp"
#include "fleetd/interfaces.hpp"
#include "fleetd/error.hpp"
#include "fleet/sqlite.hpp"
#include "query_db.hpp"
#include "temp_dir.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fleet::test {

struct deterministic_config : caf::actor_system_config {
  deterministic_config() {
    set("scheduler.policy", caf::atom("testing"));
    register_fleet_types(*this);
  }
};

/// An actor system on the test coordinator with one fleet manager on a temporary database.
class fleet_fixture {
public:
  explicit fleet_fixture(fleet_config cfg = small_config(), std::string db_path = {})
    : sys_(config_),
      sched_(dynamic_cast<caf::scheduler::test_coordinator&>(sys_.scheduler())),
      self_(sys_),
      db_path_(db_path.empty() ? dir_.file("fleet.db") : std::move(db_path)) {
    registry_ = std::make_shared<worker_registry>();
    add_builtin_workers(*registry_);
    initial_ = cfg;
  }

  ~fleet_fixture() {
    stop();
  }

  /// The defaults of the tests: small and fast, short backoff.
  static fleet_config small_config() {
    fleet_config cfg;
    cfg.max_concurrent_workers = 2;
    cfg.worker_timeout_ms = 10'000;
    cfg.backoff_base_ms = 100;
    cfg.backoff_cap_ms = 1000;
    return cfg;
  }

  /// A store other than the SQLite file (PostgreSQL): how each start opens it, and an operator's
  /// reads of what it holds.
  struct store_backend {
    std::function<caf::expected<std::shared_ptr<fleet_store>>()> open;
    std::function<int64_t(const std::string&)> query_int;
    std::function<std::string(const std::string&)> query_text;
  };
  void use_store(store_backend backend) { backend_ = std::move(backend); }

  /// Opens the store and spawns the manager (call after adjusting registry/hooks).
  void start() {
    fleet_manager_options opts;
    if (backend_) {
      auto store = backend_->open();
      REQUIRE_MESSAGE(store, (store ? "" : error_text(store.error())));
      opts.store = std::move(*store);
    } else {
      auto store = fleet_store::open({db_path_, synchronous_, 0, check_integrity_});
      REQUIRE_MESSAGE(store, (store ? "" : error_text(store.error())));
      opts.store = std::move(*store);
    }
    opts.initial_config = initial_;
    opts.registry = registry_;
    if (hooks_)
      opts.hooks = hooks_;
    opts.random_seed = 42;
    opts.commit_delay_ms = commit_delay_ms_;
    opts.max_unpaged_results = max_unpaged_results_;
    opts.autoscale = autoscale_;
    opts.user_autoscale = autoscale_hook_;
    opts.local_capacity = local_capacity_;
    opts.node_heartbeat_ms = node_heartbeat_ms_;
    opts.node_timeout_ms = node_timeout_ms_;
    opts.node_rejoin_ms = node_rejoin_ms_;
    opts.node_start_delay_ms = node_start_delay_ms_;
    opts.max_task_result = max_task_result_;
    opts.max_dependency_results = max_dependency_results_;
    opts.limits.max_message_bytes = max_message_bytes_;
    opts.metrics = metrics_;
    opts.max_interruptions = max_interruptions_;
    opts.promotion_slice = promotion_slice_;
    opts.retain_finished_ms = retain_finished_ms_;
    opts.retain_events_ms = retain_events_ms_;
    opts.prune_interval_ms = prune_interval_ms_;
    opts.prune_step_rows = prune_step_rows_;
    opts.declared_schedules = declared_schedules_;
    opts.declared_queues = declared_queues_;
    opts.archive_dir = archive_dir_;
    if (clock_check_ms_ > 0) {
      // A wall clock that the test clock moves on, and that the test may step.
      opts.clock_check_ms = clock_check_ms_;
      opts.wall_clock = [this, origin = sched_.clock().now(), start = wall_clock_now_ms()] {
        auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(sched_.clock().now() - origin);
        return start + elapsed.count() + wall_steps_ms_;
      };
    } else if (wall_offset_ms_ != 0)
      opts.wall_clock = [offset = wall_offset_ms_] {
        using namespace std::chrono;
        return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() + offset;
      };
    manager_ = spawn_fleet_manager(sys_, std::move(opts), false);
    run();
  }

  /// Stops the manager as a shutdown would (its state flushes and is destroyed).
  void stop() {
    if (manager_) {
      caf::anon_send_exit(manager_, caf::exit_reason::user_shutdown);
      run();
      manager_ = nullptr;
    }
  }

  /// Runs every job that is ready, without moving time.
  void run() {
    while (sched_.has_job())
      sched_.run();
  }

  /// Moves time forward by `ms` (firing due timers), then runs what became ready.
  void advance(int64_t ms) {
    sched_.advance_time(std::chrono::milliseconds(ms));
    run();
  }

  /// Moves time in steps until `done()` or `max_ms` have passed; true if done.
  template <class Predicate>
  [[nodiscard]] bool advance_until(Predicate done, int64_t max_ms = 600'000, int64_t step_ms = 10) {
    run();
    for (int64_t t = 0; t <= max_ms; t += step_ms) {
      if (done())
        return true;
      advance(step_ms);
    }
    return done();
  }

  /// Sends a request to the manager, runs the system, and returns the reply or the error.
  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    std::optional<caf::expected<T>> out;
    auto rh = self_->request(manager_, caf::infinite, std::forward<Ts>(xs)...);
    run();
    rh.receive([&](T& value) { out = std::move(value); },
               [&](caf::error& err) { out = std::move(err); });
    return std::move(*out);
  }

  /// Sends a request whose reply may come only after time moves; `receive` on the handle later.
  template <class... Ts>
  auto request(Ts&&... xs) {
    return self_->request(manager_, caf::infinite, std::forward<Ts>(xs)...);
  }

  std::string submit_ok(std::vector<task> tasks) {
    auto id = ask<std::string>(submit_atom::value, std::move(tasks));
    REQUIRE_MESSAGE(id, (id ? "" : error_text(id.error())));
    return *id;
  }

  batch_status status_of(const std::string& id) {
    auto st = ask<batch_status>(status_atom::value, id);
    REQUIRE_MESSAGE(st, (st ? "" : error_text(st.error())));
    return *st;
  }

  bool finished(const std::string& id) {
    return status_of(id).finished_at != 0;
  }

  std::vector<task_result> results_of(const std::string& id) {
    auto rs = ask<std::vector<task_result>>(results_atom::value, id);
    REQUIRE_MESSAGE(rs, (rs ? "" : error_text(rs.error())));
    return *rs;
  }

  fleet_stats stats() {
    auto st = ask<fleet_stats>(stats_atom::value);
    REQUIRE(st);
    return *st;
  }

  /// A read-only look at the database file, as an operator would take.
  int64_t query_int(const std::string& sql) {
    return backend_ ? backend_->query_int(sql) : query_db_int(db_path_, sql);
  }
  std::string query_text(const std::string& sql) {
    return backend_ ? backend_->query_text(sql) : query_db_text(db_path_, sql);
  }

  caf::actor_system& sys() { return sys_; }
  worker_registry& registry() { return *registry_; }
  void set_hooks(std::shared_ptr<execution_hooks> hooks) { hooks_ = std::move(hooks); }
  void set_commit_delay(int64_t ms) { commit_delay_ms_ = ms; }
  void set_max_unpaged_results(int64_t n) { max_unpaged_results_ = n; }
  void set_autoscale(autoscale_policy policy) { autoscale_ = policy; }
  void set_autoscale_hook(autoscale_hook hook) { autoscale_hook_ = std::move(hook); }
  void set_max_interruptions(int32_t n) { max_interruptions_ = n; }
  void set_promotion_slice(int64_t n) { promotion_slice_ = n; }
  /// fleet.retain-finished and fleet.retain-events (0 keeps everything), the pass interval and
  /// the most tasks (and events) one step deletes.
  void set_retention(int64_t finished_ms, int64_t events_ms, int64_t interval_ms = 60'000, int64_t step_rows = 2'000) {
    retain_finished_ms_ = finished_ms;
    retain_events_ms_ = events_ms;
    prune_interval_ms_ = interval_ms;
    prune_step_rows_ = step_rows;
  }
  /// fleet.archive-dir for the next start.
  void set_archive_dir(std::string dir) { archive_dir_ = std::move(dir); }
  /// The config file's [schedule.NAME] sections for the next start.
  void set_declared_schedules(std::vector<schedule_spec> specs) { declared_schedules_ = std::move(specs); }
  void set_declared_queues(std::map<std::string, queue_limits> queues) { declared_queues_ = std::move(queues); }
  /// The next start reads the wall clock this far ahead (a restart after a while, or a clock step).
  void set_wall_offset(int64_t ms) { wall_offset_ms_ = ms; }
  /// The manager compares its clock with the wall clock every `ms`; the test steps that clock
  /// with step_wall_clock.
  void check_clock_every(int64_t ms) { clock_check_ms_ = ms; }
  void step_wall_clock(int64_t ms) { wall_steps_ms_ += ms; }
  static int64_t wall_clock_now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
  /// Whether the store checks the file at open (off: damage that appears while fleetd runs).
  void set_check_integrity(bool on) { check_integrity_ = on; }
  void set_synchronous(std::string mode) { synchronous_ = std::move(mode); }
  /// fleet.local-workers, node-heartbeat and node-timeout.
  void set_nodes(int32_t local_capacity, int64_t heartbeat_ms = 1000, int64_t timeout_ms = 5000) {
    local_capacity_ = local_capacity;
    node_heartbeat_ms_ = heartbeat_ms;
    node_timeout_ms_ = timeout_ms;
  }
  /// How long attempts on nodes wait for their node after a start (0: interrupted at once).
  void set_node_rejoin(int64_t ms) { node_rejoin_ms_ = ms; }
  void set_node_start_delay(int64_t ms) { node_start_delay_ms_ = ms; }
  int64_t node_start_delay() const { return node_start_delay_ms_; }
  /// fleet.max-task-result
  void set_max_task_result(size_t bytes) { max_task_result_ = bytes; }
  void set_max_dependency_results(size_t bytes) { max_dependency_results_ = bytes; }
  /// fleet.max-message-size: what one message to or from a node may hold.
  void set_max_message_bytes(size_t bytes) { max_message_bytes_ = bytes; }
  fleet_manager_actor& manager() { return manager_; }
  /// What the manager counted (reset_metrics() gives the next start a fresh set).
  const fleet_metrics& metrics() const { return *metrics_; }
  void reset_metrics() { metrics_ = std::make_shared<fleet_metrics>(); }
  const std::string& db_path() const { return db_path_; }
  fleet_config& initial_config() { return initial_; }

private:
  temp_dir dir_;
  deterministic_config config_;
  caf::actor_system sys_;
  caf::scheduler::test_coordinator& sched_;
  caf::scoped_actor self_;
  std::string db_path_;
  std::shared_ptr<worker_registry> registry_;
  std::shared_ptr<execution_hooks> hooks_;
  fleet_config initial_;
  int64_t commit_delay_ms_ = 0;
  int64_t max_unpaged_results_ = 100'000;
  autoscale_policy autoscale_;
  autoscale_hook autoscale_hook_;
  int32_t local_capacity_ = -1;
  int64_t node_heartbeat_ms_ = 1000;
  int64_t node_timeout_ms_ = 5000;
  int64_t node_rejoin_ms_ = 0;
  int64_t node_start_delay_ms_ = fleet_manager_options{}.node_start_delay_ms;
  size_t max_task_result_ = fleet_manager_options{}.max_task_result;
  size_t max_dependency_results_ = fleet_manager_options{}.max_dependency_results;
  size_t max_message_bytes_ = submit_limits{}.max_message_bytes;
  int32_t max_interruptions_ = 3;
  int64_t promotion_slice_ = 10'000;
  int64_t retain_finished_ms_ = 0; // the tests that test retention turn it on
  int64_t retain_events_ms_ = 0;
  int64_t prune_interval_ms_ = 60'000;
  int64_t prune_step_rows_ = 2'000;
  bool check_integrity_ = true;
  std::string synchronous_ = "normal";
  std::vector<schedule_spec> declared_schedules_;
  std::map<std::string, queue_limits> declared_queues_;
  std::string archive_dir_;
  int64_t wall_offset_ms_ = 0;
  int64_t clock_check_ms_ = 0;
  int64_t wall_steps_ms_ = 0;
  std::shared_ptr<fleet_metrics> metrics_ = std::make_shared<fleet_metrics>();
  fleet_manager_actor manager_;
  std::optional<store_backend> backend_;
};

inline task make_task(std::string id, std::string type, std::string data = "{}", int32_t priority = 0) {
  return task{std::move(id), std::move(type), std::move(data), priority};
}

/// n sleep tasks of `ms` each, ids prefix0, prefix1, ...
inline std::vector<task> sleep_tasks(int n, int ms, const std::string& prefix = "s") {
  std::vector<task> out;
  for (int i = 0; i < n; ++i)
    out.push_back(make_task(prefix + std::to_string(i), "sleep", "{\"ms\": " + std::to_string(ms) + "}"));
  return out;
}

/// Another program's connection holding the database's write lock while it lives: fleetd's
/// transactions cannot begin meanwhile (busy_timeout), and begin again once it is gone.
class write_lock_holder {
public:
  explicit write_lock_holder(const std::string& db_path) : db_(open(db_path)) {
    REQUIRE_FALSE(db_.exec("BEGIN IMMEDIATE"));
  }
  ~write_lock_holder() { CHECK_FALSE(db_.exec("ROLLBACK")); }
  write_lock_holder(const write_lock_holder&) = delete;
  write_lock_holder& operator=(const write_lock_holder&) = delete;

private:
  static sqlite::database open(const std::string& path) {
    auto db = sqlite::database::open(path);
    REQUIRE(db);
    return std::move(*db);
  }
  sqlite::database db_;
};

inline std::vector<task> echo_tasks(int n, int32_t priority = 0) {
  std::vector<task> out;
  for (int i = 0; i < n; ++i)
    out.push_back(make_task("t" + std::to_string(i), "echo", "{\"n\":" + std::to_string(i) + "}", priority));
  return out;
}

} // namespace fleet::test
