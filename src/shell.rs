//! The one output layer, a value passed down instead of global state (as cargo's `Shell`):
//! verbosity, colour, the stdout/stderr writers and progress bars. `main.rs` makes the real one
//! once; unit tests make one with `Shell::capture()` and read what was written. Results go to
//! stdout (what scripts read: `--json`, `devdb url`), everything else to stderr.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use indicatif::{MultiProgress, ProgressBar};
use indicatif::{ProgressDrawTarget, ProgressStyle};

use crate::hint::Hint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
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

type Writer = Mutex<Box<dyn Write + Send>>;

/// Cheap to clone: clones share the writers.
#[derive(Clone)]
pub struct Shell {
    inner: Arc<Inner>,
}

struct Inner {
    verbosity: Verbosity,
    color: bool,
    /// Bars draw only on a real terminal stderr (indicatif checks that too) and not `--quiet`.
    bars: bool,
    err_terminal: bool,
    out_terminal: bool,
    out: Writer,
    err: Writer,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("verbosity", &self.inner.verbosity)
            .finish_non_exhaustive()
    }
}

/// What a captured shell wrote, for tests.
#[derive(Clone, Default)]
pub struct Captured {
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

impl Captured {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// The Shell's stdout as a `Write` (see `Shell::stdout`).
pub struct Stdout(Shell);

impl Write for Stdout {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .inner
            .out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .inner
            .out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
    }
}

/// A `Write` into a shared buffer.
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shell {
    /// The process's shell on stdout/stderr; `color: None` means "a terminal without NO_COLOR".
    pub fn new(verbosity: Verbosity, color: Option<bool>) -> Shell {
        let err_terminal = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = color.unwrap_or(err_terminal && !no_color);
        // indicatif styles its templates through console, which keeps its own switch.
        console::set_colors_enabled_stderr(color);
        console::set_colors_enabled(color);
        Shell {
            inner: Arc::new(Inner {
                verbosity,
                color,
                bars: verbosity > Verbosity::Quiet,
                err_terminal,
                out_terminal: std::io::stdout().is_terminal(),
                out: Mutex::new(Box::new(std::io::stdout())),
                err: Mutex::new(Box::new(std::io::stderr())),
            }),
        }
    }

    /// A shell writing into buffers (no colour, no bars, not a terminal), and what it wrote.
    pub fn capture(verbosity: Verbosity) -> (Shell, Captured) {
        let captured = Captured::default();
        let shell = Shell {
            inner: Arc::new(Inner {
                verbosity,
                color: false,
                bars: false,
                err_terminal: false,
                out_terminal: false,
                out: Mutex::new(Box::new(Buffer(captured.out.clone()))),
                err: Mutex::new(Box::new(Buffer(captured.err.clone()))),
            }),
        };
        (shell, captured)
    }

    /// A shell that shows nothing (the detached background job, whose output goes nowhere).
    pub fn silent() -> Shell {
        Shell::capture(Verbosity::Quiet).0
    }

    pub fn verbosity(&self) -> Verbosity {
        self.inner.verbosity
    }

    pub fn err_is_terminal(&self) -> bool {
        self.inner.err_terminal
    }

    pub fn out_is_terminal(&self) -> bool {
        self.inner.out_terminal
    }

    fn write_err(&self, text: &str) {
        let mut err = self.inner.err.lock().unwrap_or_else(|e| e.into_inner());
        // Output is best effort: a closed stderr must not turn into an error of the work.
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }

    fn write_out(&self, text: &str) {
        let mut out = self.inner.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// A line of progress worth keeping in logs too; silent under `--quiet`.
    pub fn note(&self, message: impl AsRef<str>) {
        if self.inner.verbosity >= Verbosity::Normal {
            self.write_err(&format!("{}\n", message.as_ref()));
        }
    }

    /// A detail only `--verbose` shows.
    pub fn detail(&self, message: impl AsRef<str>) {
        if self.inner.verbosity >= Verbosity::Verbose {
            self.write_err(&format!("{}\n", message.as_ref()));
        }
    }

    /// Output a job streams through (a container's or a command's stderr), unless `--quiet`.
    pub fn passthrough(&self, text: &str) {
        if self.inner.verbosity >= Verbosity::Normal {
            self.write_err(text);
        }
    }

    /// A result line on stdout (what scripts read); printed even under `--quiet`.
    pub fn result(&self, message: impl std::fmt::Display) {
        self.write_out(&format!("{message}\n"));
    }

    /// Text on stdout exactly as given (a multi-line report that ends with its own newline).
    pub fn result_text(&self, text: &str) {
        self.write_out(text);
    }

    /// stdout as a writer, for a stream of results (a container's log). Unlike `result`, its
    /// errors reach the caller, so a follow stops when the reader goes away.
    pub fn stdout(&self) -> Stdout {
        Stdout(self.clone())
    }

    /// A question on stderr, answered on the same line (always shown: the user must see it).
    pub fn prompt(&self, question: &str) {
        self.write_err(&format!("{question} "));
    }

    /// An error, always printed (stderr), with its next step when there is one.
    pub fn error(&self, message: &str, hint: Option<&Hint>) {
        let label = console::style("error:")
            .red()
            .bold()
            .force_styling(self.inner.color);
        let mut text = format!("{label} {message}\n");
        if let Some(hint) = hint {
            text.push_str(&format!("  {}: {}\n", hint.label, hint.text));
        }
        self.write_err(&text);
    }

    /// A status line for something whose size is unknown.
    pub fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, self.draw_target());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.into());
        if self.inner.bars {
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        bar
    }

