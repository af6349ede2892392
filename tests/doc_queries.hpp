#pragma once

// The SQL of the documentation pages, as the tests run it: a page's queries stay true.

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

namespace fleet::test {

/// The ```sql blocks of docs/`page`, in order, with BATCH_ID and TASK_ID put in.
inline std::vector<std::string> audit_page_queries(const std::string& page, const std::string& batch_id,
                                                   const std::string& task_id) {
  std::ifstream in{std::string{FLEET_SOURCE_DIR} + "/docs/" + page};
  REQUIRE(in);
  std::string doc{std::istreambuf_iterator<char>{in}, {}};
  static const std::regex block{"```sql\n([^`]*)```"};
  std::vector<std::string> out;
  for (std::sregex_iterator i{doc.begin(), doc.end(), block}, end; i != end; ++i) {
    auto sql = std::regex_replace((*i)[1].str(), std::regex{"BATCH_ID"}, batch_id);
    out.push_back(std::regex_replace(sql, std::regex{"TASK_ID"}, task_id));
  }
  return out;
}

} // namespace fleet::test
