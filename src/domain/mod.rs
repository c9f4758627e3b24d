//! Domain types that parse rather than validate: once built, they are known good.

pub mod duration;
pub mod ids;
pub mod lifecycle;
pub mod names;
pub mod roles;
pub mod time;
pub mod totp;
