//! Asking the operator: visible answers and hidden passwords on the terminal, or a
//! password piped on standard input. Passwords are never echoed or printed.
use std::io::{BufRead, IsTerminal, Write};

use crate::output::Failure;

/// Whether prompts can be shown (standard input is a terminal).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks for a visible value on the terminal; `flag` names the option that would have
/// given it (for the error when there is no terminal).
pub fn ask(prompt: &str, flag: &str) -> Result<String, Failure> {
    if !interactive() {
        return Err(Failure::Usage(format!(
            "{flag} is missing and standard input is not a terminal to ask for it"
        )));
    }
    print!("{prompt}: ");
    std::io::stdout()
        .flush()
        .map_err(|e| Failure::Failed(format!("cannot write the prompt: {e}")))?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Failed(format!("cannot read the answer: {e}")))?;
    let answer = answer.trim().to_owned();
    if answer.is_empty() {
        return Err(Failure::Usage(format!("{flag} must not be empty")));
    }
    Ok(answer)
}

/// Asks for a new password twice, hidden, on the terminal.
pub fn new_password() -> Result<String, Failure> {
    let no_tty = |e: std::io::Error| {
        Failure::Usage(format!(
            "cannot ask for the password ({e}); pass --password-stdin and pipe it in"
        ))
    };
    let first = rpassword::prompt_password("Password: ").map_err(no_tty)?;
    let second = rpassword::prompt_password("Password (again): ").map_err(no_tty)?;
    if first != second {
        return Err(Failure::Failed("the two passwords differ".into()));
    }
    Ok(first)
}

/// The first line of standard input (without its line ending), for `--password-stdin`.
pub fn password_from_stdin() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        Failure::Failed(format!("cannot read the password from standard input: {e}"))
    })?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(Failure::Usage(
            "--password-stdin: standard input holds no password".into(),
        ));
    }
    Ok(password)
}
