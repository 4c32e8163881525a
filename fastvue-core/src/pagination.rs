//! Page requests and pages of results: by page number ([`PageRequest`], [`Page`]) or,
//! for tables that scroll, after a cursor ([`CursorRequest`], [`CursorPage`]).
//!
//! A cursor page is read with a keyset condition (`id > cursor` or `id < cursor` by the
//! list's order), so a deep page costs what the first one costs and rows inserted or
//! deleted meanwhile never shift it. It counts nothing: it says only whether more follow.
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, QuerySelect, Select};
use serde::Serialize;

use crate::error::{Error, FieldError};

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;
/// The page size when the client names none.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// `page_size` or its default; a size outside 1 to [`MAX_PAGE_SIZE`] adds an error.
fn checked_page_size(page_size: Option<u64>, errors: &mut Vec<FieldError>) -> u64 {
    let page_size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        errors.push(FieldError::new(
            "page_size",
            crate::error::Problem::range(1, MAX_PAGE_SIZE as i64),
        ));
    }
    page_size
}

/// A validated page request: `page` from 1, `page_size` from 1 to [`MAX_PAGE_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u64,
    page_size: u64,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl PageRequest {
    /// Parses the optional `page` and `page_size` a client sent.
    pub fn new(page: Option<u64>, page_size: Option<u64>) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let page = page.unwrap_or(1);
        if page == 0 {
            errors.push(FieldError::new(
                "page",
                crate::error::Problem::new("range", "must be at least 1").with("min", 1),
            ));
        }
        let page_size = checked_page_size(page_size, &mut errors);
        if errors.is_empty() {
            Ok(Self { page, page_size })
        } else {
            Err(Error::Validation(errors))
        }
    }

    /// The 1-based page number.
    pub fn page(&self) -> u64 {
        self.page
    }

    /// Items per page.
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// Rows to skip, capped at `i64::MAX` (the largest offset the database drivers
    /// bind): a page that far out is simply empty.
    pub fn offset(&self) -> u64 {
        (self.page - 1)
            .saturating_mul(self.page_size)
            .min(i64::MAX as u64)
    }
}

impl PageRequest {
    /// This page of `query`, rows in the order `order` gives them, with the exact total of
    /// rows matching (counted without the order): the one way a numbered list is read.
    pub(crate) async fn fetch<E, C>(
        self,
        db: &C,
        query: Select<E>,
        order: impl FnOnce(Select<E>) -> Select<E>,
    ) -> crate::error::Result<Page<E::Model>>
    where
        E: EntityTrait,
        E::Model: Send + Sync,
        C: ConnectionTrait,
    {
        let total = query.clone().count(db).await?;
        let items = order(query)
            .offset(self.offset())
            .limit(self.page_size())
            .all(db)
            .await?;
        Ok(Page::new(items, total, self))
    }
}

/// One page of a list: `{items, total, page, page_size, pages}`.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Rows matching the filters, over all pages.
    pub total: u64,
    /// This page's number, from 1.
    pub page: u64,
    /// Requested page size.
    pub page_size: u64,
    /// Number of pages.
    pub pages: u64,
}

impl<T> Page<T> {
    /// Assembles a page.
    pub fn new(items: Vec<T>, total: u64, request: PageRequest) -> Self {
        Self {
            items,
            total,
            page: request.page,
            page_size: request.page_size,
            pages: total.div_ceil(request.page_size),
        }
    }

    /// The same page with its items converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            page: self.page,
            page_size: self.page_size,
            pages: self.pages,
        }
    }
}

/// What a cursor says: the id of the last row of the previous page. Clients treat it as
/// opaque (they pass back `next_cursor`).
const CURSOR_RULE: &str = "must be empty or the next_cursor of a previous page";

/// A validated keyset page request: the rows after `cursor` (all rows for an empty one),
/// `page_size` from 1 to [`MAX_PAGE_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorRequest {
    after: Option<i64>,
    page_size: u64,
}

