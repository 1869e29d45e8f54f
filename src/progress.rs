//! The one output layer (as cargo's `Shell`): progress bars on a terminal, plain one-line notes
//! otherwise, all on stderr so stdout stays clean for `--json` and `devdb url`. `--quiet`,
//! `--verbose`, `--color` and NO_COLOR are decided here, once, by `configure`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

pub use indicatif::ProgressBar;
use indicatif::{MultiProgress, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Verbosity {
    Quiet = 0,
    Normal = 1,
    Verbose = 2,
}

impl Verbosity {
    pub fn from_flags(quiet: bool, verbose: bool) -> Verbosity {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, true) => Verbosity::Verbose,
            (false, false) => Verbosity::Normal,
        }
    }
}

static VERBOSITY: AtomicU8 = AtomicU8::new(Verbosity::Normal as u8);

/// Sets verbosity and colours for the process; `color: None` means a terminal without NO_COLOR.
pub fn configure(verbosity: Verbosity, color: Option<bool>) {
    VERBOSITY.store(verbosity as u8, Ordering::Relaxed);
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let colors = color.unwrap_or(stderr_is_terminal() && !no_color);
    console::set_colors_enabled_stderr(colors);
    console::set_colors_enabled(colors);
}

fn verbosity() -> Verbosity {
    match VERBOSITY.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        2 => Verbosity::Verbose,
        _ => Verbosity::Normal,
    }
}

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A status line for something whose size is unknown.
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, draw_target());
    bar.set_style(
        ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// A byte-counting bar (pulls, copies).
pub fn bytes_bar(message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), draw_target());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(message.into());
    bar
}

/// A step counter (migrations, tables): `label` stays, the message shows the current item.
pub fn steps_bar(total: u64, label: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), draw_target());
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} {wide_msg:.dim}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(label.into());
    bar
}

/// Several bars at once (one per table being copied).
pub fn multi() -> MultiProgress {
    MultiProgress::with_draw_target(draw_target())
}

/// indicatif hides bars off a terminal by itself; `--quiet` hides them everywhere.
fn draw_target() -> ProgressDrawTarget {
    if verbosity() == Verbosity::Quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}

/// A line of progress worth keeping in logs too; silent under `--quiet`.
pub fn note(message: impl AsRef<str>) {
    if verbosity() >= Verbosity::Normal {
        eprintln!("{}", message.as_ref());
    }
}

/// A detail only `--verbose` shows.
pub fn detail(message: impl AsRef<str>) {
    if verbosity() >= Verbosity::Verbose {
        eprintln!("{}", message.as_ref());
    }
}

/// Output a job streams through (a container's stderr), shown as it arrives unless `--quiet`.
pub fn passthrough(text: &str) {
    if verbosity() >= Verbosity::Normal {
        eprint!("{text}");
    }
}

/// A result line on stdout (what scripts read); printed even under `--quiet`.
pub fn result(message: impl std::fmt::Display) {
    println!("{message}");
}

/// Text on stdout exactly as given (a multi-line report that ends with its own newline).
pub fn result_text(text: &str) {
    print!("{text}");
}

/// A question on stderr, answered on the same line (always shown: the user must see it).
pub fn prompt(question: &str) {
    use std::io::Write;
    eprint!("{question} ");
    std::io::stderr().flush().ok();
}

/// An error, always printed (stderr).
pub fn error(message: &str) {
    let label = console::style("error:").red().bold().for_stderr();
    eprintln!("{label} {message}");
}

/// Splits devdb's `message\n  hint: next step` convention into its two parts.
pub fn split_hint(text: &str) -> (String, Option<String>) {
    match text.split_once("\n  hint: ") {
        Some((message, hint)) => (
            message.trim_end().to_string(),
            Some(hint.trim().to_string()),
        ),
        None => (text.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_split_from_messages() {
        assert_eq!(
            split_hint("no file\n  hint: pass --file"),
            ("no file".to_string(), Some("pass --file".to_string()))
        );
        assert_eq!(split_hint("plain"), ("plain".to_string(), None));
    }

    #[test]
    fn quiet_wins_over_verbose() {
        assert_eq!(Verbosity::from_flags(true, true), Verbosity::Quiet);
        assert_eq!(Verbosity::from_flags(false, true), Verbosity::Verbose);
    }
}
