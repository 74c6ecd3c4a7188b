"""The audit log: records, durable writer, Merkle tree, checkpoints, verify, replay."""
