//! The bodies of list answers: a numbered page ([`PageOf`]) or, for tables that scroll,
//! a keyset page ([`CursorOf`]); [`ListOf`] is whichever the client asked for.
use fastvue_core::pagination::{CursorPage, Page};
use serde::Serialize;
use utoipa::ToSchema;

/// One page of a list: `{items, total, page, page_size, pages}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageOf<T> {
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

impl<T> From<Page<T>> for PageOf<T> {
    fn from(p: Page<T>) -> Self {
        Self {
            items: p.items,
            total: p.total,
            page: p.page,
            page_size: p.page_size,
            pages: p.pages,
        }
    }
}

/// One keyset page: `{items, page_size, next_cursor}` (`?cursor=`).
#[derive(Debug, Serialize, ToSchema)]
pub struct CursorOf<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Requested page size.
    pub page_size: u64,
    /// Pass as `cursor` for the next page; null on the last page. Always present, so
    /// the two shapes of [`ListOf`] never both match.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl<T> From<CursorPage<T>> for CursorOf<T> {
    fn from(p: CursorPage<T>) -> Self {
        Self {
            items: p.items,
            page_size: p.page_size,
            next_cursor: p.next_cursor,
        }
    }
}

/// A list answer: a numbered page, or a keyset page when the request named a `cursor`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ListOf<T> {
    /// `?page=` (the default).
    Numbered(PageOf<T>),
    /// `?cursor=`.
    Scrolled(CursorOf<T>),
}
