#pragma once

// A test-only SQLite VFS that simulates a power cut, the way SQLite tests itself ("How SQLite Is
// Tested", section 3.2 "Crash testing": a modified VFS records the writes since the last sync and
// a simulated crash drops or damages them). kill -9 keeps everything the process gave the kernel;
// a power cut keeps only what was synced. This shim passes every call on to the default VFS and
// remembers, per file, the content as of its last xSync and the writes and truncations since. The
// device "dies" after a chosen number of writes, syncs and truncations (or at `cut()`): from then
// on every I/O fails, as for a process whose machine stopped. After the connections are closed,
// `restore` puts each file back to what the disk held: the synced content, and in torn mode a
// random prefix of the later writes, the last one possibly cut at a sector boundary.
//
// Simplifications, on the safe side for the claims the tests make: creating and deleting a file
// counts as durable at once (SQLite syncs the directory where that matters), and the -shm file
// (memory, rebuilt from the WAL when stale) is not modelled.

#include <cstdint>
#include <random>

namespace fleet::test {

enum class power_cut_mode {
  drop_unsynced, ///< every write after the last sync is gone
  torn,          ///< a random prefix of them stays, the last one possibly cut short
};

struct power_cut_figures {
  uint64_t writes = 0;         ///< xWrite calls that reached the disk in this life
  uint64_t syncs = 0;          ///< xSync calls in this life
  uint64_t writes_lost = 0;    ///< writes the cut dropped (or tore)
  uint64_t files_restored = 0; ///< files rewritten by `restore`
};

class power_cut_vfs {
public:
  /// Registers the shim as SQLite's default VFS for this process (once) and returns it.
  static power_cut_vfs& install();

  /// A new life: the device works and nothing is pending.
  void power_on();

  /// The device dies at the `n`-th write, sync or truncation from now (0: it does not).
  void die_after(uint64_t n);

  /// The power fails now.
  void cut();

  /// Whether the power has failed in this life.
  bool dead() const;

  /// Call with every connection closed: rewrites each file as the disk holds it after the cut,
  /// and powers the device on again (as `power_on`).
  power_cut_figures restore(power_cut_mode mode, std::mt19937& rng);
};

} // namespace fleet::test
