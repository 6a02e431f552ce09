//! Hash chains and signed checkpoints (not built yet).
