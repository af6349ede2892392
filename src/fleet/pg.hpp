#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

struct pg_conn;
struct pg_result;

/// A small RAII layer over libpq, the PostgreSQL client library, in the shape of fleet::sqlite.
/// Errors come back as `errc::storage_unavailable` when the server cannot be reached or takes no
/// writes (connection lost, shutting down, disk full, read-only standby), `errc::invalid_config`
/// for a connection string libpq cannot parse, and `errc::database_error` for the rest, each with
/// PostgreSQL's message and SQLSTATE. No message repeats the connection string: it may hold a
/// password.
namespace fleet::pg {

/// One parameter in PostgreSQL's text format, or NULL.
using param = std::optional<std::string>;

inline param to_param(std::nullptr_t) { return std::nullopt; }
inline param to_param(std::string_view x) { return std::string{x}; }
inline param to_param(const std::string& x) { return x; }
inline param to_param(const char* x) { return std::string{x}; }
inline param to_param(int64_t x) { return std::to_string(x); }
inline param to_param(int32_t x) { return std::to_string(x); }
inline param to_param(bool x) { return std::string{x ? "true" : "false"}; }
/// The shortest text that reads back as the same double.
param to_param(double x);
inline param to_param(param x) { return x; }

/// The rows of one statement. Move-only; frees libpq's result on destruction.
class result {
public:
  result() = default;

  int rows() const;
  int columns() const;
  /// A column's name, and the OID of its type (pg_type: 20 bigint, 23 integer, 701 double ...).
  std::string_view column_name(int column) const;
  unsigned column_type(int column) const;
  bool is_null(int row, int column) const;
  /// The value in text format ("" for NULL).
  std::string_view text(int row, int column) const;
  /// The value as an integer (0 for NULL; an error for text that is no integer).
  caf::expected<int64_t> int64(int row, int column) const;
  /// The value of a column the schema types as an integer (BIGINT, INTEGER, count(*)): 0 for
  /// NULL. Such a column holds nothing else, so no error is possible.
  int64_t integer(int row, int column) const;
  /// Rows an INSERT, UPDATE or DELETE changed.
  int64_t affected() const;

private:
  friend class connection;
  struct release {
    void operator()(pg_result* r) const;
  };
  explicit result(pg_result* r) : res_(r) {}
  std::unique_ptr<pg_result, release> res_;
};

/// Appends one COPY text-format field to `row` (a tab before all but the first): backslash,
/// tab, newline and carriage return escaped, `\N` for NULL (copy_null).
void copy_field(std::string& row, std::string_view value, bool first = false);
void copy_null(std::string& row, bool first = false);

/// Where a connection goes, for messages: host, port and database, never the password.
struct endpoint {
  std::string host;
  std::string port;
  std::string database;
  std::string text() const;
};

/// An open connection. Move-only; closes on destruction. Not thread-safe: one thread at a time.
class connection {
public:
  /// Connects with a libpq connection string (`host=... dbname=...` or `postgresql://...`).
  /// Unless the string sets them, a connection gives up connecting after 10 s, and a server
  /// that stops answering is noticed within about 10 s (TCP keepalives and tcp_user_timeout)
  /// instead of the kernel's quarter of an hour: a standby fleetd must not wait that long.
  /// `application_name` defaults to `fleetd`, so operators find its sessions in pg_stat_activity.
  static caf::expected<connection> open(const std::string& conninfo);
  /// A session for readers beside the writer (the batch page, the archiver): read-only, each
  /// transaction one snapshot (REPEATABLE READ), opened again with that setup when the server
  /// ends it.
  static caf::expected<connection> open_snapshot_reader(const std::string& conninfo);

  connection(connection&&) noexcept = default;
  connection& operator=(connection&&) noexcept = default;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  /// Runs one or more statements without parameters or results (simple query protocol).
  caf::error exec(std::string_view sql);

  /// Runs one statement with parameters $1..$n (extended protocol, text format).
  caf::expected<result> query_params(std::string_view sql, const std::vector<param>& params);

  template <class... Ts>
  caf::expected<result> query(std::string_view sql, Ts&&... xs) {
    return query_params(sql, std::vector<param>{to_param(std::forward<Ts>(xs))...});
  }

