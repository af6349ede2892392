#include "fleet/sqlite.hpp"

#include "fleet/wal_coalescing_vfs.hpp"
#include "fleetd/error.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <mutex>

namespace fleet::sqlite {

namespace {

/// Which fleet error a SQLite result code is (extended codes included).
errc classify(int rc) {
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
      return errc::not_a_fleet_db;
    case SQLITE_CORRUPT:
      return errc::database_damaged;
    // The file cannot take writes now: the disk is full, the file or its directory became
    // read-only, or the device fails. Nothing of the failed transaction is stored.
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return errc::storage_unavailable;
    default:
      return errc::database_error;
  }
}

caf::error make_db_error(sqlite3* db, int rc, std::string_view what) {
  auto code = classify(rc);
  auto message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  // Which statement met the damage tells a client nothing it can act on.
  if (code == errc::database_damaged)
    return caf::make_error(code, fmt::format("the database file is damaged ({})", message));
  return caf::make_error(code, fmt::format("{}: {}", what, message));
}

} // namespace

void configure() {
  static std::once_flag configured;
  std::call_once(configured, [] {
    // Memory statistics take a global mutex on every allocation; fleetd never reads them.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    // A statement that changes several rows keeps the old copies of the pages it changes, so that
    // it can be undone alone. Beyond 64 KiB (SQLite's default) they go to a temporary file, page by
    // page: a 32-task end UPDATE over tasks of 100 queues did, and the writer spent as many
    // system calls on those files as on the WAL (docs/BENCHMARKS.md, 2026-12-06). Up to 4 MiB
    // they stay in memory. A journal that outgrows that is written to its file in one call of
    // 4 MiB, which SQLite's unix VFS fails (SQLITE_FULL: it writes at most 128 KiB - 1 a call):
    // every connection goes through fleetd's VFS, which splits it (split_writes_vfs;
    // docs/BENCHMARKS.md, 2026-12-08).
    sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, statement_journal_in_memory);
  });
}

caf::expected<database> database::open(const std::string& path, bool create, const char* vfs) {
  configure();
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  auto rc = sqlite3_open_v2(path.c_str(), &db, flags, vfs != nullptr ? vfs : split_writes_vfs());
  if (rc != SQLITE_OK) {
    auto err = make_db_error(db, rc, fmt::format("cannot open database {}", path));
    sqlite3_close(db);
    return err;
  }
  sqlite3_extended_result_codes(db, 1);
  return database{db};
}

std::string database::filename() const {
  const char* name = sqlite3_db_filename(db_, "main");
  return name != nullptr ? name : "";
}

database& database::operator=(database&& other) noexcept {
  if (this != &other) {
    sqlite3_close(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

database::~database() {
  // All statements are finalized before their database (they are owned by objects destroyed first).
  sqlite3_close(db_);
}

caf::error database::exec(std::string_view sql) {
  std::string text{sql};
  char* message = nullptr;
  auto rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK)
    return caf::none;
  auto code = classify(rc);
  auto err = caf::make_error(code, fmt::format("sqlite: {}", message ? message : sqlite3_errstr(rc)));
  sqlite3_free(message);
  return err;
}

caf::expected<statement> database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  auto rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                               SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK)
    return make_db_error(db_, rc, fmt::format("cannot prepare \"{}\"", sql));
  return statement{db_, stmt};
}

caf::expected<int64_t> database::query_int(std::string_view sql) {
  auto stmt = prepare(sql);
  if (!stmt)
    return stmt.error();
  auto row = stmt->step();
  if (!row)
    return row.error();
  if (!*row)
    return caf::make_error(errc::database_error, fmt::format("no result for \"{}\"", sql));
  return stmt->column_int64(0);
}

int64_t database::changes() const {
  return sqlite3_changes64(db_);
}

int64_t database::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_);
}

caf::error database::last_error(std::string_view what) const {
  return make_db_error(db_, sqlite3_errcode(db_), what);
}

statement& statement::operator=(statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_rc_ = std::exchange(other.bind_rc_, 0);
    bind_message_ = std::move(other.bind_message_);
  }
  return *this;
}

statement::~statement() {
  sqlite3_finalize(stmt_);
}

// SQLite leaves a parameter it could not bind NULL and runs the statement anyway: the first
// refusal (a value over SQLITE_LIMIT_LENGTH, no such parameter, out of memory) is kept and fails
// the next step instead, so that nothing is ever stored with NULL in a value's place.
void statement::note_bind(int rc) {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) {
    bind_rc_ = rc;
    bind_message_ = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  }
}

void statement::bind(int index, int64_t value) {
  note_bind(sqlite3_bind_int64(stmt_, index, value));
}

void statement::bind(int index, double value) {
  note_bind(sqlite3_bind_double(stmt_, index, value));
}

void statement::bind(int index, std::string_view value) {
  note_bind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
}

void statement::bind(int index, std::nullptr_t) {
  note_bind(sqlite3_bind_null(stmt_, index));
}

void statement::bind(int index, blob_view value) {
  note_bind(sqlite3_bind_blob64(stmt_, index, value.bytes.data(), value.bytes.size(), SQLITE_TRANSIENT));
}

caf::expected<bool> statement::step() {
  if (bind_rc_ != SQLITE_OK) {
    auto what = fmt::format("cannot bind a value of \"{}\"", sqlite3_sql(stmt_));
    return caf::make_error(classify(bind_rc_), fmt::format("{}: {}", what, bind_message_));
  }
  auto rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW)
    return true;
  if (rc == SQLITE_DONE)
    return false;
  auto err = make_db_error(db_, rc, fmt::format("cannot run \"{}\"", sqlite3_sql(stmt_)));
  sqlite3_reset(stmt_);
  return err;
}

caf::error statement::run() {
  auto row = step();
  reset();
  if (!row)
    return row.error();
  return caf::none;
}

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
  bind_message_.clear();
}

int64_t statement::column_int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double statement::column_double(int column) const {
  return sqlite3_column_double(stmt_, column);
}

std::string statement::column_text(int column) const {
  auto text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (text == nullptr)
    return {};
  return std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool statement::column_is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int statement::column_count() const {
  return sqlite3_column_count(stmt_);
}

statement::kind statement::column_type(int column) const {
  switch (sqlite3_column_type(stmt_, column)) {
    case SQLITE_INTEGER: return kind::integer;
    case SQLITE_FLOAT: return kind::real;
    case SQLITE_TEXT: return kind::text;
    case SQLITE_BLOB: return kind::blob;
    default: return kind::null;
  }
}

transaction::~transaction() {
  rollback();
}

caf::error transaction::begin() {
  if (auto err = db_.exec("BEGIN IMMEDIATE"))
    return err;
  active_ = true;
  return caf::none;
}

caf::error transaction::commit() {
  if (auto err = db_.exec("COMMIT"))
    return err; // still active: the destructor rolls back
  active_ = false;
  return caf::none;
}

void transaction::rollback() {
  if (active_) {
    active_ = false;
    // A failed COMMIT may already have rolled back; ROLLBACK then fails harmlessly. A ROLLBACK
    // that fails with the transaction still open would make every later BEGIN fail: say why.
    auto err = db_.exec("ROLLBACK");
    if (err && sqlite3_get_autocommit(db_.handle()) == 0)
      spdlog::error("sqlite: a transaction could not be rolled back: {}", error_text(err));
  }
}

} // namespace fleet::sqlite
