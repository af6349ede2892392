#include "power_cut_vfs.hpp"

#include <sqlite3.h>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace fleet::test {

namespace {

/// A write (`data` at `offset`) or, when `truncate`, a truncation to `offset` bytes.
struct pending_change {
  int64_t offset = 0;
  std::string data;
  bool truncate = false;
};

/// What the shim knows of one file: its content at the last sync and the changes since.
struct file_state {
  std::string synced;
  std::vector<pending_change> pending;
  bool deleted = false;
};

void apply_change(std::string& content, const pending_change& change) {
  auto offset = static_cast<size_t>(change.offset);
  if (change.truncate) {
    content.resize(offset);
    return;
  }
  if (content.size() < offset + change.data.size())
    content.resize(offset + change.data.size(), '\0');
  std::memcpy(content.data() + offset, change.data.data(), change.data.size());
}

struct shim_state {
  std::mutex mtx;
  std::map<std::string, file_state> files;
  sqlite3_vfs* real = nullptr;
  uint64_t die_after = 0;
  uint64_t mutations = 0;
  bool dead = false;
  power_cut_figures figures;

  /// Counts one write, sync or truncation; false if the device is (now) dead.
  bool mutation_allowed() {
    if (dead)
      return false;
    if (die_after != 0 && ++mutations >= die_after) {
      dead = true;
      return false;
    }
    return true;
  }
};

shim_state& state() {
  static shim_state s;
  return s;
}

/// The shim's file: our header, then the real VFS's file.
struct shim_file {
  sqlite3_file base;
  file_state* tracked; // null for files without a name (temporary files)
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

shim_file* shim(sqlite3_file* f) {
  return reinterpret_cast<shim_file*>(f);
}

int x_close(sqlite3_file* f) {
  auto real = shim(f)->real();
  return real->pMethods != nullptr ? real->pMethods->xClose(real) : SQLITE_OK;
}

int x_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  {
    std::lock_guard guard{state().mtx};
    if (state().dead && shim(f)->tracked != nullptr)
      return SQLITE_IOERR_READ;
  }
  auto real = shim(f)->real();
  return real->pMethods->xRead(real, buf, amount, offset);
}

int x_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  auto file = shim(f);
  if (file->tracked != nullptr) {
    std::lock_guard guard{state().mtx};
    if (!state().mutation_allowed())
      return SQLITE_IOERR_WRITE;
    auto real = file->real();
    auto rc = real->pMethods->xWrite(real, buf, amount, offset);
    if (rc == SQLITE_OK) {
      file->tracked->pending.push_back({offset, std::string(static_cast<const char*>(buf), amount), false});
      ++state().figures.writes;
    }
    return rc;
  }
  auto real = file->real();
  return real->pMethods->xWrite(real, buf, amount, offset);
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  auto file = shim(f);
  if (file->tracked != nullptr) {
    std::lock_guard guard{state().mtx};
    if (!state().mutation_allowed())
      return SQLITE_IOERR_TRUNCATE;
    auto real = file->real();
    auto rc = real->pMethods->xTruncate(real, size);
    if (rc == SQLITE_OK)
      file->tracked->pending.push_back({size, {}, true});
    return rc;
  }
  auto real = file->real();
  return real->pMethods->xTruncate(real, size);
}

int x_sync(sqlite3_file* f, int flags) {
  auto file = shim(f);
  if (file->tracked != nullptr) {
    std::lock_guard guard{state().mtx};
    if (!state().mutation_allowed())
      return SQLITE_IOERR_FSYNC;
    auto real = file->real();
    auto rc = real->pMethods->xSync(real, flags);
    if (rc == SQLITE_OK) {
      for (const auto& change : file->tracked->pending)
        apply_change(file->tracked->synced, change);
      file->tracked->pending.clear();
      ++state().figures.syncs;
    }
    return rc;
  }
  auto real = file->real();
  return real->pMethods->xSync(real, flags);
}

int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  auto real = shim(f)->real();
  return real->pMethods->xFileSize(real, size);
}

int x_lock(sqlite3_file* f, int level) {
  auto real = shim(f)->real();
  return real->pMethods->xLock(real, level);
}

