#include "fleet/wal_coalescing_vfs.hpp"

#include "fleet/sqlite.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace fleet::sqlite {

namespace {

// SQLite's unix VFS writes at most 128 KiB - 1 bytes a call (it masks the length with 0x1ffff,
// and a write whose masked length is 0 fails with SQLITE_FULL): the gathered writes go out in
// pieces of at most 120 KiB, 29 frames of a 4 KiB page each, and so does any longer write.
constexpr size_t max_gathered = size_t{120} << 10;

std::atomic<size_t> real_writes{0};
std::atomic<size_t> asked_writes{0};

struct shim_file {
  sqlite3_file base; // first: SQLite sees a sqlite3_file
  sqlite3_file* real = nullptr;
  bool is_wal = false;
  shim_file* wal = nullptr; // a database file's WAL, while it is open
  shim_file* db = nullptr;  // a WAL's database file
  sqlite3_int64 start = 0;  // the WAL offset of gathered[0]
  std::vector<char> gathered;
  // A flush that failed where SQLite takes no error (a barrier): the WAL's next call returns it.
  int deferred_error = SQLITE_OK;
};

constexpr size_t shim_size = (sizeof(shim_file) + 7) / 8 * 8;

sqlite3_vfs* real_vfs = nullptr;
sqlite3_vfs shim_vfs;
sqlite3_vfs split_vfs; // the same, without gathering: "fleet-split"
sqlite3_io_methods methods[3]; // by the real file's iVersion - 1

shim_file& shim_of(sqlite3_file* file) {
  return *reinterpret_cast<shim_file*>(file);
}

const sqlite3_io_methods& real_methods(shim_file& f) {
  return *f.real->pMethods;
}

int flush(shim_file& f) {
  if (f.deferred_error != SQLITE_OK)
    return std::exchange(f.deferred_error, SQLITE_OK);
  if (f.gathered.empty())
    return SQLITE_OK;
  ++real_writes;
  auto rc = real_methods(f).xWrite(f.real, f.gathered.data(), static_cast<int>(f.gathered.size()), f.start);
  // Gone either way: a failed write fails its transaction, which SQLite writes again from scratch.
  f.gathered.clear();
  return rc;
}

/// A WAL's gathered bytes go out before `call` reads, syncs, sizes or otherwise relies on the file.
template <class Call>
int after_flush(shim_file& f, Call call) {
  if (f.is_wal)
    if (auto rc = flush(f); rc != SQLITE_OK)
      return rc;
  return call(real_methods(f), f.real);
}

/// Before SQLite touches the shared memory of a database, its WAL holds every byte written.
void flush_wal_of(shim_file& db) {
  if (db.wal == nullptr)
    return;
  if (auto rc = flush(*db.wal); rc != SQLITE_OK)
    db.wal->deferred_error = rc;
}

int x_close(sqlite3_file* file) {
  auto& f = shim_of(file);
  auto rc = f.is_wal ? flush(f) : SQLITE_OK;
  if (f.is_wal && f.db != nullptr)
    f.db->wal = nullptr;
  if (!f.is_wal && f.wal != nullptr)
    f.wal->db = nullptr;
  auto closed = real_methods(f).xClose(f.real);
  f.~shim_file();
  return rc != SQLITE_OK ? rc : closed;
}

int x_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  return after_flush(shim_of(file), [&](auto& m, auto* real) {
    return m.xRead(real, out, amount, offset);
  });
}

/// Writes `amount` bytes in calls of at most max_gathered. SQLite itself writes a page at a time,
/// but a statement journal kept in memory writes a whole chunk of it (as long as
/// SQLITE_CONFIG_STMTJRNL_SPILL) when it moves to a file.
int write_in_pieces(shim_file& f, const void* data, int amount, sqlite3_int64 offset) {
  const auto* bytes = static_cast<const char*>(data);
  while (amount > 0) {
    auto piece = std::min(amount, static_cast<int>(max_gathered));
    if (auto rc = real_methods(f).xWrite(f.real, bytes, piece, offset); rc != SQLITE_OK)
      return rc;
    bytes += piece;
    offset += piece;
    amount -= piece;
  }
  return SQLITE_OK;
}

