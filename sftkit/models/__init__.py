"""Model helpers: tiny offline models for tests, the demo and CPU benchmarks."""