impl CursorRequest {
    /// Parses the `cursor` (empty: from the first row) and optional `page_size` a
    /// client sent; [`Error::Validation`] names the field that is wrong.
    pub fn new(cursor: &str, page_size: Option<u64>) -> Result<Self, Error> {
        let mut errors = Vec::new();
        // Digits only: `parse` alone would also take a leading `+`.
        let after = match cursor.parse::<i64>() {
            _ if cursor.is_empty() => None,
            Ok(id) if cursor.bytes().all(|b| b.is_ascii_digit()) => Some(id),
            _ => {
                errors.push(FieldError::new(
                    "cursor",
                    crate::error::Problem::format(CURSOR_RULE, "next_cursor"),
                ));
                None
            }
        };
        let page_size = checked_page_size(page_size, &mut errors);
        if errors.is_empty() {
            Ok(Self { after, page_size })
        } else {
            Err(Error::Validation(errors))
        }
    }

    /// The id the page starts after (exclusive), `None` for the first page.
    pub fn after(&self) -> Option<i64> {
        self.after
    }

    /// Items per page.
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// Rows to read: one more than the page, to learn whether another page follows.
    pub fn limit(&self) -> u64 {
        self.page_size + 1
    }
}

/// One keyset page: `{items, page_size, next_cursor}`.
#[derive(Debug, Clone, Serialize)]
pub struct CursorPage<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Requested page size.
    pub page_size: u64,
    /// The cursor of the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

impl<T> CursorPage<T> {
    /// Assembles a page from up to [`CursorRequest::limit`] rows read in the list's
    /// order: a row beyond the page size means another page follows, which starts after
    /// the page's last row (`id_of` gives a row's id).
    pub fn new(mut rows: Vec<T>, request: CursorRequest, id_of: impl Fn(&T) -> i64) -> Self {
        let size = usize::try_from(request.page_size).unwrap_or(usize::MAX);
        let more = rows.len() > size;
        rows.truncate(size);
        let next_cursor = more
            .then(|| rows.last().map(|r| id_of(r).to_string()))
            .flatten();
        Self {
            items: rows,
            page_size: request.page_size,
            next_cursor,
        }
    }

    /// The same page with its items converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> CursorPage<U> {
        CursorPage {
            items: self.items.into_iter().map(f).collect(),
            page_size: self.page_size,
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_request_rejects_zero_page_and_oversized_pages() {
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(None, Some(101)).is_err());
        assert!(PageRequest::new(None, Some(0)).is_err());
        let r = PageRequest::new(Some(3), Some(10)).unwrap();
        assert_eq!(r.offset(), 20);
    }

    #[test]
    fn offsets_of_absurd_pages_stay_within_what_the_drivers_bind() {
        let r = PageRequest::new(Some(u64::MAX), Some(MAX_PAGE_SIZE)).unwrap();
        assert_eq!(r.offset(), i64::MAX as u64);
        let r = PageRequest::new(Some(1 << 63), Some(1)).unwrap();
        assert_eq!(r.offset(), i64::MAX as u64);
    }

    #[test]
    fn pages_round_up() {
        let p = Page::new(vec![1], 41, PageRequest::new(Some(1), Some(20)).unwrap());
        assert_eq!(p.pages, 3);
        let empty: Page<u8> = Page::new(vec![], 0, PageRequest::default());
        assert_eq!(empty.pages, 0);
    }

    #[test]
    fn cursors_are_empty_or_the_id_a_page_ended_at() {
        assert_eq!(CursorRequest::new("", None).unwrap().after(), None);
        assert_eq!(CursorRequest::new("42", Some(5)).unwrap().after(), Some(42));
        for bad in [
            "-1",
            "abc",
            "1.5",
            " 1",
            "99999999999999999999",
            "9223372036854775808",
        ] {
            let Err(Error::Validation(errors)) = CursorRequest::new(bad, None) else {
                panic!("{bad:?} accepted");
            };
            assert_eq!(errors.len(), 1, "{bad:?}");
            assert_eq!(errors[0].field, "cursor");
        }
        assert!(CursorRequest::new("1", Some(0)).is_err());
        assert!(CursorRequest::new("1", Some(101)).is_err());
    }

    #[test]
    fn a_cursor_page_points_past_its_last_row_only_when_more_follow() {
        let r = CursorRequest::new("", Some(2)).unwrap();
        let p = CursorPage::new(vec![10, 11, 12], r, |v| *v);
        assert_eq!(p.items, vec![10, 11]);
        assert_eq!(p.next_cursor.as_deref(), Some("11"));
        let last = CursorPage::new(vec![12], r, |v| *v);
        assert_eq!(last.next_cursor, None);
        let exact = CursorPage::new(vec![1, 2], r, |v| *v);
        assert_eq!(exact.next_cursor, None);
    }
}
