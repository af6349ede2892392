// The VFS that gathers WAL writes (src/fleet/wal_coalescing_vfs.hpp): every commit is whole and
// visible to other connections the moment it returns, a transaction bigger than its buffer or one
// that rewrites its own frames stays intact, a failed write fails its commit and nothing before
// it, and a kill -9 keeps every commit that returned. And the statement journals of the writer's
// multi-row statements stay in memory (sqlite::configure).

#include "fleet/sqlite.hpp"
#include "fleet/wal_coalescing_vfs.hpp"
#include "wal_rows.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <csignal>
#include <filesystem>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace fleet;
using fleet::test::insert_rows;
using fleet::test::temp_dir;

namespace {

sqlite::database open_gathering(const std::string& path) {
  auto db = test::open_rows_writer(path, true);
  REQUIRE(db);
  return std::move(*db);
}

sqlite::database open_plain(const std::string& path) {
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  return std::move(*db);
}

int64_t intact_rows(sqlite::database& db) {
  auto n = db.query_int("SELECT count(*) FROM t WHERE v = printf('%01000d', k)");
  REQUIRE(n);
  return *n;
}

int64_t all_rows(sqlite::database& db) {
  auto n = db.query_int("SELECT count(*) FROM t");
  REQUIRE(n);
  return *n;
}

std::string integrity(sqlite::database& db) {
  auto st = db.prepare("PRAGMA integrity_check");
  REQUIRE(st);
  auto row = st->step();
  REQUIRE(row);
  REQUIRE(*row);
  return st->column_text(0);
}

bool temp_file_open() {
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(fd.path(), ec);
    if (!ec && target.string().find("etilqs_") != std::string::npos)
      return true;
  }
  return false;
}

} // namespace

TEST_CASE("gathered WAL writes: each commit is whole and visible to another connection once it returns") {
  temp_dir dir;
  auto writer = open_gathering(dir.file("fleet.db"));
  // fleetd uses the VFS with FULL only, where the WAL is synced before a commit shows; with NORMAL
  // nothing syncs it, and the shared-memory barrier must write the frames out.
  SUBCASE("synchronous = FULL") {}
  SUBCASE("synchronous = NORMAL") {
    REQUIRE_FALSE(writer.exec("PRAGMA synchronous = NORMAL"));
  }
  auto reader = open_plain(dir.file("fleet.db"));
  auto before = sqlite::wal_coalescing_counts();
  for (int64_t i = 0; i < 40; ++i) {
    REQUIRE_FALSE(writer.exec("BEGIN;" + insert_rows(i * 30 + 1, i * 30 + 30) + "COMMIT;"));
    // The reader uses SQLite's own VFS: it sees only what reached the file.
    CHECK(intact_rows(reader) == (i + 1) * 30);
  }
  auto after = sqlite::wal_coalescing_counts();
  auto asked = after.asked_writes - before.asked_writes;
  auto real = after.real_writes - before.real_writes;
  CHECK(asked >= 40 * 2 * 8); // two calls a frame, about 8 pages a commit
  CHECK(real * 8 <= asked);
  CHECK(integrity(reader) == "ok");
}

TEST_CASE("gathered WAL writes: a transaction beyond the buffer that spills and rewrites its own pages") {
  temp_dir dir;
  {
    auto writer = open_gathering(dir.file("fleet.db"));
    // A tiny page cache makes SQLite write frames mid-transaction and then change those pages again.
    REQUIRE_FALSE(writer.exec("PRAGMA cache_size = 10"));
    // The SELECT pushes the last pages written out of the cache; the first UPDATE reads them back
    // from the WAL while they are still in the buffer.
    REQUIRE_FALSE(writer.exec("BEGIN;" + insert_rows(1, 3000)
                              + "SELECT sum(length(v)) FROM t WHERE k < 400;"
                                "UPDATE t SET v = printf('%01000d', k + 1) WHERE k > 2980;"
                                "UPDATE t SET v = printf('%01000d', k + 1) WHERE k <= 2980;"
                                "UPDATE t SET v = printf('%01000d', k) WHERE k % 2 = 0;"
                                "COMMIT;"));
    auto reader = open_plain(dir.file("fleet.db"));
    CHECK(all_rows(reader) == 3000);
    CHECK(intact_rows(reader) == 1500);
    auto shifted = reader.query_int("SELECT count(*) FROM t WHERE k % 2 = 1 AND v = printf('%01000d', k + 1)");
    REQUIRE(shifted);
    CHECK(*shifted == 1500);
    CHECK(integrity(reader) == "ok");
  }
  // After the last connection closed (SQLite checkpointed and removed the WAL): the same rows.
  auto again = open_plain(dir.file("fleet.db"));
  CHECK(all_rows(again) == 3000);
  CHECK(intact_rows(again) == 1500);
}

