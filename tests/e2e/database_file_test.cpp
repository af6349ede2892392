// The database file as an operator may hand it over (issue 16): damaged, empty, read-only. fleetd
// says what is wrong and what to do, and never writes into a file it refuses.

#include "fleetd_process.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

using namespace fleet::test;

TEST_CASE("a damaged database is refused at start with what to do, and left as it was") {
  // A short drain: the stop below does not wait 30 s for the running sleep.
  fleetd_process d("max-workers=1\ndrain-timeout=100\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("tasks.jsonl");
  std::string tasks;
  for (int i = 0; i < 3000; ++i)
    tasks += fmt::format(R"({{"id":"t{}","type":"sleep","data":{{"ms":600000,"pad":"some bytes to fill pages"}}}})", i)
             + "\n";
  write_file(file, tasks);
  d.submit(file);
  CHECK(d.terminate() == 0);
  auto root = d.query_int("SELECT rootpage FROM sqlite_schema WHERE name = 'tasks_runnable'");
  auto page_size = d.query_int("PRAGMA page_size");
  {
    std::fstream f{d.db(), std::ios::in | std::ios::out | std::ios::binary};
    f.seekp((root - 1) * page_size);
    std::string garbage(200, '\xff');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto before = read_file(d.db());
  CHECK_FALSE(d.start());
  auto log = d.log();
  CHECK_MESSAGE(log.find("is damaged (PRAGMA quick_check: ") != std::string::npos, log);
  CHECK(log.find("fleetd writes nothing into a damaged file. Restore it from a backup") != std::string::npos);
  CHECK(read_file(d.db()) == before);
}

TEST_CASE("an empty database file is initialised, and the log says so loudly") {
  temp_dir dir;
  fleetd_process d;
  write_file(d.db(), "");
  REQUIRE_MESSAGE(d.start(), d.log());
  CHECK(d.count_in_log("is an empty file (0 bytes): initialising a new database in it") == 1);
  CHECK(d.query_int("SELECT count(*) FROM batches") == 0);
  CHECK(d.terminate() == 0);
  REQUIRE_MESSAGE(d.start(), d.log());
  CHECK(d.count_in_log("is an empty file") == 1); // not on a database that is only new
  CHECK(d.terminate() == 0);
  fleetd_process fresh;
  REQUIRE_MESSAGE(fresh.start(), fresh.log());
  CHECK(fresh.count_in_log("no database at " + fresh.db() + ": creating a new one") == 1);
}

TEST_CASE("a database fleetd's user cannot write is refused before SQLite leaves files behind") {
  // As root every file is writable: run fleetd as nobody, in a directory nobody may write.
  temp_dir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  CHECK(d.terminate() == 0);
  auto db = dir.file("fleet.db");
  std::filesystem::copy_file(d.db(), db);
  std::filesystem::permissions(db, std::filesystem::perms::owner_read | std::filesystem::perms::group_read
                                     | std::filesystem::perms::others_read);
  // A copy of fleetd where nobody may run it, wherever the build directory is.
  auto fleetd = dir.file("fleetd");
  std::filesystem::copy_file(bin("fleetd"), fleetd);
  auto as_nobody = [&](const std::string& path) {
    return run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", fleetd,
                "--fleet.plaintext-loopback=true", "--fleet.port=0", "--fleet.db=" + path});
  };
  auto r = as_nobody(db);
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("database " + db + " is read-only for user 65534 (Permission denied): fleetd must "
                           "write it. Make it writable (chmod u+w), or run fleetd as its owner")
                  != std::string::npos,
                r.err);
  CHECK_FALSE(std::filesystem::exists(db + "-shm"));
  CHECK_FALSE(std::filesystem::exists(db + "-wal"));
  // A side file another user left behind.
  std::filesystem::permissions(db, std::filesystem::perms::all);
  write_file(db + "-shm", "");
  std::filesystem::permissions(db + "-shm", std::filesystem::perms::owner_read);
  r = as_nobody(db);
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find(db + "-shm exists but is not writable for user 65534") != std::string::npos, r.err);
  std::filesystem::remove(db + "-shm");
  // A directory it may not write.
  temp_dir closed;
  std::filesystem::permissions(closed.path(), std::filesystem::perms::owner_all | std::filesystem::perms::others_exec
                                                | std::filesystem::perms::others_read);
  r = as_nobody(closed.file("fleet.db"));
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("the database directory " + closed.path().string() + " is not writable for user 65534")
                  != std::string::npos,
                r.err);
}
