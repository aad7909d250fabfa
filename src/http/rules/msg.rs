//! [`Msg`]: a request or response head that rules may rewrite, held in one
//! reusable byte arena with spans, so a rewrite appends bytes and moves a
//! span instead of allocating. Loaded from the parsed head when a proxy has
//! rules (and only then), read by conditions through [`Msg`]'s accessors, and
//! written back out by `request::rewrite` or `response::write`.

/// A byte range in the arena.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span(u32, u32);

/// An editable message head: the start line's three parts and the headers.
#[derive(Debug, Default)]
pub struct Msg {
    buf: Vec<u8>,
    /// Request: method, target, version (`1.1`); response: version, status, reason.
    line: [Span; 3],
    headers: Vec<(Span, Span)>,
}

impl Msg {
    fn push(&mut self, b: &[u8]) -> Span {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(b);
        Span(start, self.buf.len() as u32)
    }

    fn get(&self, s: Span) -> &[u8] {
        &self.buf[s.0 as usize..s.1 as usize]
    }

    /// Empties the message, keeping its memory.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.headers.clear();
        self.line = [Span::default(); 3];
    }

    /// Loads a start line and headers.
    pub fn load<'n, 'v>(
        &mut self,
        line: [&[u8]; 3],
        headers: impl Iterator<Item = (&'n [u8], &'v [u8])>,
    ) {
        self.clear();
        for (i, part) in line.iter().enumerate() {
            self.line[i] = self.push(part);
        }
        for (n, v) in headers {
            let n = self.push(n);
            let v = self.push(v);
            self.headers.push((n, v));
        }
    }

    /// Start line part `i` (request: 0 method, 1 target, 2 version).
    pub fn line(&self, i: usize) -> &[u8] {
        self.get(self.line[i])
    }

    /// Replaces start line part `i`.
    pub fn set_line(&mut self, i: usize, v: &[u8]) {
        self.line[i] = self.push(v);
    }

    /// How many header lines there are.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// Header line `i` as (name, value).
    pub fn header(&self, i: usize) -> (&[u8], &[u8]) {
        let (n, v) = self.headers[i];
        (self.get(n), self.get(v))
    }

    /// Header line `i`'s name as text (names are tokens: ASCII).
    pub fn name_str(&self, i: usize) -> &str {
        std::str::from_utf8(self.header(i).0).unwrap_or("")
    }

    /// Appends a header line.
    pub fn add_header(&mut self, name: &[u8], value: &[u8]) {
        let n = self.push(name);
        let v = self.push(value);
        self.headers.push((n, v));
    }

    /// Replaces header `i`'s value.
    pub fn set_value(&mut self, i: usize, value: &[u8]) {
        let v = self.push(value);
        self.headers[i].1 = v;
    }

    /// Replaces header line `i`, name and value.
    pub fn set_header(&mut self, i: usize, name: &[u8], value: &[u8]) {
        let n = self.push(name);
        let v = self.push(value);
        self.headers[i] = (n, v);
    }

    /// Writes header line `i` as `Name: value` into `out`.
    pub fn header_line(&self, i: usize, out: &mut Vec<u8>) {
        let (n, v) = self.header(i);
        out.extend_from_slice(n);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
    }

    /// Removes the headers for which `drop(name, value)` is true.
    pub fn retain_headers(&mut self, mut drop: impl FnMut(&[u8], &[u8]) -> bool) {
        let buf = &self.buf;
        self.headers.retain(|&(n, v)| {
            !drop(
                &buf[n.0 as usize..n.1 as usize],
                &buf[v.0 as usize..v.1 as usize],
            )
        });
    }

    /// Removes every header named `name` (case-insensitive).
    pub fn del_header(&mut self, name: &[u8]) {
        self.retain_headers(|n, _| n.eq_ignore_ascii_case(name));
    }

    /// Indices of the headers named `name`.
    pub fn find<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = usize> + 's {
        (0..self.headers.len()).filter(move |&i| self.header(i).0.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_order_and_reuse_memory() {
        let mut m = Msg::default();
        let hs: [(&[u8], &[u8]); 3] = [(b"Host", b"a"), (b"X", b"1"), (b"x", b"2")];
        m.load([b"GET", b"/p", b"1.1"], hs.into_iter());
        assert_eq!(m.find(b"x").count(), 2);
        m.del_header(b"X");
        m.add_header(b"Y", b"3");
        m.set_value(0, b"b");
        m.set_line(1, b"/q");
        assert_eq!(m.line(1), b"/q");
        assert_eq!(m.header_count(), 2);
        assert_eq!(m.header(0), (&b"Host"[..], &b"b"[..]));
        assert_eq!(m.header(1), (&b"Y"[..], &b"3"[..]));
        let cap = m.buf.capacity();
        m.load([b"GET", b"/", b"1.1"], std::iter::empty());
        assert_eq!(m.buf.capacity(), cap);
        assert_eq!(m.header_count(), 0);
    }
}