int x_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  auto& f = shim_of(file);
  if (!f.is_wal)
    return write_in_pieces(f, data, amount, offset);
  ++asked_writes;
  const auto* bytes = static_cast<const char*>(data);
  auto size = static_cast<size_t>(amount);
  auto end = f.start + static_cast<sqlite3_int64>(f.gathered.size());
  // SQLite rewrites a frame of the open transaction in place when it changes that page again.
  if (!f.gathered.empty() && offset >= f.start && offset + amount <= end) {
    std::memcpy(f.gathered.data() + (offset - f.start), bytes, size);
    return SQLITE_OK;
  }
  if (f.gathered.empty() || offset != end || f.gathered.size() + size > max_gathered) {
    if (auto rc = flush(f); rc != SQLITE_OK)
      return rc;
    f.start = offset;
  }
  if (size > max_gathered) {
    ++real_writes;
    return write_in_pieces(f, data, amount, offset);
  }
  f.gathered.insert(f.gathered.end(), bytes, bytes + size);
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  return after_flush(shim_of(file), [&](auto& m, auto* real) {
    return m.xTruncate(real, size);
  });
}

int x_sync(sqlite3_file* file, int flags) {
  return after_flush(shim_of(file), [&](auto& m, auto* real) {
    return m.xSync(real, flags);
  });
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  return after_flush(shim_of(file), [&](auto& m, auto* real) {
    return m.xFileSize(real, size);
  });
}

int x_lock(sqlite3_file* file, int level) {
  auto& f = shim_of(file);
  return real_methods(f).xLock(f.real, level);
}

int x_unlock(sqlite3_file* file, int level) {
  auto& f = shim_of(file);
  return real_methods(f).xUnlock(f.real, level);
}

int x_check_reserved_lock(sqlite3_file* file, int* out) {
  auto& f = shim_of(file);
  return real_methods(f).xCheckReservedLock(f.real, out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  return after_flush(shim_of(file), [&](auto& m, auto* real) {
    return m.xFileControl(real, op, arg);
  });
}

int x_sector_size(sqlite3_file* file) {
  auto& f = shim_of(file);
  return real_methods(f).xSectorSize(f.real);
}

int x_device_characteristics(sqlite3_file* file) {
  auto& f = shim_of(file);
  return real_methods(f).xDeviceCharacteristics(f.real);
}

int x_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  auto& f = shim_of(file);
  return real_methods(f).xShmMap(f.real, region, size, extend, out);
}

int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  auto& f = shim_of(file);
  flush_wal_of(f);
  return real_methods(f).xShmLock(f.real, offset, n, flags);
}

// SQLite writes a commit's wal-index header in two copies with this barrier between them; a reader
// takes the header only once both agree, so every frame is in the file before the second copy.
void x_shm_barrier(sqlite3_file* file) {
  auto& f = shim_of(file);
  flush_wal_of(f);
  real_methods(f).xShmBarrier(f.real);
}

int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  auto& f = shim_of(file);
  flush_wal_of(f);
  return real_methods(f).xShmUnmap(f.real, delete_flag);
}

int x_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  auto& f = shim_of(file);
  return real_methods(f).xFetch(f.real, offset, amount, out);
}

int x_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  auto& f = shim_of(file);
  return real_methods(f).xUnfetch(f.real, offset, page);
}

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  auto* f = new (file) shim_file{};
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + shim_size);
  auto rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
  if (f->real->pMethods == nullptr) {
    f->~shim_file();
    return rc;
  }
  // From here SQLite closes the file through x_close, also after a failed open.
  f->base.pMethods = &methods[f->real->pMethods->iVersion - 1];
  // Through split_writes_vfs no file gathers: its connections need not sync at every commit.
  if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) != 0 && vfs == &shim_vfs) {
    f->is_wal = true;
    auto* db = reinterpret_cast<shim_file*>(sqlite3_database_file_object(name));
    if (db != nullptr) {
      f->db = db;
      db->wal = f;
    }
  }
  return rc;
}

