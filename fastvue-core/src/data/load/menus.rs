//! Menu entries of a document, through the menus service's own checks.
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::menu;
use crate::error::{Error, Result};
use crate::service::menus::{MAX_MENU_DEPTH, NewMenu, Upserted, upsert};

use super::super::MenuRecord;
use super::super::parse::Parsed;
use super::{CompanyIds, LoadReport, Outcome, Writer};

impl<C: ConnectionTrait> Writer<'_, C> {
    /// Creates or updates every listed entry. Parents first, in whatever order the
    /// document lists them: each pass loads the entries whose parent exists by then, and
    /// menus nest at most [`MAX_MENU_DEPTH`] levels, so that many passes load them all.
    pub(super) async fn menus(
        &mut self,
        d: &Parsed,
        companies: &CompanyIds,
        report: &mut LoadReport,
    ) -> Result<()> {
        let mut pending: Vec<(usize, &MenuRecord, Option<i64>)> = Vec::new();
        for (i, r) in d.menus.iter().enumerate() {
            let company_id = match &r.company {
                None => None,
                Some(code) => {
                    match self.company_id(format!("menus[{i}].company"), code, companies) {
                        Some(id) => Some(id),
                        None => continue,
                    }
                }
            };
            pending.push((i, r, company_id));
        }
        for _ in 0..MAX_MENU_DEPTH {
            if pending.is_empty() {
                break;
            }
            let mut later = Vec::new();
            for (i, r, company_id) in std::mem::take(&mut pending) {
                let parent_id = match &r.parent {
                    None => None,
                    Some(name) => match self.parent(company_id, name).await? {
                        Some(id) => Some(id),
                        None => {
                            later.push((i, r, company_id));
                            continue;
                        }
                    },
                };
                (self.step)(1);
                let input = NewMenu {
                    company_id,
                    parent_id,
                    name: r.name.clone(),
                    path: r.path.clone(),
                    title: r.title.clone(),
                    i18n_key: r.i18n_key.clone(),
                    icon: r.icon.clone(),
                    order: Some(r.order),
                    permissions: r.permissions.clone(),
                    permission_mode: Some(r.permission_mode),
                    is_active: Some(r.is_active),
                };
                let outcome = match upsert(self.txn, &input, self.now).await {
                    Ok(Upserted::Created) => Outcome::Created,
                    Ok(Upserted::Updated) => Outcome::Updated,
                    Ok(Upserted::Unchanged) => Outcome::Unchanged,
                    Err(Error::Validation(errors)) => {
                        for e in errors {
                            self.problems
                                .add(format!("menus[{i}].{}", e.field), e.message);
                        }
                        continue;
                    }
                    Err(Error::Conflict { message, .. }) => {
                        self.problems.add(format!("menus[{i}]"), message);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                report.menus.count(outcome);
            }
            pending = later;
        }
        for (i, r, _) in pending {
            self.problems.add(
                format!("menus[{i}].parent"),
                format!(
                    "no entry {:?} of the same company or global (or entries nest deeper than {MAX_MENU_DEPTH} levels)",
                    r.parent.as_deref().unwrap_or_default()
                ),
            );
        }
        Ok(())
    }

    /// The entry `name` of `company_id`, else the global one.
    async fn parent(&self, company_id: Option<i64>, name: &str) -> Result<Option<i64>> {
        let mut candidates = vec![None];
        if company_id.is_some() {
            candidates.insert(0, company_id);
        }
        for owner in candidates {
            let q = menu::Entity::find().filter(menu::Column::Name.eq(name));
            let q = match owner {
                Some(c) => q.filter(menu::Column::CompanyId.eq(c)),
                None => q.filter(menu::Column::CompanyId.is_null()),
            };
            if let Some(m) = q.one(self.txn).await? {
                return Ok(Some(m.id));
            }
        }
        Ok(None)
    }
}
