// libFuzzer target: configuration assignments as typed at `fleetctl config set NAME=VALUE` and
// carried by update_config, applied to the defaults: whatever apply() accepts must be valid.

#include "fleetd/fleet_config.hpp"
#include "fleet/parse_number.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  fleet::parse_integer(text);
  fleet::parse_real(text);
  fleet::config_update update;
  // Several assignments, separated by newlines, as one `config set` with several arguments.
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    fleet::set_field_from_text(update, text.substr(start, end - start));
    start = end + 1;
  }
  auto applied = fleet::apply(fleet::fleet_config{}, update);
  if (applied && fleet::validate(*applied))
    std::abort();
  for (const auto& [field, value] : fleet::set_fields(update))
    (void) fleet::to_string(value);
  return 0;
}
