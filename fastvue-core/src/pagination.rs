//! Page requests and pages of results.
use serde::Serialize;

use crate::error::{Error, FieldError};

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;
/// The page size when the client names none.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

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
            errors.push(FieldError::new("page", "must be at least 1"));
        }
        let page_size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            errors.push(FieldError::new(
                "page_size",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
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
}
