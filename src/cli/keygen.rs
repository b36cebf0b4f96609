//! `memberlist keygen`: a random key in the base64 form Serf and Consul use.

use std::process::ExitCode;

use base64::Engine as _;
use rand::RngCore;

#[derive(clap::Args)]
pub struct Args {
    /// Key size in bytes: 16 (AES-128), 24 (AES-192) or 32 (AES-256, the size
    /// `serf keygen` and `consul keygen` make).
    #[arg(long, default_value_t = 32, value_parser = key_size)]
    bytes: usize,
}

pub fn run(args: Args) -> ExitCode {
    let mut key = vec![0u8; args.bytes];
    rand::rngs::OsRng.fill_bytes(&mut key);
    println!("{}", base64::engine::general_purpose::STANDARD.encode(key));
    ExitCode::SUCCESS
}

fn key_size(s: &str) -> Result<usize, String> {
    match s.parse() {
        Ok(n @ (16 | 24 | 32)) => Ok(n),
        _ => Err("must be 16, 24 or 32".into()),
    }
}
