#pragma once

#include <caf/make_message.hpp> // must precede CAF_ERROR_CODE_ENUM
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include <cstdint>
#include <exception>
#include <string>

namespace fleet {

/// Everything that can go wrong in fleetd, as seen by a caller.
enum class errc : uint8_t {
  none = 0,
  invalid_batch,       ///< The batch as a whole is unacceptable (e.g. empty).
  invalid_task,        ///< A task is malformed (empty id or type, bad JSON data, bad fields for its type).
  duplicate_task_id,   ///< Two tasks of one batch share an id.
  unknown_task_type,   ///< No worker implementation is registered for a task type.
  oversize_data,       ///< A task's data exceeds the size limit.
  unknown_batch,       ///< No batch has the given id.
  invalid_config,      ///< A configuration value is out of range.
  database_error,      ///< SQLite reported an error.
  schema_too_new,      ///< The database was written by a newer fleetd.
  not_a_fleet_db,      ///< The file is not a fleetd database.
  worker_failed,       ///< A worker could not run its task.
  shutting_down,       ///< The fleet no longer takes work.
  unreachable,         ///< A client cannot reach fleetd, or fleetd did not answer in time.
  limit_exceeded,      ///< A configured limit (e.g. fleet.max-pending-batches) refuses the request.
  storage_unavailable, ///< The database cannot take writes (disk full, read-only, I/O error).
  invalid_node,        ///< A fleet-node's announcement is unacceptable, or the node is unknown.
  node_name_taken,     ///< Another fleet-node process is joined under that name.
  internal_error,      ///< fleetd caught an exception while handling the request (logged); it goes on.
  database_damaged,    ///< The database file is damaged (SQLite: malformed); fleetd writes nothing more into it.
  invalid_argument,    ///< A request's argument is out of range (a page size, a subscriber that is no actor).
  not_permitted,       ///< The caller may not send this request (an internal message from another node).
  unknown_upload,      ///< No upload has the given id (never opened, sealed, discarded or expired).
  already_running,     ///< Another fleetd holds the database.
  incompatible_version, ///< A client or node of another protocol version than fleetd's.
  unknown_schedule,    ///< No schedule has the given name.
  schedule_exists,     ///< A schedule of that name exists already.
  not_leader,          ///< This fleetd is not (or no longer) the active manager of its PostgreSQL database.
};

/// The category under which fleetd errors travel between CAF nodes.
inline constexpr caf::atom_value error_category = caf::atom("fleet");

std::string to_string(errc x);

/// The last code, for tables over every code.
inline constexpr errc last_errc = errc::not_leader;

/// The HTTP status that answers a request refused with `x`: 400 bad input, 403 not permitted,
/// 404 unknown id, 409 a name taken, 429 a limit, 503 for everything that is fleetd's or the store's state.
int http_status(errc x);

/// The human-readable text of any error: the context message for fleetd errors, CAF's rendering otherwise.
std::string error_text(const caf::error& err);

/// What an exception says: its what() for a std::exception, a fixed sentence otherwise.
std::string exception_text(std::exception_ptr what);

/// Renders fleetd errors for `actor_system_config::add_error_category`.
std::string render_error(uint8_t code, caf::atom_value category, const caf::message& context);

} // namespace fleet

CAF_ERROR_CODE_ENUM(fleet::errc, "fleet")
