#include "fleet/upload_rows.hpp"

#include "fleetd/error.hpp"
#include "fleet/upload_part.hpp"

#include <sqlite3.h>

#include <new>
#include <optional>
#include <string>

namespace fleet {

namespace {

enum column { position_column, id_column, type_column, data_column, priority_column, run_at_column, delay_ms_column,
              timeout_ms_column, max_retries_column, backoff_ms_column, retry_column, after_column, queue_column, group_column,
              body_column };

struct cursor {
  sqlite3_vtab_cursor base{}; // first: SQLite hands back pointers to it
  std::string body;           // a copy: the argument lives only as long as the xFilter call
  std::optional<upload_part_reader> reader;
  staged_task current;
  int64_t position = 0;
  bool at_end = true;
};

cursor& as_cursor(sqlite3_vtab_cursor* base) {
  return *reinterpret_cast<cursor*>(base);
}

/// Fails the statement with the text of `err` (damaged_part_error) as SQLite's message.
int fail(sqlite3_vtab_cursor* base, const caf::error& err) {
  sqlite3_free(base->pVtab->zErrMsg);
  base->pVtab->zErrMsg = sqlite3_mprintf("%s", error_text(err).c_str());
  return SQLITE_ERROR;
}

int advance(sqlite3_vtab_cursor* base) {
  auto& c = as_cursor(base);
  c.at_end = !c.reader->next(c.current);
  if (c.reader->damaged())
    return fail(base, damaged_part_error("its body ends inside a task"));
  return SQLITE_OK;
}

int connect(sqlite3* db, void*, int, const char* const*, sqlite3_vtab** out, char**) {
  auto rc = sqlite3_declare_vtab(db, "CREATE TABLE x(position INTEGER, id TEXT, type TEXT, data TEXT,"
                                     " priority INTEGER, run_at INTEGER, delay_ms INTEGER, timeout_ms INTEGER,"
                                     " max_retries INTEGER, backoff_ms INTEGER, retry INTEGER, after TEXT,"
                                     " queue TEXT, task_group TEXT, body HIDDEN)");
  if (rc != SQLITE_OK)
    return rc;
  auto* table = static_cast<sqlite3_vtab*>(sqlite3_malloc(sizeof(sqlite3_vtab)));
  if (table == nullptr)
    return SQLITE_NOMEM;
  *table = sqlite3_vtab{};
  *out = table;
  return SQLITE_OK;
}

int disconnect(sqlite3_vtab* table) {
  sqlite3_free(table);
  return SQLITE_OK;
}

int best_index(sqlite3_vtab*, sqlite3_index_info* info) {
  // The body is the function's argument: a plan without it is not one.
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (c.iColumn != body_column)
      continue;
    if (!c.usable || c.op != SQLITE_INDEX_CONSTRAINT_EQ)
      return SQLITE_CONSTRAINT;
    info->aConstraintUsage[i].argvIndex = 1;
    info->aConstraintUsage[i].omit = 1;
    info->estimatedCost = 1000;
    info->estimatedRows = 1000;
    if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == position_column && !info->aOrderBy[0].desc)
      info->orderByConsumed = 1;
    return SQLITE_OK;
  }
  return SQLITE_CONSTRAINT;
}

int open_cursor(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
  auto* c = new (std::nothrow) cursor;
  if (c == nullptr)
    return SQLITE_NOMEM;
  *out = &c->base;
  return SQLITE_OK;
}

int close_cursor(sqlite3_vtab_cursor* base) {
  delete &as_cursor(base);
  return SQLITE_OK;
}

int filter(sqlite3_vtab_cursor* base, int, const char*, int, sqlite3_value** argv) {
  auto& c = as_cursor(base);
  c.position = 0;
  c.at_end = true;
  c.reader.reset();
  auto* value = argv[0]; // the body: best_index accepts no plan without it

  if (sqlite3_value_type(value) != SQLITE_BLOB)
    return fail(base, damaged_part_error("its body is not binary"));
  auto* bytes = static_cast<const char*>(sqlite3_value_blob(value));
  c.body.assign(bytes == nullptr ? "" : bytes, static_cast<size_t>(sqlite3_value_bytes(value)));
  c.reader.emplace(c.body);
  if (c.reader->damaged())
    return fail(base, damaged_part_error("its body does not start as one"));
  return advance(base);
}

