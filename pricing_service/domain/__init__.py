"""The pure pricing core: no I/O, no clock, no grpc, no logging."""
