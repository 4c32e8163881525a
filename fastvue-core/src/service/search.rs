//! Case-insensitive substring search shared by the list endpoints.
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition};

/// A condition matching rows where any of `columns` contains `term`, ignoring case.
/// `%`, `_` and `\` in the term match themselves.
pub(crate) fn contains_any<C: ColumnTrait>(columns: &[C], term: &str) -> Condition {
    let escaped = term
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = format!("%{escaped}%");
    columns.iter().fold(Condition::any(), |cond, col| {
        let lowered: SimpleExpr = Func::lower(Expr::col(col.as_column_ref())).into();
        cond.add(lowered.like(LikeExpr::new(pattern.clone()).escape('\\')))
    })
}
