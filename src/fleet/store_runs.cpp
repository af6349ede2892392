// fleetd's starts and stops: the fleetd_runs table and their events (schema 0010). Rare: once per
// start and once per clean stop, so the statements are prepared when used.

#include "fleet/sqlite_store.hpp"
#include "fleet/store.hpp"

#include "fleet/json_text.hpp"

#include <nlohmann/json.hpp>

namespace fleet {

caf::expected<int64_t> sqlite_store::record_run_start(int64_t now, int64_t pid, const std::string& version,
                                                     const std::string& detail) {
  auto open = db_.prepare("SELECT id, started_at FROM fleetd_runs WHERE stopped_at IS NULL AND found_dead_at IS NULL"
                          " ORDER BY id");
  if (!open)
    return open.error();
  std::vector<std::pair<int64_t, int64_t>> dead;
  if (auto err = open->each_row([&] { dead.emplace_back(open->column_int64(0), open->column_int64(1)); }))
    return err;
  auto mark = db_.prepare("UPDATE fleetd_runs SET found_dead_at = ?2 WHERE id = ?1");
  if (!mark)
    return mark.error();
  for (const auto& [id, started_at] : dead) {
    mark->rebind(id, now);
    if (auto err = mark->run())
      return err;
    auto event = nlohmann::json{{"run", id}, {"clean", false}, {"started_at", started_at}};
    if (auto err = log_event(now, event_kind::fleetd_stopped, {}, {}, event.dump()))
      return err;
  }
  auto insert = db_.prepare("INSERT INTO fleetd_runs (started_at, pid, version) VALUES (?1, ?2, ?3)");
  if (!insert)
    return insert.error();
  insert->rebind(now, pid, version);
  if (auto err = insert->run())
    return err;
  auto run = db_.last_insert_rowid();
  auto event = nlohmann::json::parse(detail, nullptr, false);
  if (!event.is_object())
    event = nlohmann::json::object();
  event["run"] = run;
  if (auto err = log_event(now, event_kind::fleetd_started, {}, {}, dump_json(event)))
    return err;
  return run;
}

caf::error sqlite_store::record_run_stop(int64_t run, int64_t now, int64_t running, int64_t clock_steps_ms) {
  auto started = db_.prepare("UPDATE fleetd_runs SET stopped_at = ?2 WHERE id = ?1 RETURNING started_at");
  if (!started)
    return started.error();
  started->rebind(run, now);
  int64_t started_at = now;
  if (auto err = started->each_row([&] { started_at = started->column_int64(0); }))
    return err;
  auto event = nlohmann::json{{"run", run}, {"clean", true}, {"uptime_ms", now - started_at - clock_steps_ms}, {"running", running}};
  return log_event(now, event_kind::fleetd_stopped, {}, {}, event.dump());
}

caf::expected<int64_t> sqlite_store::record_clock_step(int64_t from, int64_t by_ms, int64_t since) {
  // tasks.attempts is the number of the attempt whose failure scheduled the retry.
  auto shift = db_.prepare("UPDATE tasks SET not_before = not_before + ?1 WHERE state = 'retry_wait'"
                           " AND (SELECT finished_at FROM attempts WHERE task_seq = tasks.seq AND attempt = tasks.attempts)"
                           " BETWEEN ?2 AND ?3");
  if (!shift)
    return shift.error();
  shift->rebind(by_ms, since, from);
  if (auto err = shift->run())
    return err;
  auto moved = db_.changes();
  auto event = nlohmann::json{{"from", from}, {"to", from + by_ms}, {"by_ms", by_ms}, {"retries_moved", moved}};
  if (auto err = log_event(from + by_ms, event_kind::clock_stepped, {}, {}, event.dump()))
    return err;
  return moved;
}

caf::expected<int64_t> sqlite_store::pull_in_future_retries(int64_t now, int64_t backoff_cap_ms) {
  // A retry waits at most the longer of the cap and its task's own backoff. The cap's condition
  // lets the partial index tasks_retry_due skip every retry due in time.
  auto pull = db_.prepare("UPDATE tasks SET not_before = ?1 + max(?2, coalesce((SELECT backoff_ms FROM task_policies"
                          " WHERE task_seq = tasks.seq), 0)) WHERE state = 'retry_wait' AND not_before > ?1 + ?2"
                          " AND not_before > ?1 + coalesce((SELECT backoff_ms FROM task_policies"
                          " WHERE task_seq = tasks.seq), 0)");
  if (!pull)
    return pull.error();
  pull->rebind(now, backoff_cap_ms);
  if (auto err = pull->run())
    return err;
  auto moved = db_.changes();
  if (moved == 0)
    return moved;
  auto event = nlohmann::json{{"found_at_start", true}, {"to", now}, {"retries_moved", moved}};
  if (auto err = log_event(now, event_kind::clock_stepped, {}, {}, event.dump()))
    return err;
  return moved;
}

} // namespace fleet
