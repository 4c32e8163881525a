//! How commands end and what they print: the failure type with its exit code, JSON
//! output for scripts and aligned tables for people.
use std::process::ExitCode;

use serde::Serialize;

/// Why a command did not succeed; each variant has its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Invalid usage or configuration: exit code 2.
    Usage(String),
    /// The command ran and failed: exit code 1.
    Failed(String),
}

impl From<fastvue_core::Error> for Failure {
    fn from(e: fastvue_core::Error) -> Self {
        use fastvue_core::Error;
        match e {
            Error::Unavailable(inner) => Failure::Failed(format!("database unavailable: {inner}")),
            // An operator needs the cause, which HTTP clients never see.
            Error::Internal(detail) => Failure::Failed(format!("internal error: {detail}")),
            Error::Validation(errors) => Failure::Failed(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => Failure::Failed(other.to_string()),
        }
    }
}

/// Prints the failure as one `error: ...` line on standard error and picks the exit code.
pub fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {}", one_line(&msg));
            ExitCode::from(2)
        }
        Err(Failure::Failed(msg)) => {
            eprintln!("error: {}", one_line(&msg));
            ExitCode::FAILURE
        }
    }
}

fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Prints `value` as one line of JSON.
pub fn json<T: Serialize + ?Sized>(value: &T) {
    println!(
        "{}",
        serde_json::to_string(value).expect("command output serializes to JSON")
    );
}

/// Columns padded to their widest cell, two spaces apart; the header in capitals.
#[derive(Debug)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_uppercase()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (one cell per header).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Prints the table on standard output.
    pub fn print(&self) {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let last = cells.len().saturating_sub(1);
            cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    if i == last {
                        c.clone()
                    } else {
                        format!("{c:<w$}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
        };
        println!("{}", line(&self.headers));
        for row in &self.rows {
            println!("{}", line(row));
        }
    }
}

/// Prints `label  value` lines, the labels padded to the widest (no header).
pub fn pairs(rows: &[(&str, String)]) {
    let width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    for (label, value) in rows {
        println!("{label:<width$}  {value}");
    }
}

/// `yes` or `no`.
pub fn yes_no(v: bool) -> String {
    if v { "yes" } else { "no" }.to_owned()
}

/// The value, or `-` for none.
pub fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}
