"""Generated protobuf package (see `make protos`)."""
