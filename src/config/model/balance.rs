//! `balance` algorithms and `hash-type`.

/// The balancing algorithm of a backend (`balance ...`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balance {
    /// Weighted rotation, weights changeable at run time.
    #[default]
    RoundRobin,
    /// Weighted rotation with fixed weights.
    StaticRr,
    /// Fewest active connections.
    LeastConn,
    /// Hash of the client address.
    Source,
    /// Hash of the URI.
    Uri {
        /// `len N`: hash only the first N characters.
        len: Option<usize>,
        /// `depth N`: hash only the first N directories.
        depth: Option<usize>,
        /// `whole`: include the query string.
        whole: bool,
        /// `path-only`: hash the path alone, without scheme and authority.
        path_only: bool,
    },
    /// Hash of a query-string parameter.
    UrlParam(String),
    /// Hash of a request header (`use_domain_only`: the main domain name alone).
    Hdr {
        /// The header's name.
        name: String,
        /// `use_domain_only`.
        domain_only: bool,
    },
    /// Hash of the RDP cookie in the first TCP packet.
    RdpCookie(String),
    /// `first`: the first server, in declaration order, below its `maxconn`.
    First,
    /// `random[(<draws>)]`: the least loaded of `draws` servers drawn by weight.
    Random {
        /// Servers drawn per pick (at least 1; 2 by default).
        draws: u32,
    },
    /// `hash <expr>`: hash of a sample expression's value.
    Hash(HashSample),
}

/// The expression of `balance hash <expr>`, compiled at load.
#[derive(Debug, Clone)]
pub struct HashSample {
    /// The expression as written (what equality compares).
    pub text: String,
    /// The compiled fetch and converters.
    pub expr: crate::acl::Expr,
}

impl PartialEq for HashSample {
    fn eq(&self, o: &HashSample) -> bool {
        self.text == o.text
    }
}

impl Eq for HashSample {}

/// `hash-type`: how hash-based algorithms map keys to servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashType {
    /// Key modulo the total weight (HAProxy's default).
    #[default]
    MapBased,
    /// A hash ring: a server leaving remaps only its share.
    Consistent,
}

/// The function of `hash-type <method> <function>` (HAProxy's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFn {
    /// `sdbm` (HAProxy's default).
    #[default]
    Sdbm,
    /// `djb2`.
    Djb2,
    /// `wt6`.
    Wt6,
    /// `crc32`.
    Crc32,
    /// `none`: the key, read as a decimal integer, is the hash.
    None,
}

/// The hash of `hash-type`: its function and whether `avalanche` follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashFunction {
    /// The function applied to the key's bytes.
    pub func: HashFn,
    /// `avalanche`: HAProxy's `full_hash` applied to the result.
    pub avalanche: bool,
}
