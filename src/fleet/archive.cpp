#include "fleet/archive.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_text.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace fleet {

namespace {

struct close_db {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct finalize {
  void operator()(sqlite3_stmt* st) const { sqlite3_finalize(st); }
};
using db_handle = std::unique_ptr<sqlite3, close_db>;
using statement_handle = std::unique_ptr<sqlite3_stmt, finalize>;

/// A file descriptor, closed on destruction.
struct fd_handle {
  int fd = -1;
  explicit fd_handle(int x) : fd(x) {}
  fd_handle(const fd_handle&) = delete;
  fd_handle& operator=(const fd_handle&) = delete;
  ~fd_handle() {
    if (fd >= 0)
      ::close(fd);
  }
};

caf::error archive_error(const std::string& what) {
  return caf::make_error(errc::storage_unavailable, "archive: " + what);
}

caf::error os_error(const std::string& what, const std::string& path) {
  return archive_error(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

/// A row's columns by name; integers stay integers, text stays text (as stored).
nlohmann::json row_json(sqlite3_stmt* st) {
  nlohmann::json out = nlohmann::json::object();
  for (int i = 0; i < sqlite3_column_count(st); ++i) {
    const char* name = sqlite3_column_name(st, i);
    switch (sqlite3_column_type(st, i)) {
      case SQLITE_INTEGER: out[name] = sqlite3_column_int64(st, i); break;
      case SQLITE_FLOAT: out[name] = sqlite3_column_double(st, i); break;
      case SQLITE_NULL: out[name] = nullptr; break;
      default: {
        auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        out[name] = std::string{text, static_cast<size_t>(sqlite3_column_bytes(st, i))};
      }
    }
  }
  return out;
}

/// What follows the batch row in an archive, in order.
struct archive_part {
  const char* kind;
  const char* sqlite;
};
constexpr archive_part archive_parts[] = {
  {"task", "SELECT * FROM tasks WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq"},
  {"task_policy", "SELECT * FROM task_policies WHERE task_seq >= ?1 AND task_seq <= ?2 ORDER BY task_seq"},
  {"task_dep", "SELECT * FROM task_deps WHERE task_seq >= ?1 AND task_seq <= ?2 ORDER BY task_seq, after_seq"},
  {"attempt", "SELECT * FROM attempts WHERE task_seq >= ?1 AND task_seq <= ?2 ORDER BY task_seq, attempt"},
  {"event", "SELECT * FROM events WHERE batch_id = ?3 ORDER BY id"},
};

/// Reads the batch from the SQLite file at `db_path` on a read-only connection of its own, in
/// one read transaction.
caf::error read_sqlite_batch(const std::string& db_path, const std::string& batch_id, const archive_line& line) {
  sqlite3* raw = nullptr;
  auto rc = sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  db_handle db{raw};
  if (rc != SQLITE_OK)
    return archive_error(fmt::format("cannot open {}: {}", db_path, raw ? sqlite3_errmsg(raw) : "out of memory"));
  sqlite3_busy_timeout(db.get(), 5000);
  auto prepare = [&](const char* sql) -> caf::expected<statement_handle> {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db.get(), sql, -1, &st, nullptr) != SQLITE_OK)
      return archive_error(fmt::format("cannot read the batch: {}", sqlite3_errmsg(db.get())));
    return statement_handle{st};
  };
  // One snapshot for every read: the batch, its tasks, attempts and events as of one commit.
  if (sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK)
    return archive_error(fmt::format("cannot read {}: {}", db_path, sqlite3_errmsg(db.get())));
  struct end_read {
    sqlite3* db;
    ~end_read() { sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr); }
  } ending{db.get()};
  auto batch = prepare("SELECT * FROM batches WHERE id = ?1");
  if (!batch)
    return batch.error();
  // A parameter SQLite could not bind would be NULL, and the archive short of rows the retention
  // then deletes from the database.
  auto bound = [&](int rc) {
    return rc == SQLITE_OK ? caf::error{}
                           : archive_error(fmt::format("cannot read the batch: {}", sqlite3_errmsg(db.get())));
  };
  if (auto err = bound(sqlite3_bind_text(batch->get(), 1, batch_id.data(), static_cast<int>(batch_id.size()),
                                         SQLITE_TRANSIENT)))
    return err;
  if (sqlite3_step(batch->get()) != SQLITE_ROW)
    return caf::make_error(errc::unknown_batch, fmt::format("archive: batch {} is not in the database", batch_id));
  auto batch_row = row_json(batch->get());
  auto [first_seq, last_seq] = archived_seqs(batch_row);
  if (!line("batch", batch_row))
    return caf::none;
  for (const auto& p : archive_parts) {
    auto st = prepare(p.sqlite);
    if (!st)
      return st.error();
    if (sqlite3_bind_parameter_count(st->get()) >= 2) {
      if (auto err = bound(sqlite3_bind_int64(st->get(), 1, first_seq)))
        return err;
      if (auto err = bound(sqlite3_bind_int64(st->get(), 2, last_seq)))
        return err;
    }
    if (sqlite3_bind_parameter_count(st->get()) == 3)
      if (auto err = bound(sqlite3_bind_text(st->get(), 3, batch_id.data(), static_cast<int>(batch_id.size()),
                                             SQLITE_TRANSIENT)))
        return err;
    for (;;) {
      rc = sqlite3_step(st->get());
      if (rc != SQLITE_ROW)
        break;
      if (!line(p.kind, row_json(st->get())))
        return caf::none;
    }
    if (rc != SQLITE_DONE)
      return archive_error(fmt::format("cannot read the batch: {}", sqlite3_errmsg(db.get())));
  }
  return caf::none;
}

} // namespace

