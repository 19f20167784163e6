//! Coordinators: per-group membership and offsets today; transactions later.

pub mod group;
