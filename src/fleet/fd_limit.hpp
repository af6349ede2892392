#pragma once

#include <cstdint>

namespace fleet {

/// The process's descriptor limits after raising the soft one to the hard one (a service started
/// with the common 1024 runs out after a thousand connections). `before` is the soft limit found.
struct descriptor_limit {
  uint64_t before = 0;
  uint64_t now = 0;
};

descriptor_limit raise_descriptor_limit();

} // namespace fleet
