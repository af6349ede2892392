#include "fleet/fd_limit.hpp"

#include <sys/resource.h>

namespace fleet {

descriptor_limit raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return {};
  descriptor_limit out{lim.rlim_cur, lim.rlim_cur};
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) == 0)
      out.now = lim.rlim_max;
  }
  return out;
}

} // namespace fleet
