#pragma once

#include <cstddef>

/// A SQLite VFS over the default one that gathers a transaction's writes to the WAL file into few
/// `pwrite` calls. SQLite writes each WAL frame as two calls (its 24-byte header, then the page):
/// 3.4-3.7 us a frame on this VM, against 0.25 us when a commit's frames go out in one call
/// (docs/BENCHMARKS.md, 2026-12-06 16:45).
///
/// The gathered bytes reach the file before anything can read them or rely on them: before the
/// WAL is synced, read, truncated, sized or closed, before a write elsewhere in it, and before the
/// database's shared-memory barrier and locks (SQLite publishes a commit to other connections
/// through the wal-index, behind a barrier, after writing its frames). Only connections with
/// `synchronous=FULL` may use it: they sync the WAL at every commit, so a failed write shows as a
/// failed commit, as without the buffer.
namespace fleet::sqlite {

/// The registered name of the VFS ("fleet-wal"), registered at the first call. Not the default VFS:
/// a connection asks for it by name.
const char* wal_coalescing_vfs();

/// The same VFS without the gathering ("fleet-split"), for every other connection: both write what
/// SQLite asks in calls of at most 120 KiB, since SQLite's unix VFS fails a longer one (a statement
/// journal moving to a file writes one chunk of SQLITE_CONFIG_STMTJRNL_SPILL bytes).
/// sqlite::database::open uses it where no VFS is named, and it is the process's default VFS once
/// either is registered, so that connections a program opens itself (fleetd as a library) are
/// covered too.
const char* split_writes_vfs();

/// What the VFS has done since the process started (for tests): calls to the real WAL file's
/// `xWrite`, and writes that SQLite asked of the WAL.
struct wal_write_counts {
  size_t real_writes = 0;
  size_t asked_writes = 0;
};
wal_write_counts wal_coalescing_counts();

} // namespace fleet::sqlite
