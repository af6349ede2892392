#pragma once

#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>

namespace fleet::net {

/// A middleman actor that opens and connects with TLS (CAF's openssl sessions, mutual
/// authentication as CAF's openssl module configures it) through the guarded scribes and
/// acceptors of client/guarded_io.hpp. CAF's own TLS middleman builds unguarded ones. Needs the
/// guarded multiplexer and CAF's openssl manager loaded; ends with the latter at shutdown.
caf::io::middleman_actor spawn_tls_middleman(caf::actor_system& sys);

} // namespace fleet::net
