#include "fleet/wal_checkpointer.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <utility>

namespace fleet::sqlite {

caf::expected<std::unique_ptr<wal_checkpointer>> wal_checkpointer::start(database& writer, const std::string& path,
                                                                         const std::string& synchronous,
                                                                         int wake_frames, int inline_frames) {
  auto own = database::open(path, false);
  if (!own)
    return own.error();
  // The sync of the copy: with `off`, a frame could leave the WAL before the file holds it durably.
  if (auto err = own->exec(fmt::format("PRAGMA synchronous = {}", synchronous)))
    return err;
  return std::unique_ptr<wal_checkpointer>{
    new wal_checkpointer(writer, std::move(*own), wake_frames, inline_frames)};
}

wal_checkpointer::wal_checkpointer(database& writer, database own, int wake_frames, int inline_frames)
  : writer_(writer), own_(std::move(own)), wake_frames_(wake_frames), inline_frames_(inline_frames),
    thread_([this] { loop(); }) {
  // Replaces the automatic checkpoint (which is itself a WAL hook).
  sqlite3_wal_hook(writer_.handle(), &wal_checkpointer::on_commit, this);
}

wal_checkpointer::~wal_checkpointer() {
  sqlite3_wal_autocheckpoint(writer_.handle(), 1000);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  wanted_.notify_one();
  thread_.join();
}

int wal_checkpointer::on_commit(void* self, sqlite3* db, const char* schema, int frames) {
  auto& me = *static_cast<wal_checkpointer*>(self);
  if (frames >= me.inline_frames_) {
    // What the automatic checkpoint does, from the same place; its error is not the commit's.
    auto rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    std::lock_guard<std::mutex> guard{me.mtx_};
    ++(rc == SQLITE_OK ? me.counts_.by_writer : me.counts_.failed);
    return SQLITE_OK;
  }
  if (frames >= me.wake_frames_) {
    {
      std::lock_guard<std::mutex> guard{me.mtx_};
      if (me.wake_)
        return SQLITE_OK;
      me.wake_ = true;
    }
    me.wanted_.notify_one();
  }
  return SQLITE_OK;
}

void wal_checkpointer::loop() {
  pthread_setname_np(pthread_self(), "fleet.ckpt"); // at most 15 characters
  // Copies run in the time the manager and the writer leave: replies and commits do not wait for
  // a core behind them. Should the thread fall behind, the writer copies at inline_frames.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
  std::unique_lock<std::mutex> lock{mtx_};
  for (;;) {
    wanted_.wait(lock, [this] { return stopping_ || wake_; });
    if (stopping_)
      return;
    wake_ = false;
    auto serving = requests_;
    lock.unlock();
    auto rc = sqlite3_wal_checkpoint_v2(own_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    std::string failure;
    if (rc != SQLITE_OK)
      failure = sqlite3_errmsg(own_.handle());
    lock.lock();
    if (rc == SQLITE_OK) {
      ++counts_.on_thread;
    } else if (++counts_.failed == 1 || counts_.failed % 1000 == 0) {
      // The WAL then grows until the writer checkpoints itself, which reports through its commits.
      spdlog::warn("a checkpoint of the WAL failed ({} so far): {}", counts_.failed, failure);
    }
    served_ = serving;
    finished_.notify_all();
  }
}

wal_checkpointer::counts wal_checkpointer::done() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return counts_;
}

void wal_checkpointer::checkpoint_now() {
  std::unique_lock<std::mutex> lock{mtx_};
  auto request = ++requests_;
  wake_ = true;
  wanted_.notify_one();
  // Not one already under way: one that began after this request.
  finished_.wait(lock, [&] { return served_ >= request; });
}

} // namespace fleet::sqlite
