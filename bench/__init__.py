"""The benchmark harness: wrk against every server, with and without database latency (`make bench`)."""
