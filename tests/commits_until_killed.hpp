#pragma once

// A writer killed with SIGKILL in the middle of its commits: a forked child commits transactions of
// 20 rows (1000-byte texts that name their keys, so a torn or lost page shows) one after the other
// and reports each that returned; the parent kills it after `reports` of them.

#include "fleet/sqlite.hpp"
#include "query_db.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <cstdint>
#include <functional>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace fleet::test {

/// Runs the child and returns the index of the last transaction it reported (the first is 0).
/// `open` runs in the child only: it opens the connection to commit on, with table
/// `t (k INTEGER PRIMARY KEY, v TEXT)`, and whatever should run beside it, and keeps them (in
/// what it captures); nullptr makes the child fail.
inline int64_t commits_until_killed(const std::function<sqlite::database*()>& open, int reports) {
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  auto child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(pipe_fds[0]);
    auto* db = open();
    if (db == nullptr)
      _exit(10);
    for (int64_t i = 0;; ++i) {
      if (db->exec("BEGIN; WITH RECURSIVE n(k) AS (SELECT " + std::to_string(i * 20 + 1)
                   + " UNION ALL SELECT k + 1 FROM n WHERE k < " + std::to_string(i * 20 + 20)
                   + ") INSERT INTO t (k, v) SELECT k, printf('%01000d', k) FROM n; COMMIT;"))
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
