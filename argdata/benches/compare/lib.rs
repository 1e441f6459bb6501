//! Nothing to see: this package exists for its `throughput` benchmark.
