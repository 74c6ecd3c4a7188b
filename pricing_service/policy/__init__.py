"""Policy documents: load, validate, canonicalise, digest, effective dating."""
