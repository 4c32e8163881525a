//! The company hierarchy as the permission engine walks it: a subtree-scoped assignment
//! (or group membership) at company A holds in A and in every company below it, as long
//! as every company on the way down is active (a deactivated company closes its branch
//! to inherited grants; direct grants below it are unaffected).
//!
//! Every walk is bounded by [`MAX_COMPANY_DEPTH`] levels, whatever the stored data says
//! (a cycle of parents, only possible through rows written outside fastvue, ends there
//! too): in SQL as the `depth` column of a recursive common table expression, in Rust as
//! a level count. Nothing recurses on the process's stack.
use std::collections::HashSet;

use sea_orm::ConnectionTrait;

use crate::error::{Error, Result};
use crate::sql::{placeholders, statement};

/// Most levels of the company hierarchy (a top-level company is level 1).
pub const MAX_COMPANY_DEPTH: usize = 32;

/// Most companies a descendant walk returns: far above any real hierarchy, and a bound on
/// the memory of one walk.
pub(crate) const MAX_SUBTREE: usize = 100_000;

/// `up(id, depth)`: company `{start}` (depth 0, whatever its state) and its ancestors
/// through which grants are inherited (each active and not deleted; the walk stops at
/// the first that is not), nearest first. `{start}` is a parameter such as `$1`.
pub(crate) const UP_CTE: &str = "\
up(id, parent_id, depth) AS ( \
  SELECT c.id, c.parent_id, 0 FROM companies c WHERE c.id = {start} \
  UNION ALL \
  SELECT c.id, c.parent_id, up.depth + 1 FROM up CROSS JOIN companies c \
  WHERE c.id = up.parent_id AND c.is_active = TRUE AND c.deleted_at IS NULL \
    AND up.depth < {max} \
)";

/// [`UP_CTE`] with its start parameter.
pub(crate) fn up_cte(start: &str) -> String {
    UP_CTE
        .replace("{start}", start)
        .replace("{max}", &MAX_COMPANY_DEPTH.to_string())
}

/// `id` and its ancestors, nearest first, whatever their state: at most
/// [`MAX_COMPANY_DEPTH`] + 1 of them (a longer chain, or a cycle, only possible through
/// rows written outside fastvue, is [`Error::Validation`] on `parent_id`).
pub(crate) async fn ancestors<C: ConnectionTrait>(db: &C, id: i64) -> Result<Vec<i64>> {
    let mut chain = Vec::new();
    let mut cursor = Some(id);
    let backend = db.get_database_backend();
    while let Some(current) = cursor {
        if chain.len() > MAX_COMPANY_DEPTH || chain.contains(&current) {
            return Err(too_deep());
        }
        chain.push(current);
        cursor = match db
            .query_one_raw(statement(
                backend,
                "SELECT parent_id FROM companies WHERE id = $1",
                vec![current.into()],
            ))
            .await?
        {
            Some(row) => row.try_get::<Option<i64>>("", "parent_id")?,
            None => None,
        };
    }
    Ok(chain)
}

/// The companies at or below `id` (whatever their state), level by level: `id` first,
/// one statement per level, at most [`MAX_COMPANY_DEPTH`] + 1 levels and
/// [`MAX_SUBTREE`] companies. Also returns how many levels lie below `id` (0 for a leaf).
pub(crate) async fn descendants<C: ConnectionTrait>(db: &C, id: i64) -> Result<(Vec<i64>, usize)> {
    let backend = db.get_database_backend();
    let mut all = vec![id];
    let mut seen: HashSet<i64> = HashSet::from([id]);
    let mut frontier = vec![id];
    let mut height = 0;
    while !frontier.is_empty() && height <= MAX_COMPANY_DEPTH {
        let mut next = Vec::new();
        for chunk in frontier.chunks(500) {
            let placeholders = placeholders(1, chunk.len());
            let sql = format!("SELECT id FROM companies WHERE parent_id IN ({placeholders})");
            let values = chunk.iter().map(|&c| c.into()).collect();
            for row in db.query_all_raw(statement(backend, &sql, values)).await? {
                let child: i64 = row.try_get("", "id")?;
                if seen.insert(child) {
                    next.push(child);
                }
            }
            if seen.len() > MAX_SUBTREE {
                return Err(Error::invalid(
                    "company_id",
                    format!("more than {MAX_SUBTREE} companies below this one"),
                ));
            }
        }
        if next.is_empty() {
            break;
        }
        height += 1;
        all.extend_from_slice(&next);
        frontier = next;
    }
    Ok((all, height))
}

/// The error for a hierarchy that would be (or is) too deep.
pub(crate) fn too_deep() -> Error {
    Error::invalid(
        "parent_id",
        format!("the company hierarchy may be at most {MAX_COMPANY_DEPTH} levels deep"),
    )
}
