#include "fleet/pg_archive.hpp"

#include "fleet/pg_cells.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace fleet {

namespace {

/// A row's columns by name, as the SQLite archive writes them: integers as numbers, reals as
/// numbers, NULL as null, everything else as its text (JSON columns stay strings, as stored).
caf::expected<nlohmann::json> row_json(const pg::result& r, int row) {
  constexpr unsigned int8_oid = 20, int2_oid = 21, int4_oid = 23, float4_oid = 700, float8_oid = 701;
  pg::cells c{r, row};
  nlohmann::json out = nlohmann::json::object();
  for (int i = 0; i < r.columns(); ++i) {
    std::string name{r.column_name(i)};
    if (c.null(i)) {
      out[name] = nullptr;
      continue;
    }
    switch (r.column_type(i)) {
      case int8_oid: case int2_oid: case int4_oid: out[name] = c.i64(i); break;
      case float4_oid: case float8_oid: out[name] = c.real(i); break;
      default: out[name] = c.text(i);
    }
  }
  if (c.error)
    return c.error;
  return out;
}

/// What follows the batch row, in the order of the SQLite archive (src/fleet/archive.cpp).
struct pg_archive_part {
  const char* kind;
  const char* sql;
};
constexpr pg_archive_part pg_archive_parts[] = {
  {"task", "SELECT * FROM tasks WHERE seq >= $1::bigint AND seq <= $2::bigint ORDER BY seq"},
  {"task_policy", "SELECT * FROM task_policies WHERE task_seq >= $1::bigint AND task_seq <= $2::bigint"
                  " ORDER BY task_seq"},
  {"task_dep", "SELECT * FROM task_deps WHERE task_seq >= $1::bigint AND task_seq <= $2::bigint"
               " ORDER BY task_seq, after_seq"},
  {"attempt", "SELECT * FROM attempts WHERE task_seq >= $1::bigint AND task_seq <= $2::bigint"
              " ORDER BY task_seq, attempt"},
};

} // namespace

caf::expected<archive_written> pg_archive::write(const std::string& batch_id, int64_t finished_at) {
  if (!db_) {
    auto opened = pg::connection::open_snapshot_reader(conninfo_);
    if (!opened)
      return opened.error();
    db_ = std::move(*opened);
  }
  return write_archive(dir_, batch_id, finished_at, [&](const archive_line& line) -> caf::error {
    pg::transaction tx{*db_};
    if (auto err = tx.begin())
      return err;
    if (auto err = read(*db_, batch_id, line))
      return err; // rolled back
    return tx.commit();
  });
}

caf::error pg_archive::read(pg::connection& db, const std::string& batch_id, const archive_line& line) {
  auto batch = db.prepared("SELECT * FROM batches WHERE id = $1", batch_id);
  if (!batch)
    return batch.error();
  if (batch->rows() == 0)
    return caf::make_error(errc::unknown_batch, fmt::format("archive: batch {} is not in the database", batch_id));
  auto batch_row = row_json(*batch, 0);
  if (!batch_row)
    return batch_row.error();
  auto [first_seq, last_seq] = archived_seqs(*batch_row);
  if (!line("batch", *batch_row))
    return caf::none;
  // libpq holds a whole result in memory: a slice of seqs at a time keeps a million-task batch to
  // a few thousand rows, all in the transaction's one snapshot.
  constexpr int64_t slice = 4'096;
  for (const auto& p : pg_archive_parts) {
    for (auto lo = first_seq; lo <= last_seq; lo += slice) {
      auto rows = db.prepared(p.sql, lo, std::min(last_seq, lo + slice - 1));
      if (!rows)
        return rows.error();
      for (int r = 0; r < rows->rows(); ++r) {
        auto row = row_json(*rows, r);
        if (!row)
          return row.error();
        if (!line(p.kind, *row))
          return caf::none;
      }
    }
  }
  for (int64_t after = 0;;) {
    auto events = db.prepared("SELECT * FROM events WHERE batch_id = $1 AND id > $2::bigint ORDER BY id LIMIT $3::bigint",
                              batch_id, after, slice);
    if (!events)
      return events.error();
    for (int r = 0; r < events->rows(); ++r) {
      auto row = row_json(*events, r);
      if (!row)
        return row.error();
      after = (*row)["id"].get<int64_t>();
      if (!line("event", *row))
        return caf::none;
    }
    if (events->rows() < slice)
      return caf::none;
  }
}

} // namespace fleet
