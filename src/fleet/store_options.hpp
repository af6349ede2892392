#pragma once

#include <caf/error.hpp>

#include <cstdint>
#include <string>

namespace fleet {

/// How the database file is opened.
struct store_options {
  std::string path = "var/fleet.db";
  std::string synchronous = "full"; ///< off | normal | full
  /// Largest size of the database file in MiB (SQLite's max_page_count); 0: no limit. Beyond it
  /// writes fail with errc::storage_unavailable, as on a full disk.
  int64_t max_size_mib = 0;
  /// PRAGMA quick_check before anything is written: a damaged file is refused
  /// (errc::database_damaged), since writing into a malformed b-tree can spread the damage.
  bool check_integrity = true;
  /// Copy the WAL into the database file on a thread of its own rather than inside the writer's
  /// commits (sqlite::wal_checkpointer). fleetd does; a tool or test that opens the file does not
  /// need a thread for it.
  bool checkpoint_thread = false;
};

/// Parses a synchronous mode name; error for anything else.
caf::error validate_synchronous(const std::string& mode);

} // namespace fleet
