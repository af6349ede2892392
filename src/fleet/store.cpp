#include "fleet/sqlite_store.hpp"
#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"
#include "fleet/store_rows.hpp"
#include "fleet/store_sql.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_text.hpp"
#include "fleet/migrations.hpp"
#include "fleet/upload_rows.hpp"
#include "fleet/validation.hpp"
#include "fleet/wal_coalescing_vfs.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <utility>

namespace fleet {

using namespace store_detail;

namespace {

std::string damaged_advice(const std::string& path) {
  return fmt::format("fleetd writes nothing into a damaged file. Restore it from a backup, or keep what can "
                     "still be read: sqlite3 {0} .recover | sqlite3 {0}.recovered, then start fleetd on the "
                     "recovered file",
                     path);
}

caf::error quick_check(sqlite::database& db, const std::string& path) {
  auto st = db.prepare("PRAGMA quick_check(5)");
  if (!st)
    return st.error();
  std::vector<std::string> problems;
  if (auto err = st->each_row([&] { problems.push_back(st->column_text(0)); }))
    return caf::make_error(errc::database_damaged,
                           fmt::format("database {} cannot be checked ({}): {}", path, error_text(err),
                                       damaged_advice(path)));
  if (problems.size() == 1 && problems[0] == "ok")
    return caf::none;
  return caf::make_error(errc::database_damaged,
                         fmt::format("database {} is damaged (PRAGMA quick_check: {}): {}", path,
                                     fmt::join(problems, "; "), damaged_advice(path)));
}


} // namespace




caf::expected<std::unique_ptr<fleet_store>> fleet_store::open(const store_options& opts) {
  auto store = sqlite_store::open(opts);
  if (!store)
    return store.error();
  return std::unique_ptr<fleet_store>{std::move(*store)};
}

caf::expected<std::unique_ptr<sqlite_store>> sqlite_store::open(const store_options& opts) {
  if (auto err = validate_synchronous(opts.synchronous))
    return err;
  // Only a connection that syncs the WAL at every commit may gather its WAL writes (see there).
  auto vfs = opts.synchronous == "full" ? sqlite::wal_coalescing_vfs() : nullptr;
  auto db = sqlite::database::open(opts.path, true, vfs);
  if (!db)
    return db.error();
  // A 64 MiB page cache (the default is 2 MiB): the indexes that a million-task batch writes into
  // stay in memory, which makes its submit about a quarter faster (docs/BENCHMARKS.md).
  auto pragmas = fmt::format("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; "
                             "PRAGMA synchronous = {}; PRAGMA cache_size = -65536;",
                             opts.synchronous);
  if (auto err = db->exec(pragmas))
    return err;
  int64_t check_ms = -1;
  if (opts.check_integrity) {
    auto start = std::chrono::steady_clock::now();
    if (auto err = quick_check(*db, opts.path))
      return err;
    check_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                 .count();
  }
  auto version_before = db->query_int("PRAGMA user_version");
  if (!version_before)
    return version_before.error();
  auto migration_start = std::chrono::steady_clock::now();
  if (auto err = migrate(*db))
    return err;
  auto migration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now()
                                                                            - migration_start)
                        .count();
  if (auto err = db->exec("PRAGMA journal_mode = WAL"))
    return err;
  if (opts.max_size_mib > 0) {
    auto page_size = db->query_int("PRAGMA page_size");
    if (!page_size)
      return page_size.error();
    auto pages = opts.max_size_mib * (int64_t{1} << 20) / *page_size;
    if (auto err = db->exec(fmt::format("PRAGMA max_page_count = {}", pages)))
      return err;
  }
  auto store = with_statements(std::move(*db));
  if (!store)
    return store;
  (*store)->integrity_check_ms_ = check_ms;
  (*store)->migration_ = {*version_before, latest_schema_version(), migration_ms};
  if (opts.checkpoint_thread) {
    auto checkpointer = sqlite::wal_checkpointer::start((*store)->db_, opts.path, opts.synchronous);
    if (!checkpointer)
      return checkpointer.error();
    (*store)->checkpointer_ = std::move(*checkpointer);
  }
  return store;
}

caf::expected<std::unique_ptr<store_reader>> sqlite_store::open_reader() const {
  auto db = sqlite::database::open(db_.filename(), false);
  if (!db)
    return db.error();
  // WAL: this connection reads the last commit while the writer's connection writes the next.
  if (auto err = db->exec("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;"))
    return err;
  auto reads = prepare_reads(*db);
  if (!reads)
    return reads.error();
  return std::unique_ptr<store_reader>(new sqlite_reader(std::move(*db), std::move(*reads)));
}

