#pragma once

// The archive of pruned batches (fleet.archive-dir) on PostgreSQL: the same file archive_batch
// writes from the SQLite file, read from the same rows.

#include "fleet/archive.hpp"
#include "fleet/pg.hpp"

#include <caf/expected.hpp>

#include <optional>
#include <string>

namespace fleet {

/// Writes archives on a read-only session of its own, opened at the first batch and opened again
/// when the server ended it; each batch is read in one snapshot (REPEATABLE READ). One archiver
/// thread uses it.
class pg_archive {
public:
  pg_archive(std::string conninfo, std::string dir) : conninfo_(std::move(conninfo)), dir_(std::move(dir)) {}

  caf::expected<archive_written> write(const std::string& batch_id, int64_t finished_at);

private:
  caf::error read(pg::connection& db, const std::string& batch_id, const archive_line& line);

  std::string conninfo_;
  std::string dir_;
  std::optional<pg::connection> db_;
};

} // namespace fleet