    /// A byte-counting bar (pulls, copies).
    pub fn bytes_bar(&self, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(0), self.draw_target());
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
    pub fn steps_bar(&self, total: u64, label: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(total), self.draw_target());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30.cyan/blue}] {pos}/{len} {wide_msg:.dim}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(label.into());
        bar
    }

    /// Several bars at once (one per table being copied).
    pub fn multi(&self) -> MultiProgress {
        MultiProgress::with_draw_target(self.draw_target())
    }

    /// indicatif hides stderr bars off a terminal by itself; `--quiet` and captured shells
    /// hide them everywhere.
    fn draw_target(&self) -> ProgressDrawTarget {
        match self.inner.bars {
            true => ProgressDrawTarget::stderr(),
            false => ProgressDrawTarget::hidden(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_wins_over_verbose() {
        assert_eq!(Verbosity::from_flags(true, true), Verbosity::Quiet);
        assert_eq!(Verbosity::from_flags(false, true), Verbosity::Verbose);
    }

    #[test]
    fn results_go_to_stdout_notes_to_stderr_and_quiet_keeps_only_results() {
        let (shell, captured) = Shell::capture(Verbosity::Normal);
        shell.result("url");
        shell.note("started");
        shell.detail("hidden unless verbose");
        assert_eq!(captured.stdout(), "url\n");
        assert_eq!(captured.stderr(), "started\n");

        let (quiet, captured) = Shell::capture(Verbosity::Quiet);
        quiet.note("started");
        quiet.passthrough("job output");
        quiet.result("url");
        quiet.error("broken", Some(&Hint::suggest("fix it")));
        assert_eq!(captured.stdout(), "url\n");
        assert_eq!(captured.stderr(), "error: broken\n  hint: fix it\n");
    }

    #[test]
    fn a_stream_goes_to_the_shells_stdout() {
        let (shell, captured) = Shell::capture(Verbosity::Quiet);
        shell.stdout().write_all(b"log line\n").unwrap();
        assert_eq!(captured.stdout(), "log line\n");
    }

    #[test]
    fn clones_share_the_writers() {
        let (shell, captured) = Shell::capture(Verbosity::Verbose);
        shell.clone().detail("from a clone");
        assert_eq!(captured.stderr(), "from a clone\n");
    }
}
