//! Test vectors for other implementations: the Go-produced fixtures exported as a
//! language-neutral corpus ([`corpus`]), a reference decoder that answers the decoder
//! protocol with our codec ([`mod@reference`]), and the runner that feeds another
//! implementation's decoder every vector and reports where it disagrees ([`mod@check`]).
//! The corpus format and the decoder protocol are documented in the README
//! ("Test vectors"), which the export copies into the corpus.

pub mod check;
pub mod corpus;
pub mod reference;

pub use check::{check, CheckOptions, CheckReport, Finding};
pub use corpus::{export, load, Input, Kind, Vector};
