//! Profiles (placeholder).
