#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

struct sqlite3;
struct sqlite3_stmt;

/// A small RAII layer over the SQLite C API. Errors come back as `errc::database_error`
/// (`errc::not_a_fleet_db` for files SQLite cannot read, `errc::database_damaged` for damaged ones,
/// `errc::storage_unavailable` when the file takes no writes) with SQLite's message.
namespace fleet::sqlite {

class statement;

/// Bytes of a statement's journal kept in memory before it goes to a temporary file (written there
/// through split_writes_vfs or wal_coalescing_vfs, whichever the connection uses).
inline constexpr int statement_journal_in_memory = 4 << 20;

/// SQLite's process-wide settings, made once before SQLite initializes (they cannot change later).
/// Opening a database and registering fleetd's VFS call it first.
void configure();

/// Bytes bound as a BLOB rather than as text.
struct blob_view {
  std::string_view bytes;
};

/// An open connection. Move-only; closes on destruction.
class database {
public:
  /// Opens (and creates, unless `create` is false) the database file at `path`, through the VFS
  /// named `vfs` (nullptr: split_writes_vfs, SQLite's default with its writes split to fit it).
  static caf::expected<database> open(const std::string& path, bool create = true, const char* vfs = nullptr);

  database(database&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  database& operator=(database&& other) noexcept;
  database(const database&) = delete;
  database& operator=(const database&) = delete;
  ~database();

  /// Runs one or more statements without results.
  caf::error exec(std::string_view sql);

  /// Compiles one statement.
  caf::expected<statement> prepare(std::string_view sql);

  /// Runs a statement that yields one integer (e.g. a PRAGMA).
  caf::expected<int64_t> query_int(std::string_view sql);

  int64_t changes() const;
  /// The file this connection opened.
  std::string filename() const;
  int64_t last_insert_rowid() const;

  /// An error carrying SQLite's current message, prefixed by `what`.
  caf::error last_error(std::string_view what) const;

  sqlite3* handle() const { return db_; }

private:
  explicit database(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

/// A prepared statement. Move-only; finalized on destruction. Parameters are 1-based.
class statement {
public:
  /// No statement: stepping it is an error. For a catalogue whose preparation failed.
  statement() = default;
  statement(statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(std::exchange(other.bind_rc_, 0)),
      bind_message_(std::move(other.bind_message_)) {}
  statement& operator=(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  void bind(int index, int64_t value);
  void bind(int index, int32_t value) { bind(index, static_cast<int64_t>(value)); }
  void bind(int index, bool value) { bind(index, static_cast<int64_t>(value)); }
  void bind(int index, double value);
  void bind(int index, std::string_view value);
  void bind(int index, const std::string& value) { bind(index, std::string_view{value}); }
  void bind(int index, const char* value) { bind(index, std::string_view{value}); }
  void bind(int index, std::nullptr_t);
  void bind(int index, blob_view value);

  /// Resets the statement and binds `xs` to parameters 1..n.
  template <class... Ts>
  void rebind(Ts&&... xs) {
    reset();
    int index = 0;
    (bind(++index, std::forward<Ts>(xs)), ...);
  }

  /// Advances: true if a row is available, false when done.
  caf::expected<bool> step();

  /// Calls `on_row()` for every row (read it with column_*), then resets.
  template <class OnRow>
  caf::error each_row(OnRow&& on_row) {
    for (;;) {
      auto row = step();
      if (!row) {
        reset();
        return row.error();
      }
      if (!*row)
        break;
      on_row();
    }
    reset();
    return caf::none;
  }

  /// Rebinds, runs to completion and resets: for statements without results.
  template <class... Ts>
  caf::error execute(Ts&&... xs) {
    rebind(std::forward<Ts>(xs)...);
    return run();
  }

  caf::error run();

  void reset();

  int64_t column_int64(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  bool column_is_null(int column) const;
  /// Columns of the result (0 for a statement without results).
  int column_count() const;
  enum class kind { null, integer, real, text, blob };
  kind column_type(int column) const;

private:
  friend class database;
  statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void note_bind(int rc);
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  int bind_rc_ = 0; // SQLITE_OK, or the first bind SQLite refused since the last reset
  std::string bind_message_;
};

/// BEGIN IMMEDIATE on construction via `begin`; rolls back on destruction unless committed.
class transaction {
public:
  explicit transaction(database& db) : db_(db) {}
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  ~transaction();

  caf::error begin();
  caf::error commit();
  void rollback();

private:
  database& db_;
  bool active_ = false;
};

} // namespace fleet::sqlite
