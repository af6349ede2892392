// fleetd's store on PostgreSQL: opening, transactions, settings, and how batches and uploads are
// stored. The group commit's writes are in pg_store_record.cpp, the operator's in
// pg_store_control.cpp, a batch's dependencies in pg_store_dependencies.cpp.

#include "fleet/pg_store.hpp"

#include "fleet/dependency_graph.hpp"
#include "fleet/json_text.hpp"
#include "fleet/pg_array.hpp"
#include "fleet/pg_migrations.hpp"
#include "fleet/text.hpp"
#include "fleet/upload_part.hpp"
#include "fleet/validation.hpp"
#include "fleetd/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace fleet {

namespace {

/// A big submit brings statistics up to date in its transaction: without them the planner reads
/// the runnable index of a fresh batch as if it were empty, which halves the rate at which its
/// tasks start (docs/BENCHMARKS.md, pg-write-path --analyze). It costs about 0.1 s.
constexpr int64_t analyze_after_tasks = 10'000;

/// Rows per statement when a batch's tasks are written: a few MiB of parameters at most.
constexpr size_t rows_per_statement = 4096;
constexpr size_t bytes_per_statement = size_t{8} << 20;

struct pg_transaction final : store_transaction::backend {
  using ambiguity_handler = std::function<void(const std::string&)>;
  pg_transaction(pg::connection& db, const leader_lease* lease, const ambiguity_handler& ambiguous)
    : db(db), tx(db), lease(lease), ambiguous(ambiguous) {}
  caf::error begin() override {
    if (auto err = tx.begin())
      return err;
    return lease != nullptr ? lease->fence(db) : caf::none;
  }
  caf::error commit() override {
    auto err = tx.commit();
    if (err && !db.usable() && ambiguous)
      ambiguous("the connection broke during a COMMIT, which may or may not have happened: " + error_text(err));
    return err;
  }
  void rollback() override { tx.rollback(); }
  pg::connection& db;
  pg::transaction tx;
  const leader_lease* lease;
  const ambiguity_handler& ambiguous;
};

/// bytea in PostgreSQL's text format: \x and two hex digits per byte.
std::string hex_bytea(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 + bytes.size() * 2);
  out += "\\x";
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

caf::expected<std::string> from_hex_bytea(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  if (text.substr(0, 2) != "\\x" || text.size() % 2 != 0)
    return damaged_part_error("its body is not in PostgreSQL's hex format (bytea_output must be hex)");
  std::string out;
  out.reserve((text.size() - 2) / 2);
  for (size_t i = 2; i < text.size(); i += 2) {
    auto hi = value(text[i]);
    auto lo = value(text[i + 1]);
    if (hi < 0 || lo < 0)
      return damaged_part_error("its body holds a byte that is not hex");
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

} // namespace

// -- opening -------------------------------------------------------------------------------------

caf::expected<std::unique_ptr<pg_store>> pg_store::open(const std::string& conninfo, const leader_lease* lease) {
  auto db = pg::connection::open(conninfo);
  if (!db)
    return db.error();
  auto before = db->query("SELECT version FROM fleetd_schema WHERE id = 1");
  int64_t from = 0;
  if (before && before->rows() == 1)
    from = before->integer(0, 0);
  auto started = std::chrono::steady_clock::now();
  if (auto err = migrate(*db))
    return err;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  // What the session needs, now and whenever it is opened again after it was lost (a restarted
  // server): the next transaction's BEGIN reconnects.
  auto ttl = lease != nullptr ? lease->ttl() : std::chrono::milliseconds{0};
  auto setup = [ttl](pg::connection& c) -> caf::error {
    if (ttl.count() > 0)
      if (auto err = leader_lease::guard_session(c, ttl))
        return err;
    // Every write joins a group's rows (unnest) to a table by its key. A statement is planned
    // once per session (prepared), when `attempts` may still be empty: the plan then hashes a
    // scan of the whole table for each group and keeps doing so as it grows (3-4 ms per group at
    // 20,000 attempts, auto_explain). Without hash and merge joins the writer probes the keys,
    // whatever the statistics said: 17-17.6k tasks/s instead of 14-14.4k (docs/BENCHMARKS.md).
    if (auto err = c.exec("SET enable_hashjoin = off; SET enable_mergejoin = off"))
      return err;
    // Edges of a batch being stored wait here until all its tasks are in (a task may run after a
    // later one): bounded memory for a million-task graph, gone with the transaction.
    return c.exec("CREATE TEMP TABLE fleetd_edges (task_seq BIGINT NOT NULL, position BIGINT NOT NULL,"
                  " task_id TEXT NOT NULL, after_id TEXT NOT NULL) ON COMMIT DELETE ROWS");
  };
  if (auto err = setup(*db))
    return err;
  db->reconnect_when_lost(setup);
  auto last = db->query_int("SELECT coalesce(max(seq), 0) FROM tasks");
  if (!last)
    return last.error();
  auto store = std::unique_ptr<pg_store>(new pg_store(std::move(*db), lease, *last + 1));
  store->migration_ = {from, postgres_migrations().empty() ? 0 : postgres_migrations().back().version, ms};
  return store;
}

pg_store::pg_store(pg::connection db, const leader_lease* lease, int64_t next_seq)
  : pg_reader(std::move(db)), lease_(lease), next_seq_(next_seq) {
}

pg_store::~pg_store() = default;

int64_t pg_store::epoch() const {
  return lease_ != nullptr ? lease_->epoch() : 0;
}

caf::expected<std::unique_ptr<store_reader>> pg_store::open_reader() const {
  auto db = pg::connection::open(db_.conninfo());
  if (!db)
    return db.error();
  // The reader never writes: a bug that tried would fail instead of bypassing the fence.
  auto setup = [](pg::connection& c) { return c.exec("SET default_transaction_read_only = on"); };
  if (auto err = setup(*db))
    return err;
  db->reconnect_when_lost(setup);
  return std::unique_ptr<store_reader>(new pg_reader(std::move(*db)));
}

store_transaction pg_store::transaction() {
  return store_transaction{std::make_unique<pg_transaction>(db_, lease_, ambiguous_commit_)};
}

caf::expected<int64_t> pg_store::change(std::string_view sql, std::vector<pg::param> params) {
  auto res = db_.prepared_params(sql, params);
  if (!res)
    return res.error();
  return res->affected();
}

pg::param pg_store::requester_param() const {
  return requester_.empty() ? pg::param{} : pg::param{requester_};
}

caf::error pg_store::log_event(int64_t at, event_kind kind, const std::string& batch_id, const std::string& task_id,
                               const std::string& detail_json) {
  auto or_null = [](const std::string& x) { return x.empty() ? pg::param{} : pg::param{x}; };
  auto res = db_.prepared("INSERT INTO events (at, kind, batch_id, task_id, detail, requested_by)"
                          " VALUES ($1::bigint, $2, $3, $4, $5, $6)",
                          at, std::string{to_string(kind)}, or_null(batch_id), or_null(task_id), or_null(detail_json),
                          requester_param());
  return res ? caf::none : res.error();
}

// -- settings ------------------------------------------------------------------------------------

caf::error pg_store::save_config_overrides(const config_update& update, int64_t now, bool record) {
  nlohmann::json detail = nlohmann::json::object();
  for (const auto& [field, value] : set_fields(update)) {
    // Booleans are stored as 0/1, as on SQLite (apply_stored_setting reads them so).
    auto text = std::visit(
      [](auto x) -> std::string {
        if constexpr (std::is_same_v<decltype(x), bool>)
          return x ? "1" : "0";
        else
          return *pg::to_param(x);
      },
      value);
    auto res = db_.prepared("INSERT INTO config_overrides (name, value, updated_at) VALUES ($1, $2::numeric, $3::bigint)"
                            " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
                            std::string{field.name}, text, now);
    if (!res)
      return res.error();
    std::visit([&](auto x) { detail[field.name] = x; }, value);
  }
  if (!record)
    return caf::none;
  return log_event(now, event_kind::config_updated, {}, {}, dump_json(detail));
}

caf::error pg_store::reset_config_overrides(const config_update& file_values, int64_t now) {
  nlohmann::json detail = nlohmann::json::object();
  for (const auto& [field, value] : set_fields(file_values)) {
    if (auto n = changed("DELETE FROM config_overrides WHERE name = $1", std::string{field.name}); !n)
      return n.error();
    std::visit([&](auto x) { detail[field.name] = x; }, value);
  }
  return log_event(now, event_kind::config_reset, {}, {}, dump_json(detail));
}

// -- batches -------------------------------------------------------------------------------------

/// Writes a batch's tasks in submission order, a few thousand rows per statement, with their
/// policies; their edges wait in fleetd_edges until `finish`, when every task they may name is in.
class pg_store::task_writer {
public:
  task_writer(pg::connection& db, std::string batch_id, int64_t now, int64_t first_seq)
    : db_(db), batch_id_(std::move(batch_id)), now_(now), first_seq_(first_seq) {
  }

  caf::error add(std::string_view id, std::string_view type, std::string_view data, int32_t priority, int64_t starts,
                 std::string_view queue, std::string_view group, const task_policy& p,
                 const std::vector<std::string>& after) {
    auto seq = first_seq_ + added_;
    // One line of COPY: seq, batch, id, type, data, priority, not_before, state, queue, group.
    pg::copy_field(rows_, std::to_string(seq), true);
    pg::copy_field(rows_, batch_id_);
    pg::copy_field(rows_, id);
    pg::copy_field(rows_, type);
    pg::copy_field(rows_, data);
    pg::copy_field(rows_, std::to_string(priority));
    pg::copy_field(rows_, std::to_string(std::max(starts, now_)));
    pg::copy_field(rows_, starts > now_ ? "scheduled" : "pending");
    pg::copy_field(rows_, queue.empty() ? std::string_view{default_queue} : queue);
    if (group.empty())
      pg::copy_null(rows_);
    else
      pg::copy_field(rows_, group);
    rows_ += '\n';
    chunk_ids_.emplace_back(id);
    bytes_ += id.size() + type.size() + data.size() + 64;
    scheduled_ += starts > now_ ? 1 : 0;
    if (!p.empty()) {
      policy_seqs_.add(seq);
      p.timeout_ms > 0 ? timeouts_.add(p.timeout_ms) : timeouts_.add_null();
      p.max_retries >= 0 ? max_retries_.add(p.max_retries) : max_retries_.add_null();
      p.backoff_ms >= 0 ? backoffs_.add(p.backoff_ms) : backoffs_.add_null();
      p.retry >= 0 ? retries_.add(int64_t{p.retry}) : retries_.add_null();
    }
    for (const auto& a : after) {
      edge_seqs_.add(seq);
      edge_positions_.add(added_);
      edge_ids_.add(id);
      edge_after_.add(a);
      bytes_ += id.size() + a.size() + 32;
    }
    ++added_;
    if (chunk_ids_.size() >= rows_per_statement || bytes_ >= bytes_per_statement)
      return flush();
    return caf::none;
  }

  /// Writes what is left and the batch's edges: the seq of the last task.
  caf::expected<int64_t> finish() {
    if (auto err = flush())
      return err;
    if (had_edges_) {
      auto unknown = db_.prepared("SELECT e.position, e.task_id, e.after_id FROM fleetd_edges e WHERE NOT EXISTS"
                                  " (SELECT 1 FROM tasks d WHERE d.batch_id = $1 AND d.task_id = e.after_id)"
                                  " ORDER BY e.position LIMIT 1",
                                  batch_id_);
      if (!unknown)
        return unknown.error();
      if (unknown->rows() > 0)
        return caf::make_error(errc::invalid_task,
                               fmt::format("task {} (id {}): \"after\" names {}, which is not a task of this batch",
                                           unknown->text(0, 0), quoted_input(unknown->text(0, 1)),
                                           quoted_input(unknown->text(0, 2))));
      auto linked = db_.prepared("INSERT INTO task_deps (after_seq, task_seq) SELECT DISTINCT d.seq, e.task_seq"
                                 " FROM fleetd_edges e JOIN tasks d ON d.batch_id = $1 AND d.task_id = e.after_id",
                                 batch_id_);
      if (!linked)
        return linked.error();
      if (auto err = db_.exec("DELETE FROM fleetd_edges"))
        return err;
    }
    return first_seq_ + added_ - 1;
  }

  int64_t added() const { return added_; }
  int64_t scheduled() const { return scheduled_; }

private:
  /// The refusal of the chunk starting at seq `first` that repeats an id: the first task whose id
  /// an earlier task of the chunk, or of an earlier chunk of the batch, has.
  caf::error repeated_id(int64_t first) {
    std::unordered_map<std::string_view, size_t> seen;
    auto within = chunk_ids_.size();
    for (size_t i = 0; i < chunk_ids_.size() && within == chunk_ids_.size(); ++i)
      if (!seen.emplace(chunk_ids_[i], i).second)
        within = i;
    pg::array ids;
    for (const auto& id : chunk_ids_)
      ids.add(id);
    auto earlier = db_.prepared("SELECT min(u.pos) FROM unnest($2::text[]) WITH ORDINALITY AS u(i, pos)"
                                " JOIN tasks t ON t.batch_id = $1 AND t.task_id = u.i",
                                batch_id_, ids);
    if (!earlier)
      return earlier.error();
    auto at = within;
    if (!earlier->is_null(0, 0))
      at = std::min(at, static_cast<size_t>(earlier->integer(0, 0) - 1));
    if (at == chunk_ids_.size())
      return caf::make_error(errc::database_error, "a task id was refused as a repeat, but no repeat was found");
    return duplicate_task_id_error(first - first_seq_ + static_cast<int64_t>(at), chunk_ids_[at]);
  }

  caf::error flush() {
    if (chunk_ids_.empty())
      return caf::none;
    auto n = static_cast<int64_t>(chunk_ids_.size());
    auto first = first_seq_ + added_ - n;
    // COPY, which parses no parameters, behind a savepoint: a repeated id fails it whole, and
    // the savepoint keeps the transaction alive to find which one.
    if (auto err = db_.exec("SAVEPOINT fleetd_rows"))
      return err;
    auto copied = db_.copy_in("COPY tasks (seq, batch_id, task_id, type, data, priority, not_before, state, queue,"
                              " task_group) FROM STDIN",
                              rows_);
    if (!copied) {
      if (db_.last_sqlstate() != "23505") // unique_violation
        return copied.error();
      if (auto err = db_.exec("ROLLBACK TO SAVEPOINT fleetd_rows"))
        return err;
      return repeated_id(first);
    }
    if (auto err = db_.exec("RELEASE SAVEPOINT fleetd_rows"))
      return err;
    if (*copied != n)
      return caf::make_error(errc::database_error, fmt::format("{} of {} tasks were stored", *copied, n));
    if (!policy_seqs_.empty()) {
      auto p = db_.prepared("INSERT INTO task_policies (task_seq, timeout_ms, max_retries, backoff_ms, retry)"
                            " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::bigint[], $5::int[])",
                            policy_seqs_, timeouts_, max_retries_, backoffs_, retries_);
      if (!p)
        return p.error();
    }
    if (!edge_seqs_.empty()) {
      auto e = db_.prepared("INSERT INTO fleetd_edges (task_seq, position, task_id, after_id)"
                            " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])",
                            edge_seqs_, edge_positions_, edge_ids_, edge_after_);
      if (!e)
        return e.error();
      had_edges_ = true;
    }
    rows_.clear();
    chunk_ids_.clear();
    policy_seqs_ = {}, timeouts_ = {}, max_retries_ = {}, backoffs_ = {}, retries_ = {};
    edge_seqs_ = {}, edge_positions_ = {}, edge_ids_ = {}, edge_after_ = {};
    bytes_ = 0;
    return caf::none;
  }

  pg::connection& db_;
  std::string batch_id_;
  int64_t now_;
  int64_t first_seq_;
  int64_t added_ = 0;
  int64_t scheduled_ = 0;
  size_t bytes_ = 0;
  bool had_edges_ = false;
  std::string rows_;                   ///< the chunk's tasks as COPY lines
  std::vector<std::string> chunk_ids_; ///< their ids, in order
  pg::array policy_seqs_, timeouts_, max_retries_, backoffs_, retries_;
  pg::array edge_seqs_, edge_positions_, edge_ids_, edge_after_;
};

caf::error pg_store::store_batch(const std::string& batch_id, int64_t total, int64_t now, const std::string& upload_id,
                                 const std::function<caf::expected<int64_t>(task_writer&)>& insert_tasks) {
  if (auto n = changed("INSERT INTO batches (id, created_at, total) VALUES ($1, $2::bigint, $3::bigint)", batch_id,
                       now, total);
      !n)
    return n.error();
  auto first_seq = next_seq_;
  task_writer writer{db_, batch_id, now, first_seq};
  auto last_seq = insert_tasks(writer);
  if (!last_seq)
    return last_seq.error();
  if (writer.added() != total)
    return damaged_part_error(fmt::format("the batch counts {} tasks, {} were stored", total, writer.added()));
  next_seq_ = *last_seq + 1;
  if (auto err = link_dependencies(first_seq, *last_seq))
    return err;
  if (auto n = changed("UPDATE batches SET first_seq = $2::bigint, last_seq = $3::bigint, scheduled = $4::bigint"
                       " WHERE id = $1",
                       batch_id, first_seq, *last_seq, writer.scheduled());
      !n)
    return n.error();
  if (total >= analyze_after_tasks)
    if (auto err = db_.exec("ANALYZE tasks"))
      return err;
  nlohmann::json detail{{"tasks", total}};
  if (writer.scheduled() > 0)
    detail["scheduled"] = writer.scheduled();
  if (!upload_id.empty())
    detail["upload"] = upload_id;
  return log_event(now, event_kind::batch_submitted, batch_id, {}, dump_json(detail));
}

caf::error pg_store::insert_batch(const std::string& batch_id, const std::vector<task>& tasks, int64_t now) {
  return store_batch(batch_id, static_cast<int64_t>(tasks.size()), now, {}, [&](task_writer& w) -> caf::expected<int64_t> {
    for (const auto& t : tasks)
      if (auto err = w.add(t.id, t.type, t.data, t.priority, start_time(t, now), t.queue, t.group, t.policy, t.after))
        return err;
    return w.finish();
  });
}

caf::error pg_store::set_batch_key(const std::string& batch_id, const std::string& key) {
  auto n = changed("UPDATE batches SET client_key = $2 WHERE id = $1", batch_id, key);
  return n ? caf::none : n.error();
}

// -- uploads -------------------------------------------------------------------------------------

caf::error pg_store::open_upload(const std::string& upload_id, int64_t now) {
  auto n = changed("INSERT INTO uploads (id, created_at) VALUES ($1, $2::bigint)", upload_id, now);
  return n ? caf::none : n.error();
}

caf::expected<int64_t> pg_store::stage_chunk(const std::string& upload_id, const std::vector<upload_part>& chunk) {
  auto before = upload_size(upload_id);
  if (!before)
    return before.error();
  int64_t n = 0;
  for (const auto& part : chunk) {
    auto staged = changed("INSERT INTO upload_parts (upload_id, first, tasks, body)"
                          " VALUES ($1, $2::bigint, $3::bigint, $4::bytea)",
                          upload_id, *before + part.offset, part.tasks, hex_bytea(part.body));
    if (!staged)
      return staged.error();
    n += part.tasks;
  }
  if (auto counted = changed("UPDATE uploads SET tasks = tasks + $2::bigint WHERE id = $1", upload_id, n); !counted)
    return counted.error();
  return *before + n;
}

caf::expected<int64_t> pg_store::seal_upload(const std::string& upload_id, const std::string& batch_id, int64_t now) {
  auto n = upload_size(upload_id);
  if (!n)
    return n.error();
  if (*n == 0)
    return caf::make_error(errc::invalid_batch, "batch is empty: submit at least one task");
  auto parts = db_.prepared("SELECT first, tasks FROM upload_parts WHERE upload_id = $1 ORDER BY first", upload_id);
  if (!parts)
    return parts.error();
  std::vector<std::pair<int64_t, int64_t>> firsts_and_sizes;
  for (int r = 0; r < parts->rows(); ++r)
    firsts_and_sizes.emplace_back(parts->integer(r, 0), parts->integer(r, 1));
  auto moved = store_batch(batch_id, *n, now, upload_id, [&](task_writer& w) -> caf::expected<int64_t> {
    for (auto [first, tasks] : firsts_and_sizes) {
      if (first != w.added())
        return damaged_part_error(fmt::format("a part starts at position {} where {} was expected", first, w.added()));
      // One part in memory at a time: an upload of a million tasks is staged in many.
      auto body = db_.prepared("SELECT body FROM upload_parts WHERE upload_id = $1 AND first = $2::bigint", upload_id,
                               first);
      if (!body)
        return body.error();
      if (body->rows() != 1)
        return damaged_part_error(fmt::format("the part at position {} is gone", first));
      auto bytes = from_hex_bytea(body->text(0, 0));
      if (!bytes)
        return bytes.error();
      upload_part_reader reader{*bytes};
      staged_task t;
      int64_t read = 0;
      while (reader.next(t)) {
        std::vector<std::string> after;
        if (!t.after_json.empty()) {
          auto ids = nlohmann::json::parse(t.after_json, nullptr, false);
          if (!ids.is_array())
            return damaged_part_error(fmt::format("task {} has an \"after\" list that is not an array", first + read));
          for (const auto& id : ids) {
            if (!id.is_string())
              return damaged_part_error(fmt::format("task {} has an \"after\" id that is not text", first + read));
            after.push_back(id.get<std::string>());
          }
        }
        auto starts = t.run_at != 0 ? t.run_at : now + t.delay_ms;
        if (auto err = w.add(t.id, t.type, t.data, t.priority, starts, t.queue, t.group, t.policy, after))
          return err;
        ++read;
      }
      if (reader.damaged())
        return damaged_part_error(fmt::format("the part at position {} cannot be read", first));
      if (read != tasks)
        return damaged_part_error(
          fmt::format("the part at position {} holds {} tasks instead of {}", first, read, tasks));
    }
    if (w.added() != *n)
      return damaged_part_error(fmt::format("the parts hold {} tasks, the upload counts {}", w.added(), *n));
    return w.finish();
  });
  if (moved)
    return moved;
  if (auto err = discard_upload(upload_id))
    return err;
  return *n;
}

caf::error pg_store::discard_upload(const std::string& upload_id) {
  if (auto n = changed("DELETE FROM upload_parts WHERE upload_id = $1", upload_id); !n)
    return n.error();
  auto n = changed("DELETE FROM uploads WHERE id = $1", upload_id);
  return n ? caf::none : n.error();
}

caf::expected<int64_t> pg_store::expire_uploads(int64_t older_than) {
  if (auto n = changed("DELETE FROM upload_parts WHERE upload_id IN (SELECT id FROM uploads WHERE created_at < $1::bigint)",
                       older_than);
      !n)
    return n.error();
  return changed("DELETE FROM uploads WHERE created_at < $1::bigint", older_than);
}

} // namespace fleet