int x_unlock(sqlite3_file* f, int level) {
  auto real = shim(f)->real();
  return real->pMethods->xUnlock(real, level);
}

int x_check_reserved_lock(sqlite3_file* f, int* out) {
  auto real = shim(f)->real();
  return real->pMethods->xCheckReservedLock(real, out);
}

int x_file_control(sqlite3_file* f, int op, void* arg) {
  auto real = shim(f)->real();
  return real->pMethods->xFileControl(real, op, arg);
}

int x_sector_size(sqlite3_file* f) {
  auto real = shim(f)->real();
  return real->pMethods->xSectorSize(real);
}

int x_device_characteristics(sqlite3_file* f) {
  auto real = shim(f)->real();
  return real->pMethods->xDeviceCharacteristics(real);
}

int x_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  auto real = shim(f)->real();
  return real->pMethods->xShmMap(real, page, size, extend, out);
}

int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  auto real = shim(f)->real();
  return real->pMethods->xShmLock(real, offset, n, flags);
}

void x_shm_barrier(sqlite3_file* f) {
  auto real = shim(f)->real();
  real->pMethods->xShmBarrier(real);
}

int x_shm_unmap(sqlite3_file* f, int delete_flag) {
  auto real = shim(f)->real();
  return real->pMethods->xShmUnmap(real, delete_flag);
}

// Version 2: shared memory for WAL, no memory-mapped I/O (every write goes through xWrite).
const sqlite3_io_methods shim_methods = {
  2,           x_close,       x_read,       x_write,   x_truncate,          x_sync,
  x_file_size, x_lock,        x_unlock,     x_check_reserved_lock,          x_file_control,
  x_sector_size,              x_device_characteristics, x_shm_map,          x_shm_lock,
  x_shm_barrier,              x_shm_unmap,  nullptr,   nullptr,
};

std::string read_whole(sqlite3_file* real) {
  sqlite3_int64 size = 0;
  if (real->pMethods->xFileSize(real, &size) != SQLITE_OK || size <= 0)
    return {};
  std::string content(static_cast<size_t>(size), '\0');
  if (real->pMethods->xRead(real, content.data(), static_cast<int>(size), 0) != SQLITE_OK)
    content.clear();
  return content;
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto& s = state();
  auto file = shim(f);
  file->tracked = nullptr;
  file->base.pMethods = nullptr;
  auto rc = s.real->xOpen(s.real, name, file->real(), flags, out_flags);
  if (rc != SQLITE_OK)
    return rc;
  file->base.pMethods = &shim_methods;
  if (name != nullptr) {
    std::lock_guard guard{s.mtx};
    auto [it, fresh] = s.files.try_emplace(name);
    if (fresh || it->second.deleted) {
      // First met in this life: what is on disk now is what the disk holds.
      it->second = file_state{};
      it->second.synced = read_whole(file->real());
    }
    file->tracked = &it->second;
  }
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  auto& s = state();
  std::lock_guard guard{s.mtx};
  if (s.dead)
    return SQLITE_IOERR_DELETE;
  auto rc = s.real->xDelete(s.real, name, sync_dir);
  if (rc == SQLITE_OK)
    if (auto it = s.files.find(name); it != s.files.end()) {
      it->second.deleted = true;
      it->second.synced.clear();
      it->second.pending.clear();
    }
  return rc;
}

int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return state().real->xAccess(state().real, name, flags, out);
}

int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return state().real->xFullPathname(state().real, name, n, out);
}

void* x_dl_open(sqlite3_vfs*, const char* name) {
  return state().real->xDlOpen(state().real, name);
}

void x_dl_error(sqlite3_vfs*, int n, char* out) {
  state().real->xDlError(state().real, n, out);
}

void (*x_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return state().real->xDlSym(state().real, handle, symbol);
}

void x_dl_close(sqlite3_vfs*, void* handle) {
  state().real->xDlClose(state().real, handle);
}

int x_randomness(sqlite3_vfs*, int n, char* out) {
  return state().real->xRandomness(state().real, n, out);
}

int x_sleep(sqlite3_vfs*, int micros) {
  return state().real->xSleep(state().real, micros);
}

