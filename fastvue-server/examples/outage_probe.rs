//! The revoke-to-refusal probe of `scripts/bench-outage.sh` (issue 26).
//!
//! `outage_probe setup`: on the database of `DATABASE_URL` (through the core, so every
//! replica hears it), creates a company with a role granting `audit.read` and
//! `user.read` and a user holding it; signs the user in on replica A (`PROBE_A`) and
//! prints `ROLE_ID=..` and `USER_TOKEN=..` lines for the shell.
//!
//! `outage_probe revokes N`: N times, removes `audit.read` from the role through A as the
//! superuser (`FASTVUE_ADMIN_EMAIL` / `FASTVUE_ADMIN_PASSWORD`) while polling replica B
//! (`PROBE_B`, `GET /api/v1/auth/me/permissions` as the user, back to back on one kept
//! connection) until B no longer lists it; then grants it back the same way. Prints
//! `RESULT p50_ms p99_ms max_ms put_p50_ms` for the revokes: the time from sending the
//! revoke to B's first answer without it, and A's own answer time.
use std::error::Error;
use std::time::{Duration, Instant};

use fastvue_core::Actor;
use fastvue_core::Fastvue;
use fastvue_core::config::Settings;
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::companies::NewCompany;
use fastvue_core::service::roles::NewRole;
use fastvue_core::service::users::NewUser;
use serde_json::{Value, json};

/// Beyond this a change is reported as never seen (the run fails).
const GIVE_UP: Duration = Duration::from_secs(30);
const PASSWORD: &str = "probe-password-123";

fn var(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    password: &str,
) -> Result<String, Box<dyn Error>> {
    let res: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "username": user, "password": password }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(res["access_token"]
        .as_str()
        .ok_or("no access_token")?
        .to_owned())
}

async fn setup(http: &reqwest::Client, a: &str) -> Result<(), Box<dyn Error>> {
    let settings = Settings::from_env().map_err(|e| format!("configuration: {e}"))?;
    let fv = Fastvue::connect(settings).await?;
    let sys = Actor::system();
    let tag = &uuid_like();
    let company = fv
        .companies()
        .create(
            &sys,
            NewCompany {
                name: format!("Outage probe {tag}"),
                code: format!("PROBE{tag}"),
                ..Default::default()
            },
        )
        .await?;
    let role = fv
        .roles()
        .create(
            &sys,
            NewRole {
                name: "Auditor".into(),
                codename: "probe_auditor".into(),
                company_id: Some(company.id),
                permissions: vec!["audit.read".into(), "user.read".into()],
                ..Default::default()
            },
        )
        .await?
        .role;
    let username = format!("probe{tag}");
    let user = fv
        .users()
        .create(
            &sys,
            NewUser {
                email: format!("{username}@probe.local"),
                username: username.clone(),
                password: Some(PASSWORD.into()),
                current_company_id: Some(company.id),
                ..Default::default()
            },
        )
        .await?;
    fv.assignments()
        .assign(
            &sys,
            user.id,
            NewAssignment {
                company_id: company.id,
                role_id: role.id,
                is_default: true,
                scope: Default::default(),
            },
        )
        .await?;
    let token = login(http, a, &username, PASSWORD).await?;
    println!("ROLE_ID={}", role.id);
    println!("USER_TOKEN={token}");
    Ok(())
}

/// A short tag unique enough for repeated runs on one database.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}", nanos & 0xff_ffff_ffff)
}

async fn lists_audit_read(
    http: &reqwest::Client,
    b: &str,
    token: &str,
) -> Result<bool, Box<dyn Error>> {
    let body: Value = http
        .get(format!("{b}/api/v1/auth/me/permissions"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let perms = body["permissions"].as_array().ok_or("no permissions")?;
    Ok(perms
        .iter()
        .any(|p| p == "audit.read" || p["codename"] == "audit.read"))
}

/// Sets the role's permissions through A; returns when B's answer shows `want_audit`.
/// (time to B's answer, A's answer time)
async fn change_and_time(
    http: &reqwest::Client,
    a: &str,
    b: &str,
    root: &str,
    token: &str,
    role_id: &str,
    want_audit: bool,
) -> Result<(Duration, Duration), Box<dyn Error>> {
    let perms: Vec<&str> = if want_audit {
        vec!["audit.read", "user.read"]
    } else {
        vec!["user.read"]
    };
    let since = Instant::now();
    let put = async {
        let res = http
            .put(format!("{a}/api/v1/roles/{role_id}/permissions"))
            .bearer_auth(root)
            .json(&json!({ "permissions": perms }))
            .send()
            .await?;
        if !res.status().is_success() {
            return Err(format!("PUT answered {}", res.status()).into());
        }
        Ok::<_, Box<dyn Error>>(since.elapsed())
    };
    let poll = async {
        loop {
            if lists_audit_read(http, b, token).await? == want_audit {
                return Ok::<_, Box<dyn Error>>(since.elapsed());
            }
            if since.elapsed() > GIVE_UP {
                return Err("B never reflected the change".into());
            }
        }
    };
    let (put, seen) = tokio::join!(put, poll);
    Ok((seen?, put?))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn revokes(http: &reqwest::Client, a: &str, n: usize) -> Result<(), Box<dyn Error>> {
    let b = var("PROBE_B")?;
    let token = var("USER_TOKEN")?;
    let role_id = var("ROLE_ID")?;
    let root = login(
        http,
        a,
        &var("FASTVUE_ADMIN_EMAIL")?,
        &var("FASTVUE_ADMIN_PASSWORD")?,
    )
    .await?;
    let (mut seen, mut puts) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        // B must grant (and cache) before each revoke.
        change_and_time(http, a, &b, &root, &token, &role_id, true).await?;
        for _ in 0..3 {
            lists_audit_read(http, &b, &token).await?;
        }
        let (s, p) = change_and_time(http, a, &b, &root, &token, &role_id, false).await?;
        seen.push(s);
        puts.push(p);
    }
    seen.sort();
    puts.sort();
    println!(
        "RESULT {:.1} {:.1} {:.1} {:.1}",
        percentile(&seen, 0.5),
        percentile(&seen, 0.99),
        percentile(&seen, 1.0),
        percentile(&puts, 0.5)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = var("PROBE_A")?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["setup"] => setup(&http, &a).await,
        ["revokes", n] => revokes(&http, &a, n.parse()?).await,
        _ => Err("usage: outage_probe setup | revokes N".into()),
    }
}
