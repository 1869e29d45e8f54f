//! Progress output: indicatif bars on a terminal, plain one-line notes otherwise, so logs
//! and CI output stay readable and scripts are not fed control characters.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A status line for something whose size is unknown; hidden when stderr is not a terminal.
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

/// A byte-counting bar (pulls, copies); hidden when stderr is not a terminal.
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

/// A step counter (migrations, tables); hidden when stderr is not a terminal.
pub fn steps_bar(total: u64, message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), draw_target());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30.cyan/blue}] {pos}/{len} {wide_msg:.dim}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.into());
    bar
}

fn draw_target() -> ProgressDrawTarget {
    if stderr_is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A line of progress that is worth keeping in logs too (written to stderr, never stdout,
/// so stdout stays clean for `--json` and `devdb url`).
pub fn note(message: impl AsRef<str>) {
    eprintln!("{}", message.as_ref());
}