  /// Runs one statement as `query_params` does, prepared on this connection the first time its
  /// text is seen and reused after that: PostgreSQL parses and plans it once per session, not per
  /// call. For the statements a store runs again and again (their texts are constants).
  caf::expected<result> prepared_params(std::string_view sql, const std::vector<param>& params);

  template <class... Ts>
  caf::expected<result> prepared(std::string_view sql, Ts&&... xs) {
    return prepared_params(sql, std::vector<param>{to_param(std::forward<Ts>(xs))...});
  }

  /// Runs `COPY ... FROM STDIN` (text format) with `rows` as its data (copy_row builds them):
  /// the rows written. A bulk load without parameters to parse; a refused row fails it whole.
  caf::expected<int64_t> copy_in(std::string_view sql, std::string_view rows);

  /// Runs a statement whose first row's first column is an integer.
  template <class... Ts>
  caf::expected<int64_t> query_int(std::string_view sql, Ts&&... xs) {
    return first_int(query(sql, std::forward<Ts>(xs)...));
  }

  /// As query_int, prepared once (see prepared_params).
  template <class... Ts>
  caf::expected<int64_t> prepared_int(std::string_view sql, Ts&&... xs) {
    return first_int(prepared(sql, std::forward<Ts>(xs)...));
  }

  /// False once the server closed the connection or it broke.
  bool usable() const;

  /// From now on, a statement outside a transaction finds a lost session opened again first (a
  /// restarted server, a dropped connection), and `setup` runs on the new session to set up what
  /// the old one had. Inside a transaction a lost session stays an error until the transaction
  /// ends: its work is gone, and going on in a new session would run the rest outside it.
  void reconnect_when_lost(std::function<caf::error(connection&)> setup = {});

  /// Opens the lost session again now (libpq's PQreset, with the same parameters), forgetting
  /// its prepared statements; then the setup of reconnect_when_lost, if any.
  caf::error reconnect();

  /// The server this connection talks to.
  const endpoint& where() const { return where_; }

  /// The connection string it was opened with, to open another session like it. It may hold a
  /// password: never for messages.
  const std::string& conninfo() const { return conninfo_; }

  /// The SQLSTATE of the last statement that failed on this connection ("" for none, or for a
  /// failure without an answer from the server).
  const std::string& last_sqlstate() const { return last_sqlstate_; }

  /// The backend's process id (pg_backend_pid()), for pg_terminate_backend in tests.
  int backend_pid() const;

  pg_conn* handle() const { return conn_.get(); }

private:
  struct release {
    void operator()(pg_conn* c) const;
  };
  connection(pg_conn* c, endpoint where) : conn_(c), where_(std::move(where)) {}
  caf::error failure(pg_result* r, std::string_view what);
  /// `r` as the answer of a statement, or the error it carries (freeing it then).
  caf::expected<result> answer(pg_result* r);
  /// none once `r` says the server waits for COPY data, else its error (freeing it).
  caf::error answer_copy(pg_result* r);
  static caf::expected<int64_t> first_int(caf::expected<result> res);
  std::unique_ptr<pg_conn, release> conn_;
  endpoint where_;
  std::string conninfo_;
  std::string last_sqlstate_;
  std::unordered_map<std::string, std::string> statements_; ///< SQL text -> prepared statement's name
  /// Before each statement: the session opened again if it was lost and that is wanted.
  caf::error ensure_session();
  /// Runs a statement; outside a transaction, once more on a new session if it failed because the
  /// session was lost (with reconnect_when_lost).
  caf::expected<result> in_session(const std::function<caf::expected<result>()>& run);
  friend class transaction; // marks the span of a transaction (no reconnect within it)
  bool in_transaction_ = false;
  bool reconnect_when_lost_ = false;
  std::function<caf::error(connection&)> setup_;
};

/// BEGIN on `begin`; rolls back on destruction unless committed.
class transaction {
public:
  explicit transaction(connection& db) : db_(db) {}
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  ~transaction();

  caf::error begin();
  caf::error commit();
  void rollback();

private:
  connection& db_;
  bool active_ = false;
};

} // namespace fleet::pg
