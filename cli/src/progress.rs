//! A progress bar on stderr for large inputs.

use std::io::Read;

use indicatif::{ProgressBar, ProgressBarIter, ProgressDrawTarget, ProgressStyle};

/// Inputs over this many bytes (8 MiB) get a progress bar; smaller ones are done before a
/// bar would be worth drawing.
pub const PROGRESS_THRESHOLD: u64 = 8 * 1024 * 1024;

/// `input`, of `len` bytes, counting what is read on a bar when it is over
/// [`PROGRESS_THRESHOLD`]. The bar draws on stderr only when stderr is a terminal
/// (indicatif checks), so redirected output stays clean.
pub fn reader<R: Read>(input: R, len: u64, label: &'static str) -> ProgressBarIter<R> {
    let bar = if len > PROGRESS_THRESHOLD {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label);
        bar
    } else {
        ProgressBar::hidden()
    };
    bar.wrap_read(input)
}

/// Removes the bar of a reader made by [`reader`] from the terminal.
pub fn finish<R>(reader: &ProgressBarIter<R>) {
    reader.progress.finish_and_clear();
}
