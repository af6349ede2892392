// libFuzzer target: a staged upload part's body as the seal reads it from the database file, which
// may be damaged, in any format (FUP3, FUP2 from before task policies, FUP1 from before delayed tasks).

#include "fleet/upload_part.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

std::vector<fleet::task> read_all(std::string_view body, bool& damaged) {
  std::vector<fleet::task> tasks;
  fleet::upload_part_reader reader{body};
  fleet::staged_task t;
  while (reader.next(t)) {
    if (t.id.data() < body.data() || t.data.data() + t.data.size() > body.data() + body.size())
      std::abort(); // every view stays inside the body
    tasks.push_back(
      {std::string{t.id}, std::string{t.type}, std::string{t.data}, t.priority, t.run_at, t.delay_ms, t.policy});
    if (!t.after_json.empty())
      tasks.back().after = nlohmann::json::parse(t.after_json).get<std::vector<std::string>>();
    tasks.back().queue = std::string{t.queue};
    tasks.back().group = std::string{t.group};
  }
  damaged = reader.damaged();
  return tasks;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body{reinterpret_cast<const char*>(data), size};
  bool damaged = false;
  auto tasks = read_all(body, damaged);
  if (damaged || tasks.empty())
    return 0;
  // A body read to its end is the encoding of what it held: byte for byte in the current format,
  // and task for task from the old ones.
  auto again = fleet::encode_upload_chunk(tasks, SIZE_MAX).at(0).body;
  if (body.substr(0, 4) == "FUP3" && again != body)
    std::abort();
  bool damaged_again = false;
  if (read_all(again, damaged_again) != tasks || damaged_again)
    std::abort();
  return 0;
}