caf::expected<std::unique_ptr<sqlite_store>> sqlite_store::with_statements(sqlite::database db) {
  if (auto err = register_upload_rows(db.handle()))
    return err;
  auto pruning = register_pruning_flag(db);
  if (!pruning)
    return pruning.error();
  auto dependencies = db.query_int(sql::any_dependency);
  if (!dependencies)
    return dependencies.error();
  auto reads = prepare_reads(db);
  if (!reads)
    return reads.error();
  statement_preparer prepare{db, {}};
  auto writes = std::make_unique<statements>(statements{
    .save_config = prepare(sql::save_config),
    .delete_config = prepare(sql::delete_config),
    .insert_batch = prepare(sql::insert_batch),
    .insert_task = prepare(sql::insert_task),
    .insert_policy = prepare(sql::insert_policy),
    .set_batch_range = prepare(sql::set_batch_range),
    .open_upload = prepare(sql::open_upload),
    .stage_part = prepare(sql::stage_part),
    .count_upload = prepare(sql::count_upload),
    .upload_parts = prepare(sql::upload_parts),
    .move_part = prepare(sql::move_part),
    .move_part_policies = prepare(sql::move_part_policies),
    .staged_duplicate = prepare(sql::staged_duplicate),
    .drop_upload_parts = prepare(sql::drop_upload_parts),
    .drop_upload = prepare(sql::drop_upload),
    .log_due_retries = prepare(sql::log_due_retries),
    .promote_due_retries = prepare(sql::promote_due_retries),
    .due_scheduled_by_batch = prepare(sql::due_scheduled_by_batch),
    .promote_due_scheduled = prepare(sql::promote_due_scheduled),
    .count_promoted = prepare(sql::count_promoted),
    .count_scheduled = prepare(sql::count_scheduled),
    .insert_attempt = prepare(sql::insert_attempt),
    .insert_whole_attempt = prepare(sql::insert_whole_attempt),
    .start_task = prepare(sql::start_task),
    .save_progress = prepare(sql::save_progress),
    .start_batch = prepare(sql::start_batch),
    .end_attempt = prepare(sql::end_attempt),
    .task_dependents = prepare(sql::task_dependents),
    .count_batch = prepare(sql::count_batch),
    .finish_batch = prepare(sql::finish_batch),
    .insert_event = prepare(sql::insert_event),
    .log_cancelled = prepare(sql::log_cancelled),
    .cancel_waiting = prepare(sql::cancel_waiting),
    .cancel_batch = prepare(sql::cancel_batch),
    .set_batch_key = prepare(sql::set_batch_key),
    .cancel_task = prepare(sql::cancel_task),
    .count_cancelled_tasks = prepare(sql::count_cancelled_tasks),
    .log_replayed = prepare(sql::log_replayed),
    .replay_tasks = prepare(sql::replay_tasks),
    .reopen_batch = prepare(sql::reopen_batch),
    .pause_tasks = prepare(sql::pause_tasks),
    .pause_batch = prepare(sql::pause_batch),
    .pause_fleet = prepare(sql::pause_fleet),
    .resume_fleet = prepare(sql::resume_fleet),
    .oldest_finished = prepare(sql::oldest_finished),
    .prune_attempts = prepare(sql::prune_attempts),
    .prune_policies = prepare(sql::prune_policies),
    .prune_dependencies = prepare(sql::prune_dependencies),
    .prune_tasks = prepare(sql::prune_tasks),
    .prune_batch_progress = prepare(sql::prune_batch_progress),
    .prune_batch = prepare(sql::prune_batch),
    .prune_events = prepare(sql::prune_events),
    .task_edges = prepare(sql::task_edges),
    .insert_dependency = prepare(sql::insert_dependency),
    .move_part_dependencies = prepare(sql::move_part_dependencies),
    .unknown_dependency = prepare(sql::unknown_dependency),
    .batch_edges = prepare(sql::batch_edges),
    .count_batch_edges = prepare(sql::count_batch_edges),
    .block_dependents = prepare(sql::block_dependents),
    .count_dependents = prepare(sql::count_dependents),
    .unblock_dependents = prepare(sql::unblock_dependents),
    .skip_dependents = prepare(sql::skip_dependents),
    .skipped_below = prepare(sql::skipped_below),
    .dependencies_of = prepare(sql::dependencies_of),
    .dependents_of = prepare(sql::dependents_of),
    .log_replayed_seq = prepare(sql::log_replayed_seq),
    .replay_task_seq = prepare(sql::replay_task_seq),
    .reblock_replayed = prepare(sql::reblock_replayed)
  });
  if (prepare.error)
    return prepare.error;
  auto store = std::unique_ptr<sqlite_store>(new sqlite_store(std::move(db), std::move(*reads), std::move(writes)));
  auto task_ends = task_end_writer::make(store->db_);
  if (!task_ends)
    return task_ends.error();
  store->task_ends_ = std::move(*task_ends);
  store->pruning_events_ = *pruning;
  store->dependencies_stored_ = *dependencies != 0;
  return store;
}

