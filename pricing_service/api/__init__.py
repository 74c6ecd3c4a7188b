"""gRPC adapters: servicers, converters, error mapping, interceptors, bootstrap."""
