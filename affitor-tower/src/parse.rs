//! Pure parsers over `&str` and `&[u8]`: header values, the `Cookie` header, JSON and form bodies.
