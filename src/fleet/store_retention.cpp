// Retention: finished batches older than fleet.retain-finished go with their tasks and attempts,
// events older than fleet.retain-events go, each in small steps (one transaction each), and free
// pages go back to the file system a few at a time.

#include "fleet/sqlite_store.hpp"
#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"

#include "fleet/json_text.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>

namespace fleet {

using namespace store_detail;

namespace {

void pruning_flag(sqlite3_context* ctx, int, sqlite3_value**) {
  sqlite3_result_int(ctx, *static_cast<bool*>(sqlite3_user_data(ctx)) ? 1 : 0);
}

/// Sets a flag for the lifetime of a scope.
struct flag_guard {
  bool& flag;
  explicit flag_guard(bool& f) : flag(f) { flag = true; }
  ~flag_guard() { flag = false; }
  flag_guard(const flag_guard&) = delete;
  flag_guard& operator=(const flag_guard&) = delete;
};

} // namespace

caf::expected<bool*> sqlite_store::register_pruning_flag(sqlite::database& db) {
  auto* flag = new bool(false);
  auto rc = sqlite3_create_function_v2(db.handle(), "fleet_pruning", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, flag,
                                       pruning_flag, nullptr, nullptr,
                                       [](void* p) { delete static_cast<bool*>(p); });
  if (rc != SQLITE_OK) // SQLite has called the destructor
    return caf::make_error(errc::database_error,
                           std::string{"cannot register fleet_pruning: "} + sqlite3_errmsg(db.handle()));
  return flag;
}

caf::expected<sqlite_store::prune_progress> sqlite_store::prune_step(int64_t now, const retention_policy& policy,
                                                                   int64_t max_rows) {
  prune_progress out;
  if (policy.retain_finished_ms > 0) {
    auto& oldest = stmts_->oldest_finished;
    oldest.rebind(now - policy.retain_finished_ms);
    auto row = oldest.step();
    if (!row)
      return row.error();
    if (*row && policy.only_batch && oldest.column_text(0) != *policy.only_batch) {
      oldest.reset(); // its archive is not written yet: the caller writes it first
      out.more = !policy.only_batch->empty();
    } else if (*row) {
      auto batch_id = oldest.column_text(0);
      auto first = oldest.column_int64(1);
      auto last = oldest.column_int64(2);
      nlohmann::json detail{{"tasks", oldest.column_int64(3)},     {"succeeded", oldest.column_int64(4)},
                            {"failed", oldest.column_int64(5)},    {"cancelled", oldest.column_int64(6)},
                            {"finished_at", oldest.column_int64(7)}};
      if (!policy.archive.empty())
        detail["archive"] = policy.archive;
      oldest.reset();
      // A batch's tasks are one seq range (inserted together by the one writer); the slice ends
      // within it, and where the next slice starts is stored, so a crash resumes there.
      auto until = std::min(last, first + max_rows - 1);
      if (first <= last) {
        if (auto err = stmts_->prune_attempts.execute(first, until))
          return err;
        if (auto err = stmts_->prune_policies.execute(first, until))
          return err;
        if (auto err = stmts_->prune_dependencies.execute(first, until))
          return err;
        if (auto err = stmts_->prune_tasks.execute(first, until, batch_id))
          return err;
        out.tasks = db_.changes();
      }
      if (until < last) {
        if (auto err = stmts_->prune_batch_progress.execute(batch_id, until + 1))
          return err;
      } else {
        if (auto err = stmts_->prune_batch.execute(batch_id))
          return err;
        if (auto err = log_event(now, event_kind::batch_pruned, batch_id, {}, dump_json(detail)))
          return err;
        out.batches = 1;
      }
      out.more = true; // the next step looks for the next batch
    } else {
      oldest.reset();
    }
  }
  if (policy.retain_events_ms > 0) {
    flag_guard pruning{*pruning_events_};
    if (auto err = stmts_->prune_events.execute(now - policy.retain_events_ms, max_rows))
      return err;
    out.events = db_.changes();
    out.more = out.more || out.events > 0;
  }
  return out;
}

caf::expected<std::optional<std::pair<std::string, int64_t>>> sqlite_reader::oldest_finished(int64_t before) {
  auto st = db_.prepare("SELECT id, finished_at FROM batches WHERE finished_at < ?1 ORDER BY finished_at LIMIT 1");
  if (!st)
    return st.error();
  st->rebind(before);
  auto row = st->step();
  if (!row)
    return row.error();
  if (!*row)
    return std::optional<std::pair<std::string, int64_t>>{};
  return std::optional<std::pair<std::string, int64_t>>{std::pair{st->column_text(0), st->column_int64(1)}};
}

caf::expected<int64_t> sqlite_store::reclaim_space(int64_t max_pages) {
  auto before = db_.query_int("PRAGMA page_count");
  if (!before)
    return before.error();
  if (auto err = db_.exec("PRAGMA incremental_vacuum(" + std::to_string(max_pages) + ")"))
    return err;
  auto after = db_.query_int("PRAGMA page_count");
  if (!after)
    return after.error();
  auto page_size = db_.query_int("PRAGMA page_size");
  if (!page_size)
    return page_size.error();
  return (*before - *after) * *page_size;
}

} // namespace fleet