caf::expected<std::unique_ptr<sqlite_reader::statements>> sqlite_reader::prepare_reads(sqlite::database& db) {
  statement_preparer prepare{db, {}};
  auto reads = std::make_unique<sqlite_reader::statements>(sqlite_reader::statements{
    .task_state = prepare(sql::task_state),
    .load_config = prepare(sql::load_config),
    .upload_size = prepare(sql::upload_size),
    .batch_range = prepare(sql::batch_range),
    .next_runnable = prepare(sql::next_runnable),
    .runnable_same_priority = prepare(sql::runnable_same_priority),
    .runnable_lower_priority = prepare(sql::runnable_lower_priority),
    .group_runnable_at = prepare(sql::group_runnable_at),
    .group_runnable_between = prepare(sql::group_runnable_between),
    .dependency_results = prepare(sql::dependency_results),
    .next_due = prepare(sql::next_due),
    .batch_next_scheduled = prepare(sql::batch_next_scheduled),
    .batch_row = prepare(sql::batch_row),
    .batch_results = prepare(sql::batch_results),
    .totals = prepare(sql::totals),
    .running_count = prepare(sql::running_count),
    .unfinished_batches = prepare(sql::unfinished_batches),
    .batch_for_key = prepare(sql::batch_for_key),
    .dead_letters = prepare(sql::dead_letters),
    .fleet_paused = prepare(sql::fleet_paused),
    .recent_batches = prepare(sql::recent_batches),
    .recent_failures = prepare(sql::recent_failures),
    .count_blocked = prepare(sql::count_blocked),
    .batch_tasks = prepare(sql::batch_tasks)
  });
  if (prepare.error)
    return prepare.error;
  return reads;
}

sqlite_reader::sqlite_reader(sqlite::database db, std::unique_ptr<statements> reads)
  : db_(std::move(db)), reads_(std::move(reads)) {
}

sqlite_reader::~sqlite_reader() {
  reads_.reset(); // statements before the connection
}

sqlite_store::sqlite_store(sqlite::database db, std::unique_ptr<sqlite_reader::statements> reads,
                           std::unique_ptr<statements> stmts)
  : sqlite_reader(std::move(db), std::move(reads)), stmts_(std::move(stmts)) {
}

sqlite_store::~sqlite_store() {
  stmts_.reset(); // statements before the connection (the base closes it)
}

namespace {

struct sqlite_transaction final : store_transaction::backend {
  explicit sqlite_transaction(sqlite::database& db) : tx(db) {}
  caf::error begin() override { return tx.begin(); }
  caf::error commit() override { return tx.commit(); }
  void rollback() override { tx.rollback(); }
  sqlite::transaction tx;
};

} // namespace

store_transaction sqlite_store::transaction() {
  return store_transaction{std::make_unique<sqlite_transaction>(db_)};
}

caf::expected<config_update> sqlite_reader::load_config_overrides() {
  auto& st = reads_->load_config;
  st.rebind();
  config_update out;
  for (;;) {
    auto row = st.step();
    if (!row)
      return row.error();
    if (!*row)
      break;
    auto name = st.column_text(0);
    config_value value;
    switch (st.column_type(1)) {
      case sqlite::statement::kind::integer:
        value = st.column_int64(1);
        break;
      case sqlite::statement::kind::real:
        value = st.column_double(1);
        break;
      default:
        st.reset();
        return stored_setting_not_a_number(name);
    }
    if (auto err = apply_stored_setting(out, name, value)) {
      st.reset();
      return err;
    }
  }
  st.reset();
  return out;
}

caf::error sqlite_store::save_config_overrides(const config_update& update, int64_t now, bool record) {
  nlohmann::json detail = nlohmann::json::object();
  for (const auto& [field, value] : set_fields(update)) {
    auto& st = stmts_->save_config;
    st.rebind(std::string{field.name});
    std::visit([&](auto x) { st.bind(2, x); }, value);
    st.bind(3, now);
    if (auto err = st.run())
      return err;
    std::visit([&](auto x) { detail[field.name] = x; }, value);
  }
  if (!record)
    return caf::none;
  return log_event(now, event_kind::config_updated, {}, {}, dump_json(detail));
}

caf::error sqlite_store::reset_config_overrides(const config_update& file_values, int64_t now) {
  nlohmann::json detail = nlohmann::json::object();
  for (const auto& [field, value] : set_fields(file_values)) {
    if (auto err = stmts_->delete_config.execute(std::string{field.name}))
      return err;
    std::visit([&](auto x) { detail[field.name] = x; }, value);
  }
  return log_event(now, event_kind::config_reset, {}, {}, dump_json(detail));
}

} // namespace fleet
