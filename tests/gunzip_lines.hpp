#pragma once

// The lines of a gzip file (an archive of fleet.archive-dir), as a test reads it back.

#include <zlib.h>

#include <string>
#include <vector>

namespace fleet::test {

/// Every line (without its newline); empty if the file cannot be read as gzip.
inline std::vector<std::string> gunzip_lines(const std::string& path) {
  std::vector<std::string> out;
  gzFile in = gzopen(path.c_str(), "rb");
  if (in == nullptr)
    return out;
  std::string line;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(in, buf, sizeof buf)) > 0)
    for (int i = 0; i < n; ++i) {
      if (buf[i] == '\n') {
        out.push_back(std::move(line));
        line.clear();
      } else {
        line += buf[i];
      }
    }
  gzclose(in);
  return out;
}

} // namespace fleet::test