int x_current_time(sqlite3_vfs*, double* out) {
  return state().real->xCurrentTime(state().real, out);
}

int x_get_last_error(sqlite3_vfs*, int n, char* out) {
  return state().real->xGetLastError(state().real, n, out);
}

int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return state().real->xCurrentTimeInt64(state().real, out);
}

void write_file_fully(const std::string& path, const std::string& content) {
  auto fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE_MESSAGE(fd >= 0, "power cut: cannot rewrite " << path);
  size_t done = 0;
  while (done < content.size()) {
    auto n = ::write(fd, content.data() + done, content.size() - done);
    REQUIRE_MESSAGE(n > 0, "power cut: cannot rewrite " << path);
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

} // namespace

power_cut_vfs& power_cut_vfs::install() {
  static power_cut_vfs instance;
  static sqlite3_vfs vfs = [] {
    auto& s = state();
    s.real = sqlite3_vfs_find(nullptr);
    REQUIRE(s.real != nullptr);
    sqlite3_vfs v{};
    v.iVersion = 2;
    v.szOsFile = static_cast<int>(sizeof(shim_file)) + s.real->szOsFile;
    v.mxPathname = s.real->mxPathname;
    v.zName = "power-cut";
    v.xOpen = x_open;
    v.xDelete = x_delete;
    v.xAccess = x_access;
    v.xFullPathname = x_full_pathname;
    v.xDlOpen = x_dl_open;
    v.xDlError = x_dl_error;
    v.xDlSym = x_dl_sym;
    v.xDlClose = x_dl_close;
    v.xRandomness = x_randomness;
    v.xSleep = x_sleep;
    v.xCurrentTime = x_current_time;
    v.xGetLastError = x_get_last_error;
    v.xCurrentTimeInt64 = x_current_time_int64;
    return v;
  }();
  static bool registered = [] {
    REQUIRE(sqlite3_vfs_register(&vfs, 1) == SQLITE_OK);
    return true;
  }();
  (void) registered;
  return instance;
}

void power_cut_vfs::power_on() {
  auto& s = state();
  std::lock_guard guard{s.mtx};
  s.files.clear();
  s.die_after = 0;
  s.mutations = 0;
  s.dead = false;
  s.figures = {};
}

void power_cut_vfs::die_after(uint64_t n) {
  auto& s = state();
  std::lock_guard guard{s.mtx};
  s.die_after = n;
  s.mutations = 0;
}

void power_cut_vfs::cut() {
  std::lock_guard guard{state().mtx};
  state().dead = true;
}

bool power_cut_vfs::dead() const {
  std::lock_guard guard{state().mtx};
  return state().dead;
}

power_cut_figures power_cut_vfs::restore(power_cut_mode mode, std::mt19937& rng) {
  auto& s = state();
  std::lock_guard guard{s.mtx};
  s.dead = true;
  auto figures = s.figures;
  for (auto& [path, file] : s.files) {
    if (file.deleted) {
      ::unlink(path.c_str());
      continue;
    }
    auto content = file.synced;
    size_t kept = 0;
    if (mode == power_cut_mode::torn && !file.pending.empty()) {
      kept = std::uniform_int_distribution<size_t>{0, file.pending.size()}(rng);
      for (size_t i = 0; i < kept; ++i)
        apply_change(content, file.pending[i]);
      // The next write, if any, reached the platter only in part: whole 512-byte sectors.
      if (kept < file.pending.size() && !file.pending[kept].truncate) {
        auto partial = file.pending[kept];
        auto sectors = partial.data.size() / 512;
        auto keep_sectors = std::uniform_int_distribution<size_t>{0, sectors}(rng);
        partial.data.resize(std::min(partial.data.size(), keep_sectors * 512));
        if (!partial.data.empty())
          apply_change(content, partial);
      }
    }
    figures.writes_lost += file.pending.size() - kept;
    write_file_fully(path, content);
    ++figures.files_restored;
  }
  // Power is back: the next life starts from these files.
  s.files.clear();
  s.die_after = 0;
  s.mutations = 0;
  s.dead = false;
  s.figures = {};
  return figures;
}

} // namespace fleet::test
