//! The one integration test binary: the real `dbalert` against local fakes and real databases.

mod cases;
mod support;
