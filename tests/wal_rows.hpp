#pragma once

// Rows that show a torn or lost WAL page (1000-byte texts that name their keys), for the tests of
// fleetd's SQLite writer beneath the store (the WAL-gathering VFS, the checkpointer), and a writer
// killed with SIGKILL in the middle of its commits: a forked child commits transactions of 20 rows
// one after the other and reports each that returned; the parent kills it after `reports` of them.

#include "fleet/sqlite.hpp"
#include "fleet/wal_coalescing_vfs.hpp"
#include "query_db.hpp"

#include <caf/expected.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <cstdint>
#include <functional>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace fleet::test {

/// WAL, synced at every commit, and table `t`.
constexpr const char* wal_rows_schema = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                        "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY,"
                                        " v TEXT NOT NULL CHECK (length(v) > 0));";

/// Rows first..last of `t`, each a 1000-byte text that names its key (four to a page).
inline std::string insert_rows(int64_t first, int64_t last) {
  return "WITH RECURSIVE n(k) AS (SELECT " + std::to_string(first) + " UNION ALL SELECT k + 1 FROM n WHERE k < "
         + std::to_string(last) + ") INSERT INTO t (k, v) SELECT k, printf('%01000d', k) FROM n;";
}

/// A connection through the WAL-gathering VFS, as fleetd's writer opens the file, with `t`
/// made. No doctest macros: a forked child uses it too.
inline caf::expected<sqlite::database> open_rows_writer(const std::string& path, bool create) {
  auto db = sqlite::database::open(path, create, sqlite::wal_coalescing_vfs());
  if (!db)
    return db.error();
  if (auto err = db->exec(wal_rows_schema))
    return err;
  return db;
}

/// Runs the child and returns the index of the last transaction it reported (the first is 0). The
/// child commits on open_rows_writer(path); `beside`, when given, runs in the child only, on that
/// connection before the first commit, to set up what should run beside the commits (it keeps
/// that in what it captures); false makes the child fail.
inline int64_t commits_until_killed(const std::string& path, int reports,
                                    const std::function<bool(sqlite::database&)>& beside = {}) {
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  auto child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(pipe_fds[0]);
    auto db = open_rows_writer(path, false);
    if (!db || (beside && !beside(*db)))
      _exit(10);
    for (int64_t i = 0;; ++i) {
      if (db->exec("BEGIN;" + insert_rows(i * 20 + 1, i * 20 + 20) + "COMMIT;"))
        _exit(11);
      if (write(pipe_fds[1], &i, sizeof i) != sizeof i)
        _exit(12);
    }
  }
  close(pipe_fds[1]);
  int64_t committed = -1;
  for (int n = 0; n < reports; ++n)
    REQUIRE(read(pipe_fds[0], &committed, sizeof committed) == sizeof committed);
  kill(child, SIGKILL);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  close(pipe_fds[0]);
  return committed;
}

/// After the kill: the file is sound, holds every transaction up to `committed`, and only whole
/// transactions with intact rows.
inline void check_whole_commits(const std::string& path, int64_t committed) {
  CHECK(integrity_check(path) == "ok");
  auto rows = query_db_int(path, "SELECT count(*) FROM t");
  CHECK(rows >= (committed + 1) * 20);
  CHECK(rows % 20 == 0);
  CHECK(query_db_int(path, "SELECT count(*) FROM t WHERE v = printf('%01000d', k)") == rows);
}

} // namespace fleet::test
