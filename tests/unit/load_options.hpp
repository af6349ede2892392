// Loads a program's configuration (daemon_config, node_config) from command-line arguments only,
// as its main() would.

#pragma once

#include <caf/error.hpp>

#include <string>
#include <vector>

namespace fleet::test {

template <class Config>
caf::error load_from_args(Config& cfg, std::string program, std::vector<std::string> args) {
  args.insert(args.begin(), std::move(program));
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  return cfg.load_options(static_cast<int>(argv.size()), argv.data());
}

} // namespace fleet::test
