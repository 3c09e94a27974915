//! tiers (todo).