void make_methods() {
  for (int version = 1; version <= 3; ++version) {
    auto& m = methods[version - 1];
    m = sqlite3_io_methods{};
    m.iVersion = version;
    m.xClose = x_close;
    m.xRead = x_read;
    m.xWrite = x_write;
    m.xTruncate = x_truncate;
    m.xSync = x_sync;
    m.xFileSize = x_file_size;
    m.xLock = x_lock;
    m.xUnlock = x_unlock;
    m.xCheckReservedLock = x_check_reserved_lock;
    m.xFileControl = x_file_control;
    m.xSectorSize = x_sector_size;
    m.xDeviceCharacteristics = x_device_characteristics;
    if (version >= 2) {
      m.xShmMap = x_shm_map;
      m.xShmLock = x_shm_lock;
      m.xShmBarrier = x_shm_barrier;
      m.xShmUnmap = x_shm_unmap;
    }
    if (version >= 3) {
      m.xFetch = x_fetch;
      m.xUnfetch = x_unfetch;
    }
  }
}

void make_vfs() {
  configure();
  real_vfs = sqlite3_vfs_find(nullptr);
  make_methods();
  // Everything but opening a file is the real VFS's, called with the real VFS.
  shim_vfs = sqlite3_vfs{};
  shim_vfs.iVersion = 1;
  shim_vfs.szOsFile = static_cast<int>(shim_size) + real_vfs->szOsFile;
  shim_vfs.mxPathname = real_vfs->mxPathname;
  shim_vfs.zName = "fleet-wal";
  shim_vfs.xOpen = x_open;
  shim_vfs.xDelete = [](sqlite3_vfs*, const char* name, int sync) {
    return real_vfs->xDelete(real_vfs, name, sync);
  };
  shim_vfs.xAccess = [](sqlite3_vfs*, const char* name, int flags, int* out) {
    return real_vfs->xAccess(real_vfs, name, flags, out);
  };
  shim_vfs.xFullPathname = [](sqlite3_vfs*, const char* name, int n, char* out) {
    return real_vfs->xFullPathname(real_vfs, name, n, out);
  };
  shim_vfs.xDlOpen = [](sqlite3_vfs*, const char* name) { return real_vfs->xDlOpen(real_vfs, name); };
  shim_vfs.xDlError = [](sqlite3_vfs*, int n, char* out) { real_vfs->xDlError(real_vfs, n, out); };
  shim_vfs.xDlSym = [](sqlite3_vfs*, void* handle, const char* symbol) {
    return real_vfs->xDlSym(real_vfs, handle, symbol);
  };
  shim_vfs.xDlClose = [](sqlite3_vfs*, void* handle) { real_vfs->xDlClose(real_vfs, handle); };
  shim_vfs.xRandomness = [](sqlite3_vfs*, int n, char* out) { return real_vfs->xRandomness(real_vfs, n, out); };
  shim_vfs.xSleep = [](sqlite3_vfs*, int us) { return real_vfs->xSleep(real_vfs, us); };
  shim_vfs.xCurrentTime = [](sqlite3_vfs*, double* out) { return real_vfs->xCurrentTime(real_vfs, out); };
  shim_vfs.xGetLastError = [](sqlite3_vfs*, int n, char* out) { return real_vfs->xGetLastError(real_vfs, n, out); };
  if (real_vfs->iVersion >= 2 && real_vfs->xCurrentTimeInt64 != nullptr) {
    shim_vfs.iVersion = 2;
    shim_vfs.xCurrentTimeInt64 = [](sqlite3_vfs*, sqlite3_int64* out) {
      return real_vfs->xCurrentTimeInt64(real_vfs, out);
    };
  }
  sqlite3_vfs_register(&shim_vfs, 0);
  split_vfs = shim_vfs;
  split_vfs.zName = "fleet-split";
  // The default from here on: SQLITE_CONFIG_STMTJRNL_SPILL is the whole process's, so a program
  // that embeds fleetd and opens SQLite itself is covered too.
  sqlite3_vfs_register(&split_vfs, 1);
}

std::once_flag registered;

} // namespace

const char* wal_coalescing_vfs() {
  std::call_once(registered, make_vfs);
  return shim_vfs.zName;
}

const char* split_writes_vfs() {
  std::call_once(registered, make_vfs);
  return split_vfs.zName;
}

wal_write_counts wal_coalescing_counts() {
  return {real_writes.load(), asked_writes.load()};
}

} // namespace fleet::sqlite
