// doctest's main, with one check more: a run asked for particular test cases (--test-case, as
// every CTest entry is) that ran none fails. doctest alone passes it, so an entry whose name CTest
// cut at a ';' passed without testing anything (seen in store_conformance_test, 2026-12-05).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <string_view>

namespace {

std::atomic<int> cases_started{0};

struct case_counter : doctest::IReporter {
  explicit case_counter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { ++cases_started; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("case_counter", 1, case_counter);

bool names_test_cases(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg.starts_with("--test-case=") || arg.starts_with("-tc=") || arg.starts_with("--dt-test-case=")
        || arg.starts_with("--dt-tc="))
      return true;
  }
  return false;
}

} // namespace

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  int result = context.run();
  if (context.shouldExit())
    return result;
  if (result == 0 && cases_started == 0 && names_test_cases(argc, argv)) {
    std::fprintf(stderr, "no test case matched the --test-case filter: nothing was tested\n");
    return 1;
  }
  return result;
}
