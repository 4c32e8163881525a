//! [`Held`]: what an actor holds in one company; [`Scope`]: where it holds a permission.
use std::sync::Arc;

/// The permissions an actor holds in one company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Every permission: the system, or a superuser acting as itself.
    All,
    /// These codenames, sorted (empty: nothing).
    Some(Vec<Arc<str>>),
}

impl Held {
    /// Nothing at all.
    pub fn nothing() -> Self {
        Held::Some(Vec::new())
    }

    /// The set of `codenames` (sorted and deduplicated here).
    pub fn of(mut codenames: Vec<Arc<str>>) -> Self {
        codenames.sort_unstable();
        codenames.dedup();
        Held::Some(codenames)
    }

    /// Whether `codename` is held.
    pub fn contains(&self, codename: &str) -> bool {
        match self {
            Held::All => true,
            Held::Some(held) => held.binary_search_by(|h| (**h).cmp(codename)).is_ok(),
        }
    }

    /// Whether every permission is held.
    pub fn is_all(&self) -> bool {
        matches!(self, Held::All)
    }

    /// The codenames of `wanted` that are not held, sorted and deduplicated.
    pub fn missing<'a>(&self, wanted: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut out: Vec<String> = wanted
            .into_iter()
            .filter(|w| !self.contains(w))
            .map(str::to_owned)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Keeps only the codenames `keep` accepts (an API key's scopes).
    pub(crate) fn restricted_to(self, scopes: &[String]) -> Held {
        match self {
            Held::All => Held::of(scopes.iter().map(|s| Arc::from(s.as_str())).collect()),
            Held::Some(held) => Held::Some(
                held.into_iter()
                    .filter(|h| scopes.iter().any(|s| s.as_str() == h.as_ref()))
                    .collect(),
            ),
        }
    }
}

/// The companies where an actor holds a permission: what it may see and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every company (superusers and the system).
    All,
    /// Only these companies, ascending.
    Companies(Vec<i64>),
}

impl Scope {
    /// Whether `company_id` is inside the scope.
    pub fn contains(&self, company_id: i64) -> bool {
        match self {
            Scope::All => true,
            Scope::Companies(ids) => ids.binary_search(&company_id).is_ok(),
        }
    }

    /// The companies of a limited scope; `None` for [`Scope::All`].
    pub fn ids(&self) -> Option<&[i64]> {
        match self {
            Scope::All => None,
            Scope::Companies(ids) => Some(ids),
        }
    }

    /// The list filter of this scope: `None` (no filter) or the companies.
    pub fn into_filter(self) -> Option<Vec<i64>> {
        match self {
            Scope::All => None,
            Scope::Companies(ids) => Some(ids),
        }
    }

    /// A caller's own company filter (`None`: any company) narrowed to this scope.
    pub fn narrow(&self, wanted: Option<Vec<i64>>) -> Option<Vec<i64>> {
        match (self, wanted) {
            (Scope::All, wanted) => wanted,
            (Scope::Companies(ids), None) => Some(ids.clone()),
            (Scope::Companies(_), Some(wanted)) => {
                Some(wanted.into_iter().filter(|c| self.contains(*c)).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(names: &[&str]) -> Held {
        Held::of(names.iter().map(|n| Arc::from(*n)).collect())
    }

    #[test]
    fn a_set_contains_exactly_its_codenames_and_all_contains_everything() {
        let h = held(&["user.read", "role.read", "user.read"]);
        assert!(h.contains("user.read") && h.contains("role.read"));
        assert!(!h.contains("user.create") && !h.contains(""));
        assert!(Held::All.contains("anything.at_all"));
        assert!(!Held::nothing().contains("user.read"));
    }

    #[test]
    fn missing_lists_what_is_not_held_sorted_once() {
        let h = held(&["user.read"]);
        assert_eq!(
            h.missing(["z.a", "user.read", "a.b", "z.a"]),
            vec!["a.b".to_owned(), "z.a".to_owned()]
        );
        assert!(Held::All.missing(["x.y"]).is_empty());
    }

    #[test]
    fn restricting_to_scopes_keeps_only_scopes_that_are_held() {
        let scopes = vec!["user.read".to_owned(), "role.read".to_owned()];
        assert_eq!(
            held(&["user.read", "user.create"]).restricted_to(&scopes),
            held(&["user.read"])
        );
        assert_eq!(
            Held::All.restricted_to(&scopes),
            held(&["role.read", "user.read"])
        );
    }

    #[test]
    fn a_scope_contains_its_companies_and_all_contains_every_company() {
        let s = Scope::Companies(vec![2, 5, 9]);
        assert!(s.contains(5) && !s.contains(3));
        assert!(Scope::All.contains(42));
        assert_eq!(s.ids(), Some(&[2, 5, 9][..]));
        assert_eq!(Scope::All.into_filter(), None);
    }

    #[test]
    fn narrowing_a_filter_keeps_only_companies_inside_the_scope() {
        let s = Scope::Companies(vec![2, 5]);
        assert_eq!(s.narrow(None), Some(vec![2, 5]));
        assert_eq!(s.narrow(Some(vec![5, 7])), Some(vec![5]));
        assert_eq!(Scope::All.narrow(None), None);
        assert_eq!(Scope::All.narrow(Some(vec![7])), Some(vec![7]));
    }
}
