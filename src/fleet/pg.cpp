#include "fleet/pg.hpp"

#include "fleet/parse_number.hpp"
#include "fleetd/error.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <array>

namespace fleet::pg {

namespace {

/// Which fleet error an SQLSTATE is: what says "try again later, elsewhere or after the operator
/// acted" is storage_unavailable, as a full disk is for SQLite.
errc classify(std::string_view state) {
  if (state.empty())
    return errc::storage_unavailable; // no answer from the server at all
  auto starts = [&](std::string_view prefix) { return state.substr(0, prefix.size()) == prefix; };
  if (state == "08P01") // protocol violation (a statement bound with the wrong number of parameters)
    return errc::database_error;
  if (starts("08")    // connection exception
      || starts("53") // insufficient resources: disk full, out of memory, too many connections
      || starts("58") // system error: I/O
      || state == "57P01" || state == "57P02" || state == "57P03" // shutting down or starting
      || state == "25006")                                        // a read-only (standby) server
    return errc::storage_unavailable;
  if (state == "XX001" || state == "XX002")
    return errc::database_damaged;
  return errc::database_error;
}

/// libpq ends its messages with a newline; several lines are kept as one.
std::string trimmed(const char* message) {
  std::string out = message != nullptr ? message : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  for (auto& c : out)
    if (c == '\n')
      c = ' ';
  return out;
}

/// The parameters as libpq takes them: NULL for none.
std::vector<const char*> values_of(const std::vector<param>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params)
    values.push_back(p ? p->c_str() : nullptr);
  return values;
}

void log_notice(void*, const char* message) {
  spdlog::debug("postgresql: {}", trimmed(message));
}

} // namespace

void result::release::operator()(pg_result* r) const {
  PQclear(r);
}

int result::rows() const {
  return res_ ? PQntuples(res_.get()) : 0;
}

int result::columns() const {
  return res_ ? PQnfields(res_.get()) : 0;
}

std::string_view result::column_name(int column) const {
  const char* name = res_ ? PQfname(res_.get(), column) : nullptr;
  return name != nullptr ? std::string_view{name} : std::string_view{};
}

unsigned result::column_type(int column) const {
  return res_ ? PQftype(res_.get(), column) : 0;
}

bool result::is_null(int row, int column) const {
  return PQgetisnull(res_.get(), row, column) != 0;
}

std::string_view result::text(int row, int column) const {
  return {PQgetvalue(res_.get(), row, column),
          static_cast<size_t>(PQgetlength(res_.get(), row, column))};
}

caf::expected<int64_t> result::int64(int row, int column) const {
  if (is_null(row, column))
    return int64_t{0};
  auto value = std::string{text(row, column)};
  auto parsed = parse_integer(value);
  if (!parsed)
    return caf::make_error(errc::database_error,
                           fmt::format("column {} holds \"{}\", not an integer", PQfname(res_.get(), column), value));
  return *parsed;
}

int64_t result::integer(int row, int column) const {
  auto x = int64(row, column);
  return x ? *x : 0;
}

int64_t result::affected() const {
  auto parsed = parse_integer(PQcmdTuples(res_.get()));
  return parsed ? *parsed : 0;
}

void copy_field(std::string& row, std::string_view value, bool first) {
  if (!first)
    row += '\t';
  for (char c : value) {
    switch (c) {
      case '\\': row += "\\\\"; break;
      case '\t': row += "\\t"; break;
      case '\n': row += "\\n"; break;
      case '\r': row += "\\r"; break;
      default: row += c;
    }
  }
}

void copy_null(std::string& row, bool first) {
  if (!first)
    row += '\t';
  row += "\\N";
}

param to_param(double x) {
  return fmt::format("{}", x);
}

std::string endpoint::text() const {
  return fmt::format("database \"{}\" on {}:{}", database, host, port);
}

void connection::release::operator()(pg_conn* c) const {
  PQfinish(c);
}

