#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace fleet {

/// `value` in lower-case base 36.
std::string base36(uint64_t value);

/// A batch id in the seed's form: `batch-<base36 ms time>-<8 random base36 digits>`.
std::string make_batch_id(int64_t now_ms, std::mt19937_64& rng);

/// A worker id, unique across restarts: `worker-<base36 ms time at start-up>-<sequence>`.
std::string make_worker_id(int64_t epoch_ms, uint64_t sequence);

} // namespace fleet
