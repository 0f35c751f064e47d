"""Health over time: the stored daily health of every account (an open table format other engines
read directly), snapshots, retention and the reads over it (trends)."""