TEST_CASE("gathered WAL writes: a write that fails fails its commit, keeps what came before, and the next fits") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  { open_gathering(path); }
  auto child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Exit codes name the step that went wrong (0: as expected).
    auto db = test::open_rows_writer(path, false);
    if (!db || db->exec("BEGIN;" + insert_rows(1, 10) + "COMMIT;"))
      _exit(10);
    std::error_code ec;
    auto wal = std::filesystem::file_size(path + "-wal", ec);
    if (ec)
      _exit(11);
    // Files may grow 40 KiB more: a commit of about 16 pages (66 KiB) fits the 120 KiB buffer
    // whole, so it meets the limit when the WAL is synced at COMMIT.
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{wal + 40 * 1024, wal + 40 * 1024};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0)
      _exit(12);
    if (db->exec("BEGIN;" + insert_rows(11, 70)))
      _exit(13);
    auto failed = db->exec("COMMIT");
    if (!failed)
      _exit(14);
    (void)db->exec("ROLLBACK"); // the failed COMMIT may have rolled back already
    if (db->exec("BEGIN;" + insert_rows(71, 72) + "COMMIT;"))
      _exit(15);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  auto reader = open_plain(path);
  CHECK(integrity(reader) == "ok");
  CHECK(all_rows(reader) == 12);
  CHECK(intact_rows(reader) == 12);
  auto failed_rows = reader.query_int("SELECT count(*) FROM t WHERE k BETWEEN 11 AND 70");
  REQUIRE(failed_rows);
  CHECK(*failed_rows == 0);
}

TEST_CASE("gathered WAL writes: kill -9 between and during commits keeps every commit that returned") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  { open_gathering(path); }
  auto committed = fleet::test::commits_until_killed(path, 60);
  fleet::test::check_whole_commits(path, committed);
}

TEST_CASE("a connection a program opens itself, after fleetd's, also writes a big statement journal") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  { open_gathering(path); } // fleetd's SQLite settings and VFS are in place from here
  // As a program that embeds fleetd's library might, with SQLite's C API and no VFS named.
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  CHECK(std::string{sqlite3_vfs_find(nullptr)->zName} == sqlite::split_writes_vfs());
  auto exec = [raw](const std::string& sql) {
    char* message = nullptr;
    auto rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &message);
    std::string text = message != nullptr ? message : "";
    sqlite3_free(message);
    return rc == SQLITE_OK ? std::string{} : text;
  };
  CHECK(exec("PRAGMA journal_mode = WAL; BEGIN;" + insert_rows(1, 6000) + "COMMIT;").empty());
  CHECK(exec("BEGIN; UPDATE t SET v = printf('%01000d', k + 1); COMMIT;").empty());
  sqlite3_close(raw);
}

TEST_CASE("a multi-row statement whose journal outgrows memory goes on in a temporary file, and commits") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  { open_gathering(path); } // makes t
  // Through either of fleetd's VFS: the writer's with synchronous=full, and every other one's.
  for (bool gathering : {true, false}) {
    CAPTURE(gathering);
    auto writer = gathering ? open_gathering(path) : open_plain(path);
    REQUIRE_FALSE(writer.exec("DELETE FROM t; BEGIN;" + insert_rows(1, 6000) + "COMMIT;"));
    // Inside a transaction an UPDATE that may fail a CHECK half-way keeps the old copy of each
    // page it changes (about 1,500 pages, 6 MiB). Past 4 MiB (statement_journal_in_memory) they
    // go to a temporary file, the first 4 MiB in one write, which SQLite's unix VFS fails with
    // SQLITE_FULL ("database or disk is full"): it writes at most 128 KiB - 1 a call. Up to
    // 2026-12-08 pausing a batch of 100,000 tasks failed so.
    auto err = writer.exec("BEGIN; UPDATE t SET v = printf('%01000d', k + 1);");
    REQUIRE_MESSAGE(!err, fleet::error_text(err));
    CHECK(temp_file_open());
    REQUIRE_FALSE(writer.exec("COMMIT"));
    auto changed = writer.query_int("SELECT count(*) FROM t WHERE v = printf('%01000d', k + 1)");
    REQUIRE(changed);
    CHECK(*changed == 6000);
  }
}
