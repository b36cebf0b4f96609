//! `memberlist completions SHELL` and `memberlist man [DIR]`: shell completion scripts
//! and man pages generated from the same clap definitions that parse the command line,
//! so they can never list a flag the binary does not take.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap_complete::Shell;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for (to stdout).
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// Write memberlist.1 and one memberlist-SUBCOMMAND.1 per subcommand into this
    /// directory (created if missing) instead of printing memberlist.1 to stdout.
    dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell`; `cmd` is the binary's whole command.
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> ExitCode {
    let name = cmd.get_name().to_owned();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut out);
    write_stdout(&out)
}

/// Prints the top-level man page, or writes every page into `args.dir`.
pub fn man(args: ManArgs, cmd: clap::Command) -> ExitCode {
    match args.dir {
        None => {
            let mut out = Vec::new();
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
                eprintln!("error: rendering the man page: {e}");
                return ExitCode::FAILURE;
            }
            write_stdout(&out)
        }
        Some(dir) => {
            let written =
                std::fs::create_dir_all(&dir).and_then(|()| clap_mangen::generate_to(cmd, &dir));
            match written {
                Ok(()) => {
                    println!("wrote man pages to {}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!(
                        "error: cannot write man pages to {}: {e} (pass a writable DIR, or none to print memberlist.1)",
                        dir.display()
                    );
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn write_stdout(bytes: &[u8]) -> ExitCode {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}
