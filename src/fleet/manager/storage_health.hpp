#pragma once

#include <caf/error.hpp>

#include <string>

namespace fleet {

/// Whether the database takes writes, as the outcomes of writes tell. While it does not, fleetd
/// takes no new batches and starts no attempts; a write that succeeds again resumes, except after
/// damage (SQLITE_CORRUPT), which lasts for the rest of the run: writing into a malformed b-tree
/// can spread the damage. Knows nothing of actors: the manager logs, sets the gauge and arms the
/// retry timer by what `note` returns.
class storage_health {
public:
  enum class change {
    none,        ///< nothing changed
    damaged,     ///< the file turned out damaged: nothing more is written this run
    unavailable, ///< a write failed for lack of storage (disk full, read-only, I/O error)
    still_unavailable, ///< failed again: try again later
    recovered,   ///< a write succeeded after failures
  };

  /// The outcome of a write (or of a read that found damage).
  change note(const caf::error& err);

  bool writable() const { return error_.empty(); }
  bool damaged() const { return damaged_; }
  /// Why writes fail; empty while they succeed.
  const std::string& error() const { return error_; }

private:
  std::string error_;
  bool damaged_ = false;
};

} // namespace fleet
