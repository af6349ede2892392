#pragma once

// The archive of pruned batches (fleet.archive-dir): before retention deletes a finished batch,
// the batch, its tasks, attempts and events are written to one gzip-compressed JSON Lines file.

#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace fleet {

struct archive_written {
  std::string path;     ///< the archive file
  int64_t tasks = 0;    ///< task lines written (0 if the file existed already)
  int64_t bytes = 0;    ///< its compressed size
  bool existed = false; ///< an earlier pass wrote it (a pass cut short by a crash)
};

/// The file name of a batch's archive: `<batch_id>-<finished_at>.jsonl.gz`. A replayed batch that
/// finishes again gets a new one.
std::string archive_file_name(const std::string& batch_id, int64_t finished_at);

/// Writes the batch `batch_id` (finished at `finished_at`) of the database at `db_path`, read in one
/// read transaction on a read-only connection of its own, to `dir`: a line {"batch": {...}}, then
/// {"task": {...}} per task in submission order, {"attempt": {...}} per attempt and
/// {"event": {...}} per event of the batch, each row's columns by name as stored (JSON texts such
/// as `data` stay strings, exactly as stored). It goes to a temporary file that is fsynced and then
/// renamed into place, and the directory is fsynced: once this returns, the archive survives a
/// crash or a power cut, and a file under the final name is always whole. A file that exists
/// already is kept as it is (an earlier pass wrote it before it deleted anything).
caf::expected<archive_written> archive_batch(const std::string& db_path, const std::string& dir,
                                             const std::string& batch_id, int64_t finished_at);

/// Hands each row of an archive to the writer: `kind` (batch, task, task_policy, task_dep, attempt,
/// event) and the row's columns by name, integers as numbers and text as stored. False: the file
/// could not take it, stop reading.
using archive_line = std::function<bool(const char* kind, const nlohmann::json& row)>;
/// Reads a batch for its archive in one snapshot: the batch row, then its tasks in submission
/// order, their policies, dependencies and attempts, and its events, each through `line`.
/// errc::unknown_batch if it is not stored.
using archive_source = std::function<caf::error(const archive_line& line)>;
/// Archives one batch (its id, its finished_at): what the archiver of fleet.archive-dir runs.
using archive_fn = std::function<caf::expected<archive_written>(const std::string& batch_id, int64_t finished_at)>;

/// The seqs of the batch row's tasks (first_seq, last_seq): what the task, policy, dependency and
/// attempt lines are read by. A batch without tasks gives an empty range.
struct archive_seq_range {
  int64_t first = 0;
  int64_t last = -1;
};
archive_seq_range archived_seqs(const nlohmann::json& batch_row);

/// Writes what `rows` reads to the archive of `batch_id` in `dir`, as archive_batch describes:
/// a temporary file, fsynced, renamed into place, the directory fsynced; a file that exists
/// already is kept (`rows` is not read then).
caf::expected<archive_written> write_archive(const std::string& dir, const std::string& batch_id,
                                             int64_t finished_at, const archive_source& rows);

/// Creates `dir` (and its parents) if needed and checks that files can be created in it.
caf::error prepare_archive_dir(const std::string& dir);

} // namespace fleet
