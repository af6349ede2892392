-- Where each attempt ran: the name of the fleet-node, NULL for fleetd's own workers.
ALTER TABLE attempts ADD COLUMN node TEXT;
