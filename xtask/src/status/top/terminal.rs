//! The terminal for `top`: raw input (one key at a time, no echo) and the
//! alternate screen, both given back when the view ends, also on an error.

use std::io::Write;
use std::time::Duration;

/// The terminal while `top` runs.
pub struct Raw {
    saved: Option<libc::termios>,
}

impl Raw {
    /// Raw input when stdin is a terminal; the alternate screen.
    pub fn enter() -> anyhow::Result<Raw> {
        // SAFETY: isatty and tcgetattr only read the terminal's settings into
        // a zeroed struct owned here.
        let saved = unsafe {
            if libc::isatty(0) == 1 {
                let mut t: libc::termios = std::mem::zeroed();
                (libc::tcgetattr(0, &mut t) == 0).then_some(t)
            } else {
                None
            }
        };
        if let Some(t) = saved {
            let mut raw = t;
            raw.c_lflag &= !(libc::ICANON | libc::ECHO);
            raw.c_cc[libc::VMIN] = 0;
            raw.c_cc[libc::VTIME] = 0;
            // SAFETY: sets the settings of fd 0 from a struct read from it.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &raw) };
        }
        print!("\x1b[?1049h\x1b[?25l");
        std::io::stdout().flush()?;
        Ok(Raw { saved })
    }

    /// Replaces the screen with `text`.
    pub fn draw(&self, text: &str) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        write!(out, "\x1b[H\x1b[2J{}", text.replace('\n', "\r\n"))?;
        write!(out, "\r\nq quits")?;
        out.flush()?;
        Ok(())
    }

    /// Waits up to `d` for a key; true when it was `q` (or input ended).
    pub fn quit_within(&self, d: Duration) -> anyhow::Result<bool> {
        let mut fds = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one descriptor described by a struct owned here.
        let n = unsafe { libc::poll(&mut fds, 1, d.as_millis() as libc::c_int) };
        if n <= 0 {
            if self.saved.is_none() {
                // No terminal: nothing to read keys from, keep refreshing.
                std::thread::sleep(d.saturating_sub(Duration::from_millis(1)));
            }
            return Ok(false);
        }
        let mut buf = [0u8; 16];
        // SAFETY: reads into a buffer owned here, at most its length.
        let got = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if got == 0 && self.saved.is_none() {
            return Ok(false);
        }
        Ok(got <= 0
            || buf[..got as usize]
                .iter()
                .any(|b| matches!(b, b'q' | b'Q' | 3)))
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        print!("\x1b[?25h\x1b[?1049l");
        let _ = std::io::stdout().flush();
        if let Some(t) = self.saved {
            // SAFETY: gives fd 0 back the settings read from it in `enter`.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
    }
}
