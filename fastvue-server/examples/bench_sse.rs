//! The client of `scripts/bench-sse.sh`: opens one permission stream
//! (`GET /api/v1/auth/me/permissions/stream`) per bench user of `seed_bench`, changes the
//! `manager` role of the first bench company through the HTTP API, and reports how long
//! the affected streams took to receive their new set, the server's memory per open
//! stream, and whether any unaffected stream received anything.
//!
//! Environment: the usual configuration (`DATABASE_URL`, `JWT_SECRET_KEY`, ... as the
//! server got it: access tokens are minted with the server's key instead of signing in
//! 2,000 users one by one, and the bench users and the role are looked up in the
//! database), `BENCH_BASE` (the server's URL), `BENCH_SERVER_PID` (for its RSS),
//! `BENCH_STREAMS` (default 2000), `BENCH_ROUNDS` (role changes, one after the other;
//! default 5), `FASTVUE_ADMIN_EMAIL` (the superuser making the change).
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastvue_core::Fastvue;
use fastvue_core::auth::TokenKind;
use fastvue_core::config::Settings;
use fastvue_core::entity::{role, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::{Semaphore, mpsc};

/// Streams being opened at once.
const OPENING: usize = 64;
/// How long to wait for the affected streams, and then for stray events.
const WAIT: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_secs(2);

fn env(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

/// Resident set size of `pid`, KiB.
fn rss_kib(pid: &str) -> Result<u64, Box<dyn Error>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).ok_or("bad VmRSS")?.parse()?)
}

/// What a stream reports.
enum Report {
    /// Its initial set arrived.
    Ready,
    /// A later `permissions` event arrived at this instant.
    Changed(usize, Instant),
    /// It failed or ended.
    Failed(usize, String),
}

/// Reads one stream: the first `permissions` event is `Ready`, later ones `Changed`.
async fn follow(
    client: reqwest::Client,
    url: String,
    token: String,
    index: usize,
    opening: Arc<Semaphore>,
    reports: mpsc::UnboundedSender<Report>,
) {
    let permit = opening.acquire_owned().await;
    let failed = |why: String| {
        let _ = reports.send(Report::Failed(index, why));
    };
    let mut res = match client.get(&url).bearer_auth(&token).send().await {
        Ok(res) if res.status() == 200 => res,
        Ok(res) => return failed(format!("status {}", res.status())),
        Err(e) => return failed(e.to_string()),
    };
    let mut permit = Some(permit);
    let mut buf = String::new();
    loop {
        let chunk = match res.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return failed("the stream ended".into()),
            Err(e) => return failed(e.to_string()),
        };
        let arrived = Instant::now();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.starts_with("event: permissions") {
                if permit.take().is_some() {
                    let _ = reports.send(Report::Ready);
                } else {
                    let _ = reports.send(Report::Changed(index, arrived));
                }
            } else if block.starts_with("event: ") {
                return failed(block.lines().next().unwrap_or_default().to_owned());
            }
        }
    }
}

/// What streams reported besides the affected streams' new sets.
#[derive(Default)]
struct Tally {
    /// Events received by streams the change did not affect.
    stray: usize,
    /// Streams that failed or ended.
    failures: Vec<String>,
}

