#pragma once

namespace fleet {

/// One step of a schema, from schema/NNNN_name.sql (SQLite) or schema/postgres/NNNN_name.sql.
struct migration {
  int version;
  const char* name;
  const char* sql;
};

} // namespace fleet
