#include "fleetd/error.hpp"

#include <caf/message.hpp>

namespace fleet {

std::string to_string(errc x) {
  switch (x) {
    case errc::none: return "none";
    case errc::invalid_batch: return "invalid_batch";
    case errc::invalid_task: return "invalid_task";
    case errc::duplicate_task_id: return "duplicate_task_id";
    case errc::unknown_task_type: return "unknown_task_type";
    case errc::oversize_data: return "oversize_data";
    case errc::unknown_batch: return "unknown_batch";
    case errc::invalid_config: return "invalid_config";
    case errc::database_error: return "database_error";
    case errc::schema_too_new: return "schema_too_new";
    case errc::not_a_fleet_db: return "not_a_fleet_db";
    case errc::worker_failed: return "worker_failed";
    case errc::shutting_down: return "shutting_down";
    case errc::unreachable: return "unreachable";
    case errc::limit_exceeded: return "limit_exceeded";
    case errc::storage_unavailable: return "storage_unavailable";
    case errc::invalid_node: return "invalid_node";
    case errc::node_name_taken: return "node_name_taken";
    case errc::internal_error: return "internal_error";
    case errc::database_damaged: return "database_damaged";
    case errc::invalid_argument: return "invalid_argument";
    case errc::not_permitted: return "not_permitted";
    case errc::unknown_upload: return "unknown_upload";
    case errc::already_running: return "already_running";
    case errc::incompatible_version: return "incompatible_version";
    case errc::unknown_schedule: return "unknown_schedule";
    case errc::schedule_exists: return "schedule_exists";
    case errc::not_leader: return "not_leader";
  }
  return "unknown_error";
}

namespace {

std::string context_text(const caf::message& context) {
  if (context.size() == 1 && context.match_element<std::string>(0))
    return context.get_as<std::string>(0);
  return context.empty() ? std::string{} : to_string(context);
}

} // namespace

int http_status(errc x) {
  switch (x) {
    case errc::unknown_batch:
    case errc::unknown_upload:
    case errc::unknown_schedule: return 404;
    case errc::schedule_exists: return 409;
    case errc::invalid_batch:
    case errc::invalid_task:
    case errc::duplicate_task_id:
    case errc::unknown_task_type:
    case errc::oversize_data:
    case errc::invalid_argument:
    case errc::invalid_config:
    case errc::incompatible_version: return 400;
    case errc::not_permitted: return 403;
    case errc::limit_exceeded: return 429;
    default: return 503;
  }
}

std::string error_text(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == error_category) {
    auto text = context_text(err.context());
    return text.empty() ? to_string(static_cast<errc>(err.code())) : text;
  }
  return to_string(err);
}

std::string exception_text(std::exception_ptr what) {
  try {
    std::rethrow_exception(what);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "something that is not a std::exception";
  }
}

std::string render_error(uint8_t code, caf::atom_value, const caf::message& context) {
  auto text = context_text(context);
  auto name = to_string(static_cast<errc>(code));
  return text.empty() ? name : name + ": " + text;
}

} // namespace fleet
