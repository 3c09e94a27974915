//! lifecycle (todo).
