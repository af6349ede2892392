#include "fleetd/task.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deserializer.hpp>
#include <caf/serializer.hpp>

#include <algorithm>

namespace fleet {

namespace {

/// The fewest bytes a task takes in CAF's binary format (every string empty).
size_t smallest_task_bytes() {
  static const size_t bytes = [] {
    std::vector<char> buf;
    caf::binary_serializer sink{nullptr, buf};
    task empty{};
    empty.data.clear();
    static_cast<void>(sink(empty));
    return std::max<size_t>(buf.size(), 1);
  }();
  return bytes;
}

} // namespace

caf::error save_tasks(caf::serializer& sink, std::vector<task>& xs) {
  auto n = xs.size();
  if (auto err = sink.begin_sequence(n))
    return err;
  for (auto& x : xs)
    if (auto err = sink(x))
      return err;
  return sink.end_sequence();
}

caf::error load_tasks(caf::deserializer& source, std::vector<task>& xs) {
  size_t n = 0;
  if (auto err = source.begin_sequence(n))
    return err;
  xs.clear();
  // Other deserializers than CAF's binary one (none here today) grow the vector as CAF would.
  if (auto* binary = dynamic_cast<caf::binary_deserializer*>(&source))
    xs.reserve(std::min(n, binary->remaining() / smallest_task_bytes()));
  for (size_t i = 0; i < n; ++i) {
    xs.emplace_back();
    if (auto err = source(xs.back()))
      return err;
  }
  return source.end_sequence();
}

} // namespace fleet
