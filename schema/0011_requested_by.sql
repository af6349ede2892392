-- Version 11: who asked for each change (issue 22). Events written for a change a client asked
-- for (submit, cancel, replay, pause, resume, scale, config set and reset, schedule and queue
-- changes, node drain, prune) carry a JSON object naming the requester; NULL for fleetd's own
-- doings (attempts, retries, timeouts, schedule firings) and for requests made inside fleetd's
-- process (its HTTP API records those as api_request events with the token's name and the peer):
--   {"node": CAF node id, "peer": "host:port" of its connection, "tls": certificate subject (TLS
--    only), "client": the name the client announced (fleetctl: user@host)}
-- A field is absent when it is not known (an older client announces no name).
--
-- A new event kind: a stored override cleared (`fleetctl config reset NAME`):
--   config_reset          {"FIELD": the value from the config file now in force, ...}

ALTER TABLE events ADD COLUMN requested_by TEXT;