caf::expected<connection> connection::open(const std::string& conninfo) {
  char* parse_error = nullptr;
  if (auto* parsed = PQconninfoParse(conninfo.c_str(), &parse_error); parsed != nullptr) {
    PQconninfoFree(parsed);
  } else {
    auto message = trimmed(parse_error);
    PQfreemem(parse_error);
    return caf::make_error(errc::invalid_config,
                           fmt::format("the PostgreSQL connection string is not valid: {}", message));
  }
  // The defaults first: what the connection string sets comes after them and wins.
  std::array keywords{"connect_timeout", "keepalives",       "keepalives_idle", "keepalives_interval",
                      "keepalives_count", "tcp_user_timeout", "application_name", "dbname",
                      static_cast<const char*>(nullptr)};
  std::array values{"10", "1", "5", "2", "3", "10000", "fleetd", conninfo.c_str(),
                    static_cast<const char*>(nullptr)};
  auto* c = PQconnectdbParams(keywords.data(), values.data(), 1);
  if (c == nullptr)
    return caf::make_error(errc::storage_unavailable, "cannot connect to PostgreSQL: out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    auto message = trimmed(PQerrorMessage(c));
    PQfinish(c);
    return caf::make_error(errc::storage_unavailable, fmt::format("cannot connect to PostgreSQL: {}", message));
  }
  PQsetNoticeProcessor(c, log_notice, nullptr);
  auto text_of = [](const char* x) { return std::string{x != nullptr ? x : ""}; };
  endpoint where{text_of(PQhost(c)), text_of(PQport(c)), text_of(PQdb(c))};
  connection out{c, std::move(where)};
  out.conninfo_ = conninfo;
  return out;
}

caf::expected<connection> connection::open_snapshot_reader(const std::string& conninfo) {
  auto opened = open(conninfo);
  if (!opened)
    return opened;
  auto setup = [](connection& c) {
    return c.exec("SET default_transaction_read_only = on; SET default_transaction_isolation = 'repeatable read'");
  };
  if (auto err = setup(*opened))
    return err;
  opened->reconnect_when_lost(setup);
  return opened;
}

connection::~connection() = default;

caf::error connection::failure(pg_result* r, std::string_view what) {
  std::string state;
  std::string message;
  if (r != nullptr) {
    if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE))
      state = s;
    message = trimmed(PQresultErrorMessage(r));
  }
  if (message.empty())
    message = trimmed(PQerrorMessage(conn_.get()));
  if (state.empty() && PQstatus(conn_.get()) == CONNECTION_OK)
    state = "XX000"; // an error the server did not classify, on a connection that still works
  last_sqlstate_ = state;
  // A session the server ended (terminated, timed out while idle in a transaction) is gone whatever
  // the reason's SQLSTATE: the work of its open transaction is lost, and a new connection is needed.
  auto code = PQstatus(conn_.get()) == CONNECTION_OK ? classify(state) : errc::storage_unavailable;
  if (state.empty())
    return caf::make_error(code, fmt::format("{}: {} (the connection to {} is lost)", what, message, where_.text()));
  return caf::make_error(code, fmt::format("{}: {} (SQLSTATE {})", what, message, state));
}

void connection::reconnect_when_lost(std::function<caf::error(connection&)> setup) {
  reconnect_when_lost_ = true;
  setup_ = std::move(setup);
}

caf::error connection::reconnect() {
  PQreset(conn_.get());
  statements_.clear();
  if (!usable())
    return caf::make_error(errc::storage_unavailable,
                           fmt::format("cannot reconnect to {}: {}", where_.text(), trimmed(PQerrorMessage(conn_.get()))));
  spdlog::info("reconnected to {} (the last session was lost)", where_.text());
  return setup_ ? setup_(*this) : caf::none;
}

caf::error connection::ensure_session() {
  if (!reconnect_when_lost_ || in_transaction_ || usable())
    return caf::none;
  return reconnect();
}

caf::expected<result> connection::in_session(const std::function<caf::expected<result>()>& run) {
  if (auto err = ensure_session())
    return err;
  auto out = run();
  // libpq learns that the server ended the session only when a statement fails on it. Outside a
  // transaction the statement runs again on a new session: a read, a BEGIN, or the lease's renewal,
  // each of which may run twice.
  if (!out && reconnect_when_lost_ && !in_transaction_ && !usable()) {
    if (auto err = reconnect())
      return err;
    out = run();
  }
  return out;
}

