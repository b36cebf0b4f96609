//! Subcommands of the `memberlist` binary, one module each.

pub mod capture;
pub mod decode;
pub mod keygen;
pub mod view;