archive_seq_range archived_seqs(const nlohmann::json& batch_row) {
  auto column = [&](const char* name, int64_t none) {
    auto i = batch_row.find(name);
    return i != batch_row.end() && i->is_number_integer() ? i->get<int64_t>() : none;
  };
  return {column("first_seq", 0), column("last_seq", -1)};
}

std::string archive_file_name(const std::string& batch_id, int64_t finished_at) {
  return fmt::format("{}-{}.jsonl.gz", batch_id, finished_at);
}

caf::error prepare_archive_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return caf::make_error(errc::invalid_config,
                           fmt::format("fleet.archive-dir: cannot create {}: {}", dir, ec.message()));
  auto probe = std::filesystem::path{dir} / ".fleetd-write-test";
  fd_handle fd{::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  if (fd.fd < 0)
    return caf::make_error(errc::invalid_config, fmt::format("fleet.archive-dir: cannot create files in {}: {}",
                                                             dir, std::strerror(errno)));
  ::unlink(probe.c_str());
  return caf::none;
}

caf::expected<archive_written> write_archive(const std::string& dir, const std::string& batch_id,
                                             int64_t finished_at, const archive_source& rows) {
  namespace fs = std::filesystem;
  archive_written out;
  out.path = (fs::path{dir} / archive_file_name(batch_id, finished_at)).string();
  std::error_code ec;
  if (fs::exists(out.path, ec)) {
    out.existed = true;
    out.bytes = static_cast<int64_t>(fs::file_size(out.path, ec));
    return out;
  }
  auto tmp = out.path + ".tmp";
  fd_handle fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)};
  if (fd.fd < 0)
    return os_error("cannot create", tmp);
  auto remove_tmp = [&] { ::unlink(tmp.c_str()); };
  int zfd = ::dup(fd.fd);
  gzFile gz = zfd >= 0 ? gzdopen(zfd, "wb6") : nullptr;
  if (gz == nullptr) {
    if (zfd >= 0)
      ::close(zfd);
    remove_tmp();
    return os_error("cannot start compressing to", tmp);
  }
  bool ok = true;
  auto failed = rows([&](const char* kind, const nlohmann::json& row) {
    auto text = dump_json(nlohmann::json{{kind, row}});
    text += '\n';
    ok = gzwrite(gz, text.data(), static_cast<unsigned>(text.size())) == static_cast<int>(text.size());
    if (ok && std::strcmp(kind, "task") == 0)
      ++out.tasks;
    return ok;
  });
  auto closed = gzclose(gz); // flushes the compressor and closes the duplicate descriptor
  if (failed || !ok || closed != Z_OK) {
    remove_tmp();
    if (failed)
      return failed;
    return os_error("cannot write", tmp);
  }
  if (::fsync(fd.fd) != 0) {
    remove_tmp();
    return os_error("cannot fsync", tmp);
  }
  if (::rename(tmp.c_str(), out.path.c_str()) != 0) {
    remove_tmp();
    return os_error("cannot rename into", out.path);
  }
  fd_handle dir_fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (dir_fd.fd < 0 || ::fsync(dir_fd.fd) != 0)
    return os_error("cannot fsync the directory", dir);
  out.bytes = static_cast<int64_t>(fs::file_size(out.path, ec));
  return out;
}

caf::expected<archive_written> archive_batch(const std::string& db_path, const std::string& dir,
                                             const std::string& batch_id, int64_t finished_at) {
  return write_archive(dir, batch_id, finished_at,
                       [&](const archive_line& line) { return read_sqlite_batch(db_path, batch_id, line); });
}

} // namespace fleet
