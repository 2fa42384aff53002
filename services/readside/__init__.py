"""The read side: the queries served from the projections (`sla`, `audit`, `stats`) and
the list of read models the service keeps."""