/// Reads reports after the change sent at `t0` until every stream marked in `affected`
/// has its event (then `QUIET` longer, for strays) or `WAIT` has passed. Returns the
/// affected streams' latencies in ms, sorted; other events and failures go to `tally`.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Report>,
    t0: Instant,
    affected: &[bool],
    tally: &mut Tally,
) -> Vec<f64> {
    let expected = affected.iter().filter(|&&a| a).count();
    let mut latencies = Vec::with_capacity(expected);
    let mut deadline = tokio::time::Instant::now() + WAIT;
    let mut quiet = false;
    while let Ok(Some(report)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        match report {
            Report::Changed(i, at) if affected[i] => {
                latencies.push(at.duration_since(t0).as_secs_f64() * 1000.0);
            }
            Report::Changed(..) => tally.stray += 1,
            Report::Failed(i, why) => tally.failures.push(format!("stream {i}: {why}")),
            Report::Ready => {}
        }
        if !quiet && latencies.len() >= expected {
            // Every affected stream has its event: listen a little longer for strays.
            quiet = true;
            deadline = tokio::time::Instant::now() + QUIET;
        }
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let base = env("BENCH_BASE")?;
    let pid = env("BENCH_SERVER_PID")?;
    let wanted: usize = std::env::var("BENCH_STREAMS")
        .map_or(Ok(2000), |v| v.parse())
        .map_err(|e| format!("BENCH_STREAMS: {e}"))?;
    let rounds_wanted: usize = std::env::var("BENCH_ROUNDS")
        .map_or(Ok(5), |v| v.parse())
        .map_err(|e| format!("BENCH_ROUNDS: {e}"))?;
    if rounds_wanted == 0 {
        return Err("BENCH_ROUNDS must be at least 1".into());
    }
    let admin_email = env("FASTVUE_ADMIN_EMAIL")?;
    let fv =
        Fastvue::connect(Settings::from_env().map_err(|e| format!("configuration: {e}"))?).await?;
    let db = fv.db();

    let users: Vec<user::Model> = user::Entity::find()
        .filter(user::Column::Username.starts_with("loaduser"))
        .order_by_asc(user::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .take(wanted)
        .collect();
    if users.len() < wanted {
        return Err(format!(
            "{} bench users, {wanted} wanted: run seed_bench",
            users.len()
        )
        .into());
    }
    let target = users[0]
        .current_company_id
        .ok_or("bench user without company")?;
    // Which streams the change affects: those of the first company's users.
    let in_target: Vec<bool> = users
        .iter()
        .map(|u| u.current_company_id == Some(target))
        .collect();
    let affected = in_target.iter().filter(|&&a| a).count();
    let manager = role::Entity::find()
        .filter(role::Column::CompanyId.eq(target))
        .filter(role::Column::Codename.eq("manager"))
        .one(db)
        .await?
        .ok_or("the bench company has no manager role")?;
    let admin = user::Entity::find()
        .filter(user::Column::Email.eq(admin_email.to_lowercase()))
        .one(db)
        .await?
        .ok_or("no superuser with FASTVUE_ADMIN_EMAIL")?;
    let now = chrono::Utc::now();
    let token = |id: i64| fv.jwt().issue(id, TokenKind::Access, now).map(|(t, _)| t);

    let client = reqwest::Client::new();
    let rss_before = rss_kib(&pid)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let opening = Arc::new(Semaphore::new(OPENING));
    let url = format!("{base}/api/v1/auth/me/permissions/stream");
    let mut opened_in = Duration::ZERO;
    // Opened in two halves: the second half's growth is the marginal cost of a stream,
    // free of what the first streams warmed once (database page cache, pools, arenas).
    let half = users.len() / 2;
    let mut rss_half = rss_before;
    for (from, to) in [(0, half), (half, users.len())] {
        let started = Instant::now();
        for (index, u) in users.iter().enumerate().take(to).skip(from) {
            tokio::spawn(follow(
                client.clone(),
                url.clone(),
                token(u.id)?,
                index,
                Arc::clone(&opening),
                tx.clone(),
            ));
        }
        let mut ready = from;
        while ready < to {
            match tokio::time::timeout(Duration::from_secs(120), rx.recv()).await {
                Ok(Some(Report::Ready)) => ready += 1,
                Ok(Some(Report::Failed(i, why))) => {
                    return Err(format!("stream {i} failed while opening: {why}").into());
                }
                Ok(Some(Report::Changed(i, _))) => {
                    return Err(format!("stream {i} got an event before the change").into());
                }
                Ok(None) | Err(_) => return Err(format!("only {ready} streams opened").into()),
            }
        }
        opened_in += started.elapsed();
        if from == 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss_half = rss_kib(&pid)?;
        }
    }
    drop(tx);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_open = rss_kib(&pid)?;

    // The changes: toggle `user.delete` on the first company's manager role, BENCH_ROUNDS
    // times, each once the previous one has been delivered.
    let mut rounds = Vec::with_capacity(rounds_wanted);
    let mut tally = Tally::default();
    for _ in 0..rounds_wanted {
        let mut perms: Vec<String> = fv
            .roles()
            .get(&fastvue_core::Actor::system(), manager.id)
            .await?
            .permissions;
        match perms.iter().position(|p| p == "user.delete") {
            Some(i) => {
                perms.remove(i);
            }
            None => perms.push("user.delete".to_owned()),
        }
        let change = client
            .put(format!("{base}/api/v1/roles/{}/permissions", manager.id))
            .bearer_auth(token(admin.id)?)
            .header("x-company-id", target.to_string())
            .json(&serde_json::json!({ "permissions": perms }));
        let t0 = Instant::now();
        let res = change.send().await?;
        let put_ms = t0.elapsed().as_secs_f64() * 1000.0;
        if !res.status().is_success() {
            return Err(format!("the role change failed: {}", res.status()).into());
        }

        let latencies = collect(&mut rx, t0, &in_target, &mut tally).await;
        let complete = latencies.len() == affected;
        rounds.push((put_ms, latencies));
        if !complete || !tally.failures.is_empty() {
            break;
        }
    }

    println!(
        "streams opened        {} in {:.1} s",
        users.len(),
        opened_in.as_secs_f64()
    );
    println!(
        "server RSS            {} KiB before, {} KiB with the streams open: {:.1} KiB per stream",
        rss_before,
        rss_open,
        (rss_open.saturating_sub(rss_before)) as f64 / users.len() as f64
    );
    println!(
        "marginal RSS          {} KiB with half of them open: {:.1} KiB per stream of the second half",
        rss_half,
        (rss_open.saturating_sub(rss_half)) as f64 / (users.len() - half) as f64
    );
    println!("time to event (ms), from sending the PUT; {affected} affected streams per change:");
    for (round, (put_ms, latencies)) in rounds.iter().enumerate() {
        print!(
            "change {}              PUT {put_ms:.1} ms, {} of {affected} got the new set",
            round + 1,
            latencies.len()
        );
        if let Some(max) = latencies.last() {
            print!(
                ", p50 {:.1}  p99 {:.1}  max {max:.1}",
                percentile(latencies, 0.50),
                percentile(latencies, 0.99)
            );
        }
        println!();
    }
    let mut all: Vec<f64> = rounds.iter().flat_map(|(_, l)| l.iter().copied()).collect();
    all.sort_by(f64::total_cmp);
    if !all.is_empty() {
        println!(
            "all changes           p50 {:.1}  p99 {:.1}  max {:.1}",
            percentile(&all, 0.50),
            percentile(&all, 0.99),
            all[all.len() - 1]
        );
    }
    println!(
        "unaffected streams    {} events received (of {} streams, over {} changes)",
        tally.stray,
        users.len() - affected,
        rounds.len()
    );
    for f in &tally.failures {
        println!("failure               {f}");
    }
    let delivered =
        rounds.len() == rounds_wanted && rounds.iter().all(|(_, l)| l.len() == affected);
    if !delivered || tally.stray > 0 || !tally.failures.is_empty() {
        return Err("the benchmark did not see the expected events".into());
    }
    Ok(())
}