caf::expected<int64_t> connection::copy_in(std::string_view sql, std::string_view rows) {
  if (auto err = ensure_session())
    return err;
  std::string text{sql};
  auto started = answer_copy(PQexec(conn_.get(), text.c_str()));
  if (started)
    return started;
  // In slices: libpq buffers what it sends, and a slice of a few MiB keeps that bounded.
  constexpr size_t slice = size_t{1} << 20;
  for (size_t at = 0; at < rows.size(); at += slice) {
    auto n = std::min(slice, rows.size() - at);
    if (PQputCopyData(conn_.get(), rows.data() + at, static_cast<int>(n)) != 1)
      break; // the error comes with the result below
  }
  PQputCopyEnd(conn_.get(), nullptr);
  caf::expected<int64_t> out{int64_t{0}};
  bool first = true;
  while (auto* r = PQgetResult(conn_.get())) {
    auto done = answer(r);
    if (first) {
      out = done ? caf::expected<int64_t>{done->affected()} : caf::expected<int64_t>{done.error()};
      first = false;
    }
  }
  return out;
}

caf::error connection::answer_copy(pg_result* r) {
  auto status = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status == PGRES_COPY_IN) {
    PQclear(r);
    return caf::none;
  }
  auto err = failure(r, "PostgreSQL refused a COPY");
  PQclear(r);
  return err ? err : caf::make_error(errc::database_error, "COPY did not start");
}

caf::error connection::exec(std::string_view sql) {
  std::string text{sql};
  auto done = in_session([&] { return answer(PQexec(conn_.get(), text.c_str())); });
  return done ? caf::none : done.error();
}

caf::expected<result> connection::answer(pg_result* r) {
  auto status = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    auto err = failure(r, "PostgreSQL refused a statement");
    PQclear(r);
    return err;
  }
  return result{r};
}

caf::expected<int64_t> connection::first_int(caf::expected<result> res) {
  if (!res)
    return res.error();
  if (res->rows() == 0 || res->columns() == 0)
    return caf::make_error(errc::database_error, "the query returned no value");
  return res->int64(0, 0);
}

caf::expected<result> connection::query_params(std::string_view sql, const std::vector<param>& params) {
  std::string text{sql};
  auto values = values_of(params);
  return in_session([&] {
    return answer(PQexecParams(conn_.get(), text.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                               nullptr, nullptr, 0));
  });
}

caf::expected<result> connection::prepared_params(std::string_view sql, const std::vector<param>& params) {
  std::string text{sql};
  auto values = values_of(params);
  return in_session([&]() -> caf::expected<result> {
    auto i = statements_.find(text);
    if (i == statements_.end()) {
      auto name = fmt::format("fleetd_{}", statements_.size() + 1);
      auto made = answer(PQprepare(conn_.get(), name.c_str(), text.c_str(), static_cast<int>(params.size()), nullptr));
      if (!made)
        return made.error();
      i = statements_.emplace(text, std::move(name)).first;
    }
    return answer(PQexecPrepared(conn_.get(), i->second.c_str(), static_cast<int>(values.size()), values.data(),
                                 nullptr, nullptr, 0));
  });
}

bool connection::usable() const {
  return conn_ && PQstatus(conn_.get()) == CONNECTION_OK;
}

int connection::backend_pid() const {
  return PQbackendPID(conn_.get());
}

transaction::~transaction() {
  rollback();
}

caf::error transaction::begin() {
  if (auto err = db_.exec("BEGIN"))
    return err;
  active_ = true;
  db_.in_transaction_ = true;
  return caf::none;
}

caf::error transaction::commit() {
  // Whatever COMMIT answers, this transaction is over. A refused COMMIT rolled it back; a COMMIT
  // whose connection broke may or may not have committed (the error says the connection is lost).
  active_ = false;
  auto err = db_.exec("COMMIT");
  db_.in_transaction_ = false;
  return err;
}

void transaction::rollback() {
  if (!active_)
    return;
  active_ = false;
  // A connection lost meanwhile has no transaction left to roll back (the server ended it).
  if (db_.usable())
    if (auto err = db_.exec("ROLLBACK"))
      spdlog::error("postgresql: a transaction could not be rolled back: {}", error_text(err));
  db_.in_transaction_ = false;
}

} // namespace fleet::pg