int next(sqlite3_vtab_cursor* base) {
  ++as_cursor(base).position;
  return advance(base);
}

int eof(sqlite3_vtab_cursor* base) {
  return as_cursor(base).at_end ? 1 : 0;
}

void text_result(sqlite3_context* ctx, std::string_view x) {
  sqlite3_result_text(ctx, x.data(), static_cast<int>(x.size()), SQLITE_TRANSIENT);
}

void int_or_null(sqlite3_context* ctx, int64_t x, bool present) {
  if (present)
    sqlite3_result_int64(ctx, x);
  else
    sqlite3_result_null(ctx);
}

int column(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int i) {
  const auto& c = as_cursor(base);
  switch (i) {
    case position_column: sqlite3_result_int64(ctx, c.position); break;
    case id_column: text_result(ctx, c.current.id); break;
    case type_column: text_result(ctx, c.current.type); break;
    case data_column: text_result(ctx, c.current.data); break;
    case priority_column: sqlite3_result_int64(ctx, c.current.priority); break;
    case run_at_column: sqlite3_result_int64(ctx, c.current.run_at); break;
    case delay_ms_column: sqlite3_result_int64(ctx, c.current.delay_ms); break;
    // The policy's fields as tasks stores them: NULL where the fleet's configuration applies.
    case timeout_ms_column: int_or_null(ctx, c.current.policy.timeout_ms, c.current.policy.timeout_ms != 0); break;
    case max_retries_column: int_or_null(ctx, c.current.policy.max_retries, c.current.policy.max_retries >= 0); break;
    case backoff_ms_column: int_or_null(ctx, c.current.policy.backoff_ms, c.current.policy.backoff_ms >= 0); break;
    case retry_column: int_or_null(ctx, c.current.policy.retry, c.current.policy.retry >= 0); break;
    case after_column:
      if (c.current.after_json.empty())
        sqlite3_result_null(ctx);
      else
        text_result(ctx, c.current.after_json);
      break;
    case queue_column:
      if (c.current.queue.empty())
        sqlite3_result_text(ctx, "default", -1, SQLITE_STATIC);
      else
        text_result(ctx, c.current.queue);
      break;
    case group_column:
      if (c.current.group.empty())
        sqlite3_result_null(ctx);
      else
        text_result(ctx, c.current.group);
      break;
    default: sqlite3_result_null(ctx); break;
  }
  return SQLITE_OK;
}

int rowid(sqlite3_vtab_cursor* base, sqlite3_int64* out) {
  *out = as_cursor(base).position;
  return SQLITE_OK;
}

// Eponymous only (no xCreate): it exists on every connection that registers it, never in the
// schema, so the database file stays readable by any SQLite. Read only: no xUpdate.
sqlite3_module make_upload_rows_module() {
  sqlite3_module m{};
  m.xConnect = connect;
  m.xBestIndex = best_index;
  m.xDisconnect = disconnect;
  m.xOpen = open_cursor;
  m.xClose = close_cursor;
  m.xFilter = filter;
  m.xNext = next;
  m.xEof = eof;
  m.xColumn = column;
  m.xRowid = rowid;
  return m;
}

const sqlite3_module upload_rows_module = make_upload_rows_module();

} // namespace

caf::error register_upload_rows(sqlite3* db) {
  if (sqlite3_create_module(db, "upload_rows", &upload_rows_module, nullptr) != SQLITE_OK)
    return caf::make_error(errc::database_error,
                           std::string{"cannot register upload_rows: "} + sqlite3_errmsg(db));
  return caf::none;
}

} // namespace fleet
