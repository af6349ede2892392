// libFuzzer target: a staged upload part's body as the seal reads it from the database file, which
// may be damaged.

#include "fleet/upload_part.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body{reinterpret_cast<const char*>(data), size};
  std::vector<fleet::task> tasks;
  fleet::upload_part_reader reader{body};
  fleet::staged_task t;
  while (reader.next(t)) {
    if (t.id.data() < body.data() || t.data.data() + t.data.size() > body.data() + body.size())
      std::abort(); // every view stays inside the body
    tasks.push_back({std::string{t.id}, std::string{t.type}, std::string{t.data}, t.priority});
  }
  // A body read to its end is the encoding of what it held, byte for byte.
  if (!reader.damaged() && !tasks.empty() && fleet::encode_upload_chunk(tasks, SIZE_MAX).at(0).body != body)
    std::abort();
  return 0;
}
