#include "fleet/end_process.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

namespace fleet {

void end_process(int code) {
  spdlog::shutdown();
  std::fflush(nullptr);
#ifdef __SANITIZE_ADDRESS__
  __lsan_do_leak_check(); // only when detect_leaks is on
#endif
  std::_Exit(code);
}

} // namespace fleet
