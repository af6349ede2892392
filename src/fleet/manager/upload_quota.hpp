#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

namespace fleet {

/// The uploads (batches sent in chunks) each peer has open, so that one client cannot hold more
/// than its share: at most `per_peer` at once per `Peer` (the manager: a CAF node). An upload
/// counts from its open until it is sealed or discarded, or until it went `idle_ms` without a
/// chunk (a client that died mid-upload frees its place; the upload itself stays until its expiry
/// and can still be finished). Knows nothing of actors or storage.
template <class Peer>
class upload_quota {
public:
  enum class verdict { opened, peer_full, fleet_full };

  upload_quota(size_t per_peer, size_t in_all, int64_t idle_ms)
    : per_peer_(per_peer), in_all_(in_all), idle_ms_(idle_ms) {
  }

  /// Opens `id` for `peer` at `now`, unless `peer` holds its share of active uploads or all
  /// peers together hold `in_all`.
  verdict open(const std::string& id, const Peer& peer, int64_t now) {
    if (active(peer, now) >= per_peer_)
      return verdict::peer_full;
    if (uploads_.size() >= in_all_) {
      std::erase_if(uploads_, [&](const auto& kv) { return now - kv.second.last_used > idle_ms_; });
      if (uploads_.size() >= in_all_)
        return verdict::fleet_full;
    }
    uploads_[id] = entry{peer, now};
    return verdict::opened;
  }

  /// A chunk arrived for `id`: it is active again (if this run opened it).
  void touch(const std::string& id, int64_t now) {
    if (auto i = uploads_.find(id); i != uploads_.end())
      i->second.last_used = now;
  }

  /// `id` was sealed or discarded.
  void close(const std::string& id) { uploads_.erase(id); }

  /// The uploads of `peer` used within idle_ms of `now`; forgets the others of that peer.
  size_t active(const Peer& peer, int64_t now) {
    size_t n = 0;
    for (auto i = uploads_.begin(); i != uploads_.end();) {
      if (!(i->second.peer == peer)) {
        ++i;
      } else if (now - i->second.last_used > idle_ms_) {
        i = uploads_.erase(i);
      } else {
        ++n;
        ++i;
      }
    }
    return n;
  }

  /// The clock moved by `by_ms`: each upload stays as idle as it was.
  void shift_clock(int64_t by_ms) {
    for (auto& [id, e] : uploads_)
      e.last_used += by_ms;
  }

  size_t per_peer() const { return per_peer_; }
  size_t in_all() const { return in_all_; }
  int64_t idle_ms() const { return idle_ms_; }
  size_t tracked() const { return uploads_.size(); }

private:
  struct entry {
    Peer peer;
    int64_t last_used = 0;
  };
  size_t per_peer_;
  size_t in_all_;
  int64_t idle_ms_;
  std::unordered_map<std::string, entry> uploads_;
};

} // namespace fleet
