#include "fleet/sqlite_store.hpp"
#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_text.hpp"
#include "fleet/validation.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace fleet {

using namespace store_detail;

caf::error sqlite_store::open_upload(const std::string& upload_id, int64_t now) {
  return stmts_->open_upload.execute(upload_id, now);
}

caf::expected<int64_t> sqlite_reader::upload_size(const std::string& upload_id) {
  auto& st = reads_->upload_size;
  st.rebind(upload_id);
  if (auto err = step_to_row(st, caf::make_error(errc::unknown_upload,
                                                 fmt::format("upload {} not found", upload_id))))
    return err;
  auto n = st.column_int64(0);
  st.reset();
  return n;
}

caf::expected<int64_t> sqlite_store::stage_chunk(const std::string& upload_id,
                                                const std::vector<upload_part>& chunk) {
  auto before = upload_size(upload_id);
  if (!before)
    return before.error();
  int64_t n = 0;
  for (const auto& part : chunk) {
    if (auto err = stmts_->stage_part.execute(upload_id, *before + part.offset, part.tasks,
                                               sqlite::blob_view{part.body}))
      return err;
    n += part.tasks;
  }
  if (auto err = stmts_->count_upload.execute(upload_id, n))
    return err;
  return *before + n;
}

caf::expected<int64_t> sqlite_store::move_staged_part(const std::string& upload_id, int64_t first, int64_t tasks,
                                                     const std::string& batch_id, int64_t now) {
  auto err = stmts_->move_part.execute(upload_id, first, batch_id, now);
  if (!err) {
    // The batch's total counts what the parts' rows say they hold.
    if (db_.changes() != tasks)
      return damaged_part_error(fmt::format("the part at position {} holds {} tasks instead of {}",
                                            first, db_.changes(), tasks));
    auto last_seq = db_.last_insert_rowid();
    if (auto err = stmts_->move_part_policies.execute(upload_id, first, last_seq - tasks + 1))
      return err;
    return last_seq;
  }
  // Chunks are checked one by one when they arrive; a repeat across chunks shows here.
  auto& dup = stmts_->staged_duplicate;
  dup.rebind(upload_id, first, batch_id);
  auto row = dup.step();
  if (!row || !*row) {
    dup.reset();
    return err;
  }
  auto found = duplicate_task_id_error(dup.column_int64(0), dup.column_text(1));
  dup.reset();
  return found;
}

caf::expected<int64_t> sqlite_store::seal_upload(const std::string& upload_id,
                                                const std::string& batch_id, int64_t now) {
  auto n = upload_size(upload_id);
  if (!n)
    return n.error();
  if (*n == 0)
    return caf::make_error(errc::invalid_batch, "batch is empty: submit at least one task");
  auto& parts = stmts_->upload_parts;
  parts.rebind(upload_id);
  std::vector<std::pair<int64_t, int64_t>> firsts_and_sizes;
  if (auto err = parts.each_row([&] {
        firsts_and_sizes.emplace_back(parts.column_int64(0), parts.column_int64(1));
      }))
    return err;
  auto moved = store_batch(batch_id, *n, now, upload_id, [&]() -> caf::expected<int64_t> {
    int64_t inserted = 0;
    int64_t last_seq = 0;
    for (auto [first, tasks] : firsts_and_sizes) {
      // Checks that the part inserted as many tasks as its row says.
      auto last = move_staged_part(upload_id, first, tasks, batch_id, now);
      if (!last)
        return last.error();
      last_seq = *last;
      inserted += tasks;
    }
    if (inserted != *n)
      return damaged_part_error(fmt::format("the parts hold {} tasks, the upload counts {}", inserted, *n));
    // Once every task is in: a task may run after one of a later part.
    auto first_seq = last_seq - inserted + 1;
    for (auto [first, tasks] : firsts_and_sizes)
      if (auto err = move_part_dependencies(upload_id, first, first_seq + first, batch_id))
        return err;
    return last_seq;
  });
  if (moved)
    return moved;
  if (auto err = stmts_->drop_upload_parts.execute(upload_id))
    return err;
  if (auto err = stmts_->drop_upload.execute(upload_id))
    return err;
  return *n;
}

caf::expected<int64_t> sqlite_store::expire_uploads(int64_t older_than) {
  auto err = db_.exec(fmt::format("DELETE FROM upload_parts WHERE upload_id IN"
                                  " (SELECT id FROM uploads WHERE created_at < {0});"
                                  "DELETE FROM uploads WHERE created_at < {0};",
                                  older_than));
  if (err)
    return err;
  return db_.changes();
}

caf::expected<std::string> sqlite_reader::batch_for_key(const std::string& key) {
  auto& st = reads_->batch_for_key;
  st.rebind(key);
  auto row = st.step();
  if (!row)
    return row.error();
  std::string id = *row ? st.column_text(0) : std::string{};
  st.reset();
  return id;
}

caf::error sqlite_store::set_batch_key(const std::string& batch_id, const std::string& key) {
  return stmts_->set_batch_key.execute(batch_id, key);
}

caf::error sqlite_store::discard_upload(const std::string& upload_id) {
  if (auto err = stmts_->drop_upload_parts.execute(upload_id))
    return err;
  return stmts_->drop_upload.execute(upload_id);
}

} // namespace fleet
