// Recurring schedules: one row each, read whole and written whole. Schedules are few and change
// rarely (a firing is one update), so their statements are prepared when used.

#include "fleet/sqlite_store.hpp"
#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"
#include "fleet/store_rows.hpp"

#include <fmt/format.h>

namespace fleet {

namespace {

caf::expected<std::vector<schedule_row>> select_schedules(sqlite::database& db, const std::string* name) {
  auto st = db.prepare(fmt::format("SELECT {} FROM schedules {} ORDER BY name", schedule_columns,
                                   name != nullptr ? "WHERE name = ?1" : ""));
  if (!st)
    return st.error();
  if (name != nullptr)
    st->rebind(*name);
  std::vector<schedule_row> out;
  if (auto err = st->each_row([&] { out.push_back(read_schedule(store_detail::sqlite_row{*st})); }))
    return err;
  return out;
}

} // namespace

caf::expected<std::vector<schedule_row>> sqlite_reader::schedules() {
  return select_schedules(db_, nullptr);
}

caf::expected<std::optional<schedule_row>> sqlite_reader::schedule(const std::string& name) {
  auto rows = select_schedules(db_, &name);
  if (!rows)
    return rows.error();
  if (rows->empty())
    return std::optional<schedule_row>{};
  return std::optional<schedule_row>{std::move(rows->front())};
}

caf::error sqlite_store::save_schedule(const schedule_row& x) {
  auto st = db_.prepare(fmt::format("INSERT OR REPLACE INTO schedules ({}) VALUES "
                                    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                                    schedule_columns));
  if (!st)
    return st.error();
  auto text_or_null = [&](int index, const std::string& value) {
    if (value.empty())
      st->bind(index, nullptr);
    else
      st->bind(index, value);
  };
  auto int_or_null = [&](int index, int64_t value) {
    if (value == 0)
      st->bind(index, nullptr);
    else
      st->bind(index, value);
  };
  st->reset();
  st->bind(1, x.name);
  text_or_null(2, x.cron);
  text_or_null(3, x.time_zone);
  int_or_null(4, x.every_ms);
  st->bind(5, x.tasks_json);
  st->bind(6, x.missed);
  st->bind(7, x.overlap);
  int_or_null(8, x.paused_at);
  st->bind(9, x.source);
  st->bind(10, x.created_at);
  st->bind(11, x.updated_at);
  st->bind(12, x.handled_until);
  int_or_null(13, x.last_slot);
  text_or_null(14, x.last_batch_id);
  st->bind(15, x.fired);
  st->bind(16, x.skipped);
  st->bind(17, x.missed_slots);
  return st->run();
}

caf::expected<bool> sqlite_store::delete_schedule(const std::string& name) {
  auto st = db_.prepare("DELETE FROM schedules WHERE name = ?1");
  if (!st)
    return st.error();
  if (auto err = st->execute(name))
    return err;
  return db_.changes() > 0;
}

} // namespace fleet
